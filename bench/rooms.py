"""bench rooms: a room's fan-out. 100 followers poll one room on loopback (as assets/room.js does:
every POLL_MS, on kept-alive connections) while the presenter changes the view every 2 s for 60 s,
against `make serve` (gunicorn, 2 workers x 4 threads) on one machine and on REDIS_URL.

Reports the follower delay (from the presenter's publish to a follower's first answer holding
it) p50/p95/max, errors, and the server's CPU and peak memory. The reference, measured in the
same run against the same server after a second's warm-up: one follower alone (its delay is the
poll's wait plus one request). ROOM_FOLLOWERS and ROOM_SECONDS change the load.

A question to the room: the same followers on a lesson (the presenter steps through it every 2 s),
one question posed, each follower answering once at a random moment over 10 s; the delay from the
server taking an answer to the presenter's poll of the answers (every 400 ms, as assets/room.js)
that shows it, p50/p95/max, against the same reference.

In browsers (on the one-machine server, after its polls): a presenter's page and BROWSER_FOLLOWERS
followers' pages in Chromium; the presenter changes the playback step, the toy lab's tab and the
page (toy lab <-> Compare) in turns, and each follower's delay is from the presenter's action to
the follower's page showing it (the step's box, the tab selected, the page's map drawn). Ratio:
against the lone follower's poll delivery measured in the same run.

Smoke mode (``--smoke``): one machine only (one gunicorn worker), 2 followers for 3 s and the
lone follower for 3 s (after a second's warm-up, as in the full run), a change every second; in
browsers one follower and one step (a tab and a page, the same code with other figures drawn, only
in the full run); it requires 0 errors and the changes delivered.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.load import Usage
from bench.smoke import require, sane
from dashboard.rooms import POLL_MS
from tests.serving import SUB_PATH_VARIABLES, answers, free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts"


@dataclass(frozen=True)
class Sizes:
    """What one run puts on the server."""

    followers: int
    seconds: float
    reference_s: float  # the lone follower's run
    change_s: float  # the presenter changes the view this often
    ask_s: float  # a question's answers arrive over this many seconds
    workers: int  # gunicorn's (4 threads each, as `make serve`)


SIZES = {False: Sizes(followers=int(os.environ.get("ROOM_FOLLOWERS", "100")),
                      seconds=int(os.environ.get("ROOM_SECONDS", "60")), reference_s=20, change_s=2.0, workers=2,
                      ask_s=10),
         True: Sizes(followers=2, seconds=3, reference_s=3, change_s=1.0, workers=1, ask_s=1.5)}


class Room:
    """One room on the server: the presenter's changes (when each was published) and what followers saw."""

    def __init__(self, port: int) -> None:
        self.port = port
        made = self.request("POST", "/room", {"url": "/?step=0"})
        self.code, self.key = made["code"], made["key"]
        self.published: dict[int, float] = {1: time.monotonic()}
        self.delays: list[float] = []
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def request(self, method: str, path: str, body: dict | None = None, key: str | None = None,
                conn: http.client.HTTPConnection | None = None, cookie: str = "") -> dict:
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = ({"Content-Type": "application/json"} | ({"X-Room-Key": key} if key else {})
                   | ({"Cookie": cookie} if cookie else {}))
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:100]!r}")
        return json.loads(data)

    def present(self, until: float, every_s: float) -> int:
        """Change the view every ``every_s`` until ``until``; returns the last follower count seen."""
        conn, step, followers = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10), 0, 0
        while time.monotonic() < until:
            time.sleep(every_s)
            step += 1
            sent = time.monotonic()
            answer = self.request("POST", f"/room/{self.code}", {"url": f"/?step={step}"}, self.key, conn)
            with self.lock:
                self.published[answer["rev"]] = sent
            followers = answer["followers"]
        return followers

    def session(self) -> str:
        """A session the server issues (a browser's cookie): each follower is counted once by it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return (response.getheader("Set-Cookie") or "").split(";", 1)[0]

    def follow(self, until: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        rev, bucket, cookie = "", "", self.session()
        time.sleep(random.random() * POLL_MS / 1000)  # followers arrive at different moments
        while time.monotonic() < until:
            asked = time.monotonic()
            try:
                answer = self.request("GET", f"/room/{self.code}?rev={rev}&bucket={bucket}&follow=1", conn=conn,
                                      cookie=cookie)
            except Exception as err:
                with self.lock:
                    self.errors.append(f"{type(err).__name__}: {err}")
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                time.sleep(POLL_MS / 1000)
                continue
            now = time.monotonic()
            bucket = answer["bucket"]
            if "url" in answer:
                if rev != "":
                    with self.lock:
                        sent = self.published.get(answer["rev"])
                    if sent is not None:
                        self.delays.append(now - sent)
                rev = answer["rev"]
            time.sleep(max(0.0, POLL_MS / 1000 - (now - asked)))


ANSWERS_MS = 400  # the presenter's page fetches a question's answers this often (assets/room.js)
LESSON = "2-momentum"  # the followers of the question scenario follow this lesson's steps


def _ask(port: int, followers: int, seconds: float, every_s: float) -> dict:
    """A room on a lesson (the presenter steps through it every ``every_s``), one question, and each
    follower's answer at a random moment within ``seconds``; the delay from an answer taken by the
    server to the presenter's poll of the answers (every ANSWERS_MS) that shows it."""
    room = Room(port)
    room.request("POST", f"/room/{room.code}", {"url": f"/?data.x_offset=3&sgd.lr=0.05&lesson={LESSON}.2"}, room.key)
    asked = room.request("POST", f"/room/{room.code}/question", {"kind": "stable-lr"}, room.key)
    until = time.monotonic() + seconds
    answered: list[tuple[float, int]] = []  # (when the server took it, its place among the answers)
    polls: list[tuple[float, int]] = []  # (when the presenter's poll returned, answers it showed)

    def participant() -> None:
        cookie = room.session()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        rev, bucket, answer_at = "", "", time.monotonic() + random.random() * seconds * 0.8
        while time.monotonic() < until:
            try:
                seen = room.request("GET", f"/room/{room.code}?rev={rev}&bucket={bucket}&follow=1", conn=conn,
                                    cookie=cookie)
                rev, bucket = seen["rev"], seen["bucket"]
                if answer_at is not None and time.monotonic() >= answer_at and seen.get("question"):
                    value = f"{10 ** random.uniform(-2, -0.5):.4g}"
                    took = room.request("POST", f"/room/{room.code}/answer", {"question": asked["id"], "value": value},
                                        conn=conn, cookie=cookie)
                    with room.lock:
                        answered.append((time.monotonic(), took["answers"]))
                    answer_at = None
            except Exception as err:
                with room.lock:
                    room.errors.append(f"{type(err).__name__}: {err}")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            time.sleep(POLL_MS / 1000)

    def presenter() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        step, changed = 2, time.monotonic()
        while time.monotonic() < until + 2 * ANSWERS_MS / 1000:
            began = time.monotonic()
            if began - changed >= every_s:  # the next step of the lesson
                step, changed = step % 7 + 1, began
                room.request("POST", f"/room/{room.code}", {"url": f"/?step={step}&lesson={LESSON}.{step}"}, room.key, conn)
            shown = room.request("GET", f"/room/{room.code}/answers", key=room.key, conn=conn)
            polls.append((time.monotonic(), len(shown["answers"])))
            time.sleep(max(0.0, ANSWERS_MS / 1000 - (time.monotonic() - began)))

    threads = [threading.Thread(target=participant, daemon=True) for _ in range(followers)]
    for thread in threads:
        thread.start()
    presenter()
    for thread in threads:
        thread.join(timeout=30)
    delays = sorted(next((t - at for t, n in polls if t >= at and n >= place), float("inf")) for at, place in answered)
    pick = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000) if delays else (lambda q: float("nan"))
    return {"answers": len(answered), "shown": polls[-1][1] if polls else 0, "p50": pick(0.5), "p95": pick(0.95),
            "max": pick(1.0), "errors": room.errors}


