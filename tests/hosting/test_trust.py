"""A room of strangers, with the real parts: gunicorn with one worker of eight threads (as the
thread race needs), one trusted proxy (so a test speaks for many client addresses through
X-Forwarded-For), small caps, and job processes under a memory ceiling. Timings are bench load's;
these tests check what a participant gets."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from dashboard.callback_requests import render_body
from dashboard.ids import ID, LandscapeID
from tests.bombs import bombs, upload_body

from .conftest import Served, get_json, serving_one_machine, session_cookie

UPDATE = "/_dash-update-component"
# what a job may allocate beyond its process's start: OVER_CEILING needs about 270 MB (the largest
# sweep, whose best loss copies its losses), LONG_SWEEP about 170 and a small sweep about 10 (measured
# under `make test`'s malloc settings, which keep freed buffers: MALLOC_TRIM_THRESHOLD_). The final
# loss of the largest sweep (230 MB) once passed under the ceiling: a job counts from a later start.
MEMORY_MB = 200
TRUST_ENV = {"TRUSTED_PROXIES": "1", "JOBS_MAX": "1", "JOBS_QUEUE": "8", "JOBS_PER_ADDRESS": "3",
             "JOBS_MEMORY_MB": str(MEMORY_MB), "ROOMS_PER_ADDRESS": "2", "ROOM_MISSES_PER_MINUTE": "5",
             "JOBS_ABANDON_S": "20"}


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[Served]:
    with serving_one_machine(tmp_path_factory.mktemp("trust"), TRUST_ENV, 1, 8, "hosting-trust.log") as served:
        yield served


def _post(url: str, body: dict, cookie: str = "", address: str = "10.0.0.1", timeout: float = 60) -> tuple[int, dict]:
    request = urllib.request.Request(url + UPDATE, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Cookie": cookie,
                                              "X-Forwarded-For": address})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"{}")


def _banner(doc: dict) -> str:
    """The error banner a response sets, if any."""
    return str(doc.get("sideUpdate", {}).get(ID.ERROR, {}).get("children", ""))


def test_eight_sessions_back_to_back_see_no_error_banner(served):
    """Issue 20's race: eight people moving the toy lab at once through eight request threads of
    one process (each one-loss render takes the loss's Hessian). Every answer is a figure."""
    deps = get_json(served.url + "/_dash-dependencies")
    barrier = threading.Barrier(8)

    def person(i: int) -> list[str]:
        address = f"10.0.2.{i}"
        cookie = session_cookie(served.url, address)
        barrier.wait()
        problems = []
        for k in range(10):
            status, doc = _post(served.url, render_body(deps, {"sgd.lr": 0.01 + i / 100 + k / 10_000}), cookie, address)
            if status != 200 or _banner(doc) or ID.MAP not in doc.get("response", {}):
                problems.append(f"{status} {_banner(doc)!r}")
        return problems

    with ThreadPoolExecutor(8) as pool:
        problems = [p for found in pool.map(person, range(8)) for p in found]
    assert problems == []


def test_forged_cookies_count_as_their_address_and_gain_nothing(served):
    """A cookie the server did not sign is no session: the server issues a real one, and sixteen
    connections with fresh forged cookies each are one participant (their address), while a real
    participant's answers keep coming."""
    with urllib.request.urlopen(urllib.request.Request(served.url + "/", headers={
            "Cookie": "descent_session=forged-by-hand", "X-Forwarded-For": "10.6.6.1"}), timeout=10) as response:
        issued = response.headers.get("Set-Cookie", "")
    assert issued.startswith("descent_session=") and "forged-by-hand" not in issued
    deps = get_json(served.url + "/_dash-dependencies")
    stop = threading.Event()
    flood_statuses: list[int] = []

    def flooder(i: int) -> None:
        k = 0
        while not stop.is_set():
            k += 1
            body = render_body(deps, {"sgd.lr": 0.3 + i / 100 + k / 100_000, "run.epochs": 1000}, tab="all")
            try:
                flood_statuses.append(_post(served.url, body, f"descent_session={secrets.token_urlsafe(16)}",
                                            "10.6.6.6")[0])
            except urllib.error.URLError:
                flood_statuses.append(-1)

    threads = [threading.Thread(target=flooder, args=(i,), daemon=True) for i in range(16)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        cookie = session_cookie(served.url, "10.0.0.77")
        answers = [_post(served.url, render_body(deps, {"sgd.lr": 0.05 + k / 1000}), cookie, "10.0.0.77")
                   for k in range(8)]
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    assert [status for status, _ in answers] == [200] * 8
    assert all(ID.MAP in doc["response"] and not _banner(doc) for _, doc in answers)
    assert flood_statuses and set(flood_statuses) <= {200, 204}, set(flood_statuses)


def _open(browser, url: str, address: str):
    """A page of a browser of its own (its own session) at client ``address``."""
    context = browser.new_context(extra_http_headers={"X-Forwarded-For": address})
    page = context.new_page()
    page.goto(url)
    return page


def _progress(page, selector: str = "#sweep-progress-text") -> str:
    return page.locator(selector).inner_text()


def _until(pages: list, done, seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    while not done(texts := [_progress(p) for p in pages]):
        assert time.monotonic() < deadline, f"not reached: {texts}"
        time.sleep(0.3)
    return texts


OVER_CEILING = "/sweep?sweep.x_points=300&sweep.y_points=300&run.epochs=110&sweep.measure=best_loss"
LONG_SWEEP = "/sweep?sweep.x_points=50&sweep.y_points=50&run.epochs=2000&data.n=1000"  # 13 s, under MEMORY_MB


@pytest.mark.browser
def test_one_address_cannot_fill_the_job_queue(served, browser):
    """Four browsers of one address start long sweeps: three get in line, the fourth is told its
    network has its share; a browser from another address still gets in line."""
    flood = [_open(browser, served.url + LONG_SWEEP + f"&data.seed={i}", "10.6.6.7") for i in range(4)]
    texts = _until(flood, lambda t: sum("your network already has 3 jobs" in x for x in t) == 1
                   and sum("step" in x or "Waiting" in x for x in t) == 3, 60)
    other = _open(browser, served.url + LONG_SWEEP + "&data.seed=99", "10.0.0.8")
    _until([other], lambda t: "Waiting" in t[0] or "step" in t[0], 30)
    for page in [*flood, other]:
        if page.locator("#sweep-cancel").is_enabled():
            page.click("#sweep-cancel")
        page.context.close()
    deadline = time.monotonic() + 60
    while (jobs := served.jobs())["running"] or jobs["queued"]:
        assert time.monotonic() < deadline, f"cancelled jobs left behind: {jobs}, {texts}"
        time.sleep(0.5)


@pytest.mark.browser
def test_a_job_over_its_memory_ceiling_stops_and_the_server_lives_on(served, browser):
    page = _open(browser, served.url + OVER_CEILING, "10.0.0.5")
    [text] = _until([page], lambda t: "Stopped" in t[0] or "done" in t[0], 120)
    assert f"needed more than {MEMORY_MB:,} MB" in text, text
    page.goto(served.url + "/sweep?sweep.x_points=20&sweep.y_points=20&run.epochs=30")
    _until([page], lambda t: "400 runs × 30 steps done" in t[0], 60)
    page.context.close()


def _worker(served: Served) -> psutil.Process:
    return psutil.Process(served.proc.pid).children()[0]  # the one gunicorn worker (its forkserver below)


@pytest.mark.parametrize("kind", ["deflate", "bzip2", "lzma", "random"])
def test_bombs_through_the_page_upload_cost_nothing(served, kind):
    """Through the page's upload, as a browser sends it: every bomb (a member of 64 MiB of zeros),
    and random bytes, is one sentence in the status line, and the worker does not grow."""
    deps = get_json(served.url + "/_dash-dependencies")
    content = secrets.token_bytes(6000) if kind == "random" else bombs(64)[kind]
    before = _worker(served).memory_info().rss
    status, doc = _post(served.url, upload_body(deps, f"{kind}.npz", content), session_cookie(served.url, "10.0.0.6"),
                        "10.0.0.6")
    grown = (_worker(served).memory_info().rss - before) >> 20
    said = doc.get("response", {}).get(LandscapeID.PROGRESS_TEXT, {}).get("children", "")
    assert status == 200 and said.startswith(f"{kind}.npz: not a landscape file: ") and not _banner(doc), doc
    assert "pickle" not in said and "Error" not in said and "Traceback" not in said and "\n" not in said
    assert grown < 50, f"the worker grew by {grown} MiB reading {len(content):,} bytes"


def _room(served: Served, cookie: str, address: str) -> urllib.request.Request:
    return urllib.request.Request(served.url + "/room", data=json.dumps({"url": "/"}).encode(), method="POST",
                                  headers={"Content-Type": "application/json", "Cookie": cookie,
                                           "X-Forwarded-For": address})


def _status(request: urllib.request.Request | str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_rooms_cannot_be_flooded_counted_twice_or_guessed(served):
    made = [_status(_room(served, session_cookie(served.url, "10.6.6.8"), "10.6.6.8")) for _ in range(4)]
    assert [status for status, _ in made] == [200, 200, 429, 429]
    assert "at most 2" in made[2][1]["error"]
    code, key = made[0][1]["code"], made[0][1]["key"]
    # one client polling with whatever bucket it likes is one follower
    follower = session_cookie(served.url, "10.0.0.3")
    for bucket in range(30):
        _status(urllib.request.Request(f"{served.url}/room/{code}?bucket={bucket}&follow=1",
                                       headers={"Cookie": follower, "X-Forwarded-For": "10.0.0.3"}))
    publish = urllib.request.Request(f"{served.url}/room/{code}", data=json.dumps({"url": "/"}).encode(),
                                     method="POST", headers={"Content-Type": "application/json", "X-Room-Key": key,
                                                             "X-Forwarded-For": "10.6.6.8"})
    assert _status(publish)[1]["followers"] == 1
    guesses = [_status(urllib.request.Request(f"{served.url}/room/{c * 6}", headers={"X-Forwarded-For": "10.6.6.9"}))
               for c in "ABCDEFGH"]
    assert [status for status, _ in guesses] == [404] * 5 + [429] * 3
    assert "Too many requests from your network" in guesses[-1][1]["error"]


def test_headers_and_secure_cookies_behind_https(served):
    request = urllib.request.Request(served.url + "/", headers={"X-Forwarded-Proto": "https",
                                                                "X-Forwarded-For": "10.0.0.4"})
    with urllib.request.urlopen(request, timeout=10) as response:
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'self'" in policy and "'unsafe-eval'" not in policy
    assert "script-src 'self' 'sha256-" in policy and "object-src 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"
    cookie = headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    with urllib.request.urlopen(urllib.request.Request(served.url + "/", headers={
            "X-Forwarded-For": "10.0.0.4"}), timeout=10) as plain:
        assert "Secure" not in plain.headers["Set-Cookie"], "auto: Secure only over HTTPS"
