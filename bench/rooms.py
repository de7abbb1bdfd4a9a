"""bench rooms: a room's fan-out. 100 followers poll one room on loopback (as assets/room.js does:
every POLL_MS, on kept-alive connections) while the presenter changes the view every 2 s for 60 s,
against `make serve` (gunicorn, 2 workers x 4 threads) on one machine and on REDIS_URL.

Reports the follower delay (from the presenter's publish to a follower's first answer holding
it) p50/p95/max, errors, and the server's CPU and peak memory. The reference, measured in the
same run against the same server: one follower alone (its delay is the poll's wait plus one
request). ROOM_FOLLOWERS and ROOM_SECONDS change the load.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.load import Usage
from dashboard.rooms import POLL_MS
from tests.serving import answers, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts"
FOLLOWERS = int(os.environ.get("ROOM_FOLLOWERS", "100"))
SECONDS = int(os.environ.get("ROOM_SECONDS", "60"))
REFERENCE_S = 20
CHANGE_S = 2.0


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
                conn: http.client.HTTPConnection | None = None) -> dict:
        conn = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json"} | ({"X-Room-Key": key} if key else {})
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:100]!r}")
        return json.loads(data)

    def present(self, until: float) -> int:
        """Change the view every CHANGE_S until ``until``; returns the last follower count seen."""
        conn, step, followers = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10), 0, 0
        while time.monotonic() < until:
            time.sleep(CHANGE_S)
            step += 1
            sent = time.monotonic()
            answer = self.request("POST", f"/room/{self.code}", {"url": f"/?step={step}"}, self.key, conn)
            with self.lock:
                self.published[answer["rev"]] = sent
            followers = answer["followers"]
        return followers

    def follow(self, until: float) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        rev, bucket = "", ""
        time.sleep(random.random() * POLL_MS / 1000)  # followers arrive at different moments
        while time.monotonic() < until:
            asked = time.monotonic()
            try:
                answer = self.request("GET", f"/room/{self.code}?rev={rev}&bucket={bucket}&follow=1", conn=conn)
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


def _run(port: int, followers: int, seconds: float) -> dict:
    room = Room(port)
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=room.follow, args=(until,), daemon=True) for _ in range(followers)]
    for thread in threads:
        thread.start()
    counted = room.present(until)
    for thread in threads:
        thread.join(timeout=30)
    delays = sorted(room.delays)
    pick = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000) if delays else (lambda q: float("nan"))
    return {"followers": followers, "changes": len(room.published) - 1, "seen": len(delays),
            "p50": pick(0.5), "p95": pick(0.95), "max": pick(1.0), "errors": room.errors, "counted": counted}


def _scenario(name: str, env: dict[str, str]) -> None:
    port = free_port()
    OUT.mkdir(exist_ok=True)
    with (OUT / f"rooms-{name}-gunicorn.log").open("w") as log:
        web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                                "--access-logfile", "/dev/null", "app:server"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: answers(f"http://127.0.0.1:{port}/healthz"), [web], 90):
            sys.exit(f"bench rooms: the server did not start; see artifacts/rooms-{name}-gunicorn.log")
        reference = _run(port, 1, REFERENCE_S)
        with Usage({"gunicorn": web.pid}) as usage:
            time.sleep(1.5)  # a first sample of the server's CPU time
            before = usage.cpu_by_role()
            loaded = _run(port, FOLLOWERS, SECONDS)
            time.sleep(1.5)
            after = usage.cpu_by_role()
    finally:
        web.terminate()
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            web.kill()
    cpu = sum(after.values()) - sum(before.values())
    print(f"\n== {name}: gunicorn 2 workers x 4 threads, {os.cpu_count()} cores, followers poll every {POLL_MS} ms")
    for label, r in (("reference: 1 follower", reference), (f"{FOLLOWERS} followers", loaded)):
        print(f"{label:>22}: {r['changes']} changes, {r['seen']} deliveries, delay p50 {r['p50']:.0f} ms, "
              f"p95 {r['p95']:.0f} ms, max {r['max']:.0f} ms, {len(r['errors'])} errors, presenter saw "
              f"{r['counted']} following")
    print(f"{'ratio p95':>22}: {loaded['p95'] / reference['p95']:.2f} x the lone follower's")
    print(f"{'server':>22}: {cpu / SECONDS * 100:.0f} % of one core over the run ({cpu:.1f} CPU s in {SECONDS} s), "
          f"{FOLLOWERS * 1000 / POLL_MS:.0f} polls/s offered; peak memory "
          + ", ".join(f"{role} {mib:.0f} MiB" for role, mib in sorted(usage.peak.items())))
    for error in loaded["errors"][:5]:
        print(f"  error: {error}")


def main(repeat: int | None = None) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-rooms-"))
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "CACHE_TYPE")}
    try:
        _scenario("one machine (make serve)", {**base, "BACKGROUND_CACHE_DIR": str(scratch / "jobs"),
                                               "SECRET_KEY_FILE": str(scratch / "key")})
        if shutil.which("redis-server") is None:
            print("\nredis-server not found: the REDIS_URL run is skipped")
            return
        redis_port = free_port()
        subprocess.run(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--pidfile", str(scratch / "redis.pid")], check=True)
        try:
            _scenario("REDIS_URL", {**base, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRET_KEY": "bench"})
        finally:
            os.kill(int((scratch / "redis.pid").read_text()), 15)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\ngoal: follower delay p95 under 1 s with {FOLLOWERS} followers, 0 errors")