def _run(port: int, followers: int, seconds: float, every_s: float) -> dict:
    room = Room(port)
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=room.follow, args=(until,), daemon=True) for _ in range(followers)]
    for thread in threads:
        thread.start()
    counted = room.present(until, every_s)
    for thread in threads:
        thread.join(timeout=30)
    delays = sorted(room.delays)
    pick = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000) if delays else (lambda q: float("nan"))
    return {"followers": followers, "changes": len(room.published) - 1, "seen": len(delays),
            "p50": pick(0.5), "p95": pick(0.95), "max": pick(1.0), "errors": room.errors, "counted": counted}


# (follower pages, changes of each kind, seconds the pages settle after one, the kinds) in browsers:
# full, smoke
BROWSERS = {False: (int(os.environ.get("BROWSER_FOLLOWERS", "3")), 8, 2.0, ("step", "tab", "page")),
            True: (1, 1, 0.2, ("step",))}
# What a follower's page shows once it follows a change (a JS predicate, its argument the change)
SHOWS = {
    "step": "(v) => { const b = document.querySelector('#step-slider input'); return !!b && b.value === String(v); }",
    "tab": "(v) => { const t = document.querySelector('#view-tabs .tab--selected'); "
           "return !!t && t.textContent.includes(v) && !!document.querySelector('.deck .main-svg'); }",
    "page": "(v) => window.location.pathname === v[0] && !!document.querySelector(v[1] + ' .main-svg')",
}


