"""Background jobs under `make serve` on one machine, with faults injected by process id.

gunicorn runs two gthread workers (no REDIS_URL, no SECRET_KEY); jobs are forkserver children.
Each test ends with every job finished, stopped or reported: no page polls forever.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from dashboard.callback_requests import render_body
from dashboard.jobs import LOST

from .conftest import ONE_MACHINE_ENV, get_json, job_processes, session_cookie

pytestmark = pytest.mark.browser
SWEEP_TEXT = "#sweep-progress-text"
LANDSCAPE_TEXT = "#ls-progress-text"
FINISHED = ("done;", "test accuracy")


def _texts(pages: list) -> list[str]:
    return [page.locator(selector).inner_text() for page, selector in pages]


def _wait_until(pages: list, done, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while not done(texts := _texts(pages)):
        assert time.monotonic() < deadline, f"jobs did not end: {texts}"
        time.sleep(0.5)
    return texts


def _open(browser, url: str, selector: str) -> tuple:
    page = browser.new_context().new_page()  # a context of its own: a browser session of its own
    page.goto(url)
    _start(page, url)
    return page, selector


def _start(page, url: str) -> None:
    """A landscape link trains nothing by itself: press Train & draw (a sweep starts on opening)."""
    if "/landscape" in url:
        page.click("#ls-run")


def _idle(served, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while (jobs := served.jobs())["running"] or jobs["queued"] or job_processes(served.proc):
        assert time.monotonic() < deadline, f"jobs left behind: {jobs}, {job_processes(served.proc)}"
        time.sleep(0.5)


def _post_as(url: str, body: dict, cookie: str, address: str = "127.0.0.1") -> int:
    """POST a callback as the browser with session ``cookie`` at ``address``; its status (a 200's body
    is a figure update, never an error banner)."""
    request = urllib.request.Request(url + "/_dash-update-component", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json", "Cookie": cookie,
                                                             "X-Forwarded-For": address})
    with urllib.request.urlopen(request, timeout=120) as response:
        if response.status == 200:
            doc = json.loads(response.read())
            assert "response" in doc and "went wrong" not in json.dumps(doc.get("sideUpdate", {}))
        return response.status


@contextlib.contextmanager
def _sampled(served) -> Iterator[list[int]]:
    """The most jobs the book ran at once, and the most job processes alive at once, sampled every
    0.1 s from a thread while the block runs: from before the first page opens (a fast machine can
    finish every job before the pages are all open; CI once did)."""
    most = [0, 0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:  # a /healthz slow under load, or a process gone while listed: the next sample counts
                most[0] = max(most[0], served.jobs()["running"])
                most[1] = max(most[1], len(job_processes(served.proc)))
            except (OSError, psutil.Error):
                pass
            stop.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield most
    finally:
        stop.set()
        thread.join(timeout=10)


def _within_the_cap(most: list[int]) -> None:
    """The book never runs more than JOBS_MAX jobs. A process that handed its slot over may still be
    exiting as the next one starts: at most one more process than the cap, for a moment."""
    cap = int(ONE_MACHINE_ENV["JOBS_MAX"])
    assert 1 <= most[0] <= cap and 1 <= most[1] <= cap + 1, most


def test_jobs_after_toy_lab_traffic_all_finish(one_machine, browser):
    """The libgomp deadlock: torch work in the request threads first, then jobs. A job forked
    from such a thread waited forever in libgomp's barrier; every one must finish now."""
    deps = get_json(one_machine.url + "/_dash-dependencies")

    def render(i: int) -> int:  # forty participants, one change each
        address = f"10.0.1.{i}"
        return _post_as(one_machine.url, render_body(deps, {"sgd.lr": 0.01 + i / 1000, "run.epochs": 300}),
                        session_cookie(one_machine.url, address), address)

    with ThreadPoolExecutor(8) as pool:  # in both workers' threads: torch and OpenMP have run there
        assert set(pool.map(render, range(40))) == {200}
    pages = []
    with _sampled(one_machine) as most:
        for i in range(2):
            pages.append(_open(browser, one_machine.url + f"/sweep?sweep.x_points=60&sweep.y_points=40"
                                                          f"&run.epochs={100 + i}", SWEEP_TEXT))
            pages.append(_open(browser, one_machine.url + f"/landscape?net.epochs={3 + i}&landscape.resolution=7",
                               LANDSCAPE_TEXT))
        _wait_until(pages, lambda texts: all(any(word in text for word in FINISHED) for text in texts), 240)
    # 4 jobs over 2 slots and a queue of 2: the rest waited (whether a page shows "Waiting" depends on how fast the
    # first jobs end; the message itself is tested in tests/dashboard/test_jobs.py)
    _within_the_cap(most)
    for page, _ in pages:
        page.context.close()
    _idle(one_machine)


LONG_JOB = "/landscape?model=cnn&net.epochs=150&net.batch_size=16"