def _in_browsers(port: int, pages: int, changes: int, settle_s: float,
                 kinds: tuple[str, ...]) -> dict[str, list[float]]:
    """Each kind of change's delays (s) from the presenter's action to each follower's page showing it;
    the reference, the presenter's own page showing it; and the difference, what the room adds."""
    from playwright.sync_api import sync_playwright

    from bench.browser import ARGS, CHROMIUM

    url = f"http://127.0.0.1:{port}"
    delays: dict[str, list[float]] = {f"{kind}{part}": [] for kind in kinds
                                      for part in ("", ": presenter's own page", ": added by the room")}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            presenter = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
            presenter.goto(url + "/")
            presenter.wait_for_selector("#map-figure .main-svg", timeout=60000)
            presenter.click("#room-button")
            presenter.wait_for_selector(".room-link", timeout=30000)
            code = presenter.locator(".room-code").inner_text().strip()
            followers = []
            for _ in range(pages):
                page = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
                page.goto(f"{url}/r/{code}")
                page.wait_for_selector("#map-figure .main-svg", timeout=60000)
                followers.append(page)

            def followed(kind: str, act, value) -> None:
                began, waiting = time.monotonic(), [presenter, *followers]
                act()  # (from before the action: a click returns once the presenter's page took it)
                shown: dict = {}
                while waiting and time.monotonic() - began < 20:
                    for page in list(waiting):
                        if page.evaluate(SHOWS[kind], value):
                            shown[page] = time.monotonic() - began
                            waiting.remove(page)
                    time.sleep(0.01)
                own = shown.get(presenter, float("inf"))
                delays[f"{kind}: presenter's own page"].append(own)
                for page in followers:  # not followed within 20 s: inf
                    delays[kind].append(shown.get(page, float("inf")))
                    delays[f"{kind}: added by the room"].append(shown.get(page, float("inf")) - own)
                time.sleep(settle_s)  # the pages settle before the next change

            time.sleep(1.5 if settle_s >= 1 else 0.3)  # the pages' first draws settle
            thumb = presenter.locator("#step-slider [role=slider]")
            steps = presenter.locator("#step-slider input")
            for i in range(changes):
                followed("step", lambda i=i: thumb.press("Home" if i % 2 == 0 else "End"),
                         steps.get_attribute("min") if i % 2 == 0 else steps.get_attribute("max"))
            for i in range(changes if "tab" in kinds else 0):
                label = "All losses side by side" if i % 2 == 0 else "One loss"
                followed("tab", lambda label=label: presenter.click(f"text={label}"), label)
            for i in range(changes if "page" in kinds else 0):
                name, path, figure = ("Compare", "/compare", "#compare-map") if i % 2 == 0 else ("Toy lab", "/", "#map-figure")
                followed("page", lambda name=name: presenter.click(f".topbar nav >> text={name}"), [path, figure])
        finally:
            browser.close()
    return delays


def _scenario(name: str, env: dict[str, str], sizes: Sizes, browsers: tuple | None = None) -> dict:
    port = free_port()
    OUT.mkdir(exist_ok=True)
    with (OUT / f"rooms-{name}-gunicorn.log").open("w") as log:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                                "--bind", f"127.0.0.1:{port}", "--workers", str(sizes.workers), "--threads", "4",
                                "--access-logfile", "/dev/null", "app:server"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), [web], 90):
            sys.exit(f"bench rooms: the server did not start; see artifacts/rooms-{name}-gunicorn.log")
        _run(port, 1, 1.0, 0.5)  # a warm-up: the worker's first requests (its imports) are not a delivery's
        reference = _run(port, 1, sizes.reference_s, sizes.change_s)
        with Usage({"gunicorn": web.pid}) as usage:
            time.sleep(1.5)  # a first sample of the server's CPU time
            before = usage.cpu_by_role()
            loaded = _run(port, sizes.followers, sizes.seconds, sizes.change_s)
            time.sleep(1.5)
            after = usage.cpu_by_role()
        asking = _ask(port, sizes.followers, sizes.ask_s, sizes.change_s)
        seen = _in_browsers(port, *browsers) if browsers else None
    finally:
        stop(web)
    cpu = sum(after.values()) - sum(before.values())
    print(f"\n== {name}: gunicorn {sizes.workers} workers x 4 threads, {os.cpu_count()} cores, "
          f"followers poll every {POLL_MS} ms")
    for label, r in (("reference: 1 follower", reference), (f"{sizes.followers} followers", loaded)):
        print(f"{label:>22}: {r['changes']} changes, {r['seen']} deliveries, delay p50 {r['p50']:.0f} ms, "
              f"p95 {r['p95']:.0f} ms, max {r['max']:.0f} ms, {len(r['errors'])} errors, presenter saw "
              f"{r['counted']} following")
    print(f"{'ratio p95':>22}: {loaded['p95'] / reference['p95']:.2f} x the lone follower's")
    print(f"{'server':>22}: {cpu / sizes.seconds * 100:.0f} % of one core over the run ({cpu:.1f} CPU s in "
          f"{sizes.seconds} s), {sizes.followers * 1000 / POLL_MS:.0f} polls/s offered; peak memory "
          + ", ".join(f"{role} {mib:.0f} MiB" for role, mib in sorted(usage.peak.items())))
    for error in loaded["errors"][:5]:
        print(f"  error: {error}")
    print(f"{'a question':>22}: {sizes.followers} followers on a lesson, {asking['answers']} answers over "
          f"{sizes.ask_s:g} s; the presenter's answers (polled every {ANSWERS_MS} ms) showed each after p50 "
          f"{asking['p50']:.0f} ms, p95 {asking['p95']:.0f} ms, max {asking['max']:.0f} ms; {len(asking['errors'])} errors")
    print(f"{'ratio p95':>22}: {asking['p95'] / reference['p95']:.2f} x the lone follower's delivery")
    for error in asking["errors"][:5]:
        print(f"  error: {error}")
    require("every follower answered, and the presenter saw every answer",
            asking["answers"] == sizes.followers == asking["shown"] and not asking["errors"])
    for what in ("p50", "p95", "max"):
        sane(f"answers shown: {what} ms", asking[what])
    for label, r in (("lone follower", reference), ("followers", loaded)):
        for what in ("p50", "p95", "max"):
            sane(f"{label}: delay {what} ms", r[what])
        require(f"{label}: a change was delivered", r["seen"] > 0)
    sane("server CPU s", cpu)
    sane("ratio p95", loaded["p95"] / reference["p95"])
    if seen is not None:
        print(f"{'in browsers':>22}: a presenter's page and {browsers[0]} followers' "
              "pages (Chromium), from the presenter's action to each follower's page showing it")
        for kind, values in seen.items():
            ordered = sorted(values)
            p50, p95 = (ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 for q in (0.5, 0.95))
            print(f"{kind:>40}: {len(values)}, p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {ordered[-1] * 1000:.0f} ms")
            require(f"in browsers, every {kind} shown", all(abs(v) < float("inf") for v in values) and values)
            sane(f"in browsers, {kind} p95 ms", p95, low=-1e4)
        for kind in browsers[3]:
            ratio = statistics.median(seen[kind]) / statistics.median(seen[f"{kind}: presenter's own page"])
            print(f"{kind:>40}: a follower's p50 is {ratio:.2f} x the presenter's own page's")
            sane(f"in browsers, {kind} ratio", ratio)
    return loaded


def main(repeat: int | None = None, smoke: bool = False) -> None:
    sizes = SIZES[smoke]
    scratch = Path(tempfile.mkdtemp(prefix="bench-rooms-"))
    # every follower comes from loopback here but stands for a person of their own: the per-address
    # rate of new sessions is lifted, so each is issued one and counted once
    base = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "CACHE_TYPE", *SUB_PATH_VARIABLES)},
            "SESSIONS_PER_MINUTE": str(10 * sizes.followers + 100)}
    try:
        loaded = _scenario("one machine (make serve)", {**base, "BACKGROUND_CACHE_DIR": str(scratch / "jobs"),
                                                        "SECRET_KEY_FILE": str(scratch / "key")}, sizes, BROWSERS[smoke])
        if smoke:
            require(f"no follower's poll failed ({loaded['errors'][:3]})", not loaded["errors"])
            require("the followers saw the changes (a delivery a follower at least)",
                    loaded["seen"] >= loaded["followers"])
            require(f"the presenter saw each follower once ({loaded['counted']} following)",
                    loaded["counted"] == loaded["followers"])
            print("smoke mode: one machine only (no REDIS_URL run)")
            return
        if shutil.which("redis-server") is None:
            print("\nredis-server not found: the REDIS_URL run is skipped")
            return
        redis_port = free_port()
        subprocess.run(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--pidfile", str(scratch / "redis.pid")], check=True)
        try:
            _scenario("REDIS_URL", {**base, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRET_KEY": "bench"},
                      sizes)
        finally:
            os.kill(int((scratch / "redis.pid").read_text()), 15)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\ngoal: follower delay p95 under 1 s with {sizes.followers} followers, 0 errors; {sizes.followers} "
          "answers to a question on the presenter's screen within 1 s at p95; in browsers, a step, tab or page "
          "change on every follower's page within 1 s at p95")