def long_job_started(served, browser) -> tuple:
    """A landscape page whose job trains for minutes, once its progress shows."""
    page = _open(browser, served.url + LONG_JOB, LANDSCAPE_TEXT)
    _wait_until([page], lambda texts: "training CNN" in texts[0], 90)
    return page


def reported(page: tuple, expected: str) -> None:
    """The page says ``expected`` and offers Run again. (How soon: the deadlines are tested with a
    clock in tests/dashboard/test_jobs.py; here only that it comes, well within a minute.)"""
    _wait_until([page], lambda texts: expected in texts[0], 60)
    assert page[0].locator("#ls-run").is_enabled()


def test_a_killed_job_is_reported_lost(one_machine, browser):
    page = long_job_started(one_machine, browser)
    [job] = job_processes(one_machine.proc)
    assert job.nice() == 10, "a job runs below the web workers (JOBS_NICE)"
    listening = [c for c in job.net_connections(kind="tcp") if c.status == "LISTEN"]
    assert listening == [], "a job must not hold gunicorn's socket (a hung one kept the port busy)"
    job.kill()
    reported(page, LOST)
    page[0].context.close()
    _idle(one_machine)


def test_a_closed_tab_stops_its_job(one_machine, browser):
    page = long_job_started(one_machine, browser)
    [job] = job_processes(one_machine.proc)
    page[0].context.close()
    abandon = float(ONE_MACHINE_ENV["JOBS_ABANDON_S"])
    job.wait(timeout=abandon + 15)  # raises if the job runs on
    _idle(one_machine)


def test_a_flood_of_jobs_keeps_the_cap_and_the_queue_drains(one_machine, browser):
    """Six people start a landscape at once: two run and two wait (the queue's size), so at least
    four finish; whoever finds the queue full is told the server is busy (how many depends on how
    fast the first jobs end: the message itself is tested in tests/dashboard/test_jobs.py); the
    number of job processes never exceeds the cap; every page ends."""
    pages = []
    with _sampled(one_machine) as most:
        for i in range(6):  # all opened at once: each job takes seconds, so the queue fills
            page = browser.new_context().new_page()
            url = one_machine.url + f"/landscape?net.epochs={6 + i}&landscape.resolution=11"
            page.goto(url, wait_until="commit")
            pages.append((page, LANDSCAPE_TEXT))
        for page, _ in pages:
            _start(page, url)
        texts = _wait_until(pages, lambda texts: all("test accuracy" in text or "server is busy" in text
                                                     for text in texts), 300)
    finished = sum("test accuracy" in text for text in texts)
    assert finished >= int(ONE_MACHINE_ENV["JOBS_MAX"]) + int(ONE_MACHINE_ENV["JOBS_QUEUE"]), texts
    _within_the_cap(most)
    for page, _ in pages:
        page.context.close()
    _idle(one_machine)


def test_one_session_holds_at_most_its_share(one_machine, browser):
    context = browser.new_context()  # one browser: its tabs share the session cookie
    pages = []
    for i in range(3):
        page = context.new_page()
        url = one_machine.url + f"/landscape?model=cnn&net.epochs={140 + i}&net.batch_size=16"
        page.goto(url)
        _start(page, url)
        pages.append((page, LANDSCAPE_TEXT))
        time.sleep(1)
    _wait_until(pages, lambda t: "you already have 2 jobs" in t[2] and "training" in t[0]
                and ("training" in t[1] or "Waiting" in t[1]), 60)
    for page, _ in pages[:2]:  # cancelled, not left to stop when abandoned (the closed tab's test)
        page.click("#ls-cancel")
    _wait_until(pages[:2], lambda t: all("Cancelled." in text for text in t), 30)
    context.close()
    _idle(one_machine, 60)


def test_one_session_flooding_heavy_requests_leaves_threads_for_the_rest(one_machine):
    """Twelve concurrent 2×2 renders of 5,000 steps from one browser session: it computes one at a
    time and its stale waiting requests give up at once (204), so a second session still gets every
    answer (their times are in bench load, not here)."""
    deps = get_json(one_machine.url + "/_dash-dependencies")
    heavy = [render_body(deps, {"sgd.lr": 0.001 + i / 10_000, "run.epochs": 1000, "run.batch_size": 10},
                         tab="all") for i in range(12)]
    flooder, other = session_cookie(one_machine.url, "10.6.6.6"), session_cookie(one_machine.url, "10.0.0.9")
    with ThreadPoolExecutor(12) as flood:
        flooding = [flood.submit(_post_as, one_machine.url, body, flooder, "10.6.6.6") for body in heavy]
        time.sleep(1)
        others = [_post_as(one_machine.url, render_body(deps, {"sgd.lr": 0.02 + i / 1000}), other, "10.0.0.9")
                  for i in range(6)]
        statuses = [f.result() for f in flooding]
    assert others == [200] * 6
    assert set(statuses) <= {200, 204}
    assert statuses.count(204) >= 3, f"stale requests of the flooding session gave up: {statuses}"
