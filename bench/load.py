"""bench load: a workshop under load: 50 toy-lab users (locust) and 10 participants starting
background jobs, for 120 s, against `make serve` on one machine and against REDIS_URL with one
supervised Celery worker.

The toy-lab users move one control every 1 to 2 s (POST /_dash-update-component, bodies made
here, sent by locust from its own venv .venv-load). The job participants (threads here, each with
its own cookie jar) start a sweep or a landscape every 30 s and follow it as the browser does
(bench/jobs.py). Reports toy-lab p50/p95/p99 and errors, jobs finished / failed / hung, the longest
wait before a job's first progress, and each process's peak resident memory.
"""

from __future__ import annotations

import csv
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from bench.jobs import JobOutcome, Participant
from dashboard.callback_requests import render_body
from tests.serving import answers, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts"
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
USERS, SECONDS = int(os.environ.get("LOAD_USERS", "50")), int(os.environ.get("LOAD_SECONDS", "120"))
JOB_USERS, JOB_EVERY_S = 10, 30
# slider positions a workshop moves through: lr and momentum on their marks, epochs in steps
LRS = [round(0.01 * k, 2) for k in range(1, 31)]
MOMENTA = [round(0.1 * k, 1) for k in range(10)]
EPOCHS = [50, 100, 150, 200]
LOSSES = ["mse", "l1", "huber", "smoothl1"]


def _bodies(dependencies: list[dict], count: int = 300) -> list[dict]:
    """Random control moves: one control changed from the default view each time."""
    rng = random.Random(0)
    bodies = []
    for _ in range(count):
        what = rng.choice(["sgd.lr", "sgd.momentum", "run.epochs", "loss"])
        if what == "loss":
            body = render_body(dependencies, loss=rng.choice(LOSSES))
        else:
            value = {"sgd.lr": LRS, "sgd.momentum": MOMENTA, "run.epochs": EPOCHS}[what]
            body = render_body(dependencies, {what: rng.choice(value)}, changed=f"{what}.value")
        bodies.append({"name": f"move {what}", "body": body})
    return bodies


def _job(k: int, turn: int) -> tuple:
    """Participant k's job on its ``turn``: a sweep (an even k) or a landscape, with settings of its
    own each time (as a person changes them), so no job is a cache hit."""
    import app  # noqa: F401 - the page modules register on the app

    if k % 2 == 0:
        page = importlib.import_module("dashboard.pages.sweep")
        from dashboard.state import from_query

        state, _ = from_query({"sweep.x_points": "100", "sweep.y_points": "60", "run.epochs": str(100 + 10 * turn + k)})
        return ("sweep", "/sweep", "sweep-figure.figure",
                {"sweep-store.data": page._request(state), "sweep-run.n_clicks": 0}, "sweep-progress-text", "done;")
    page = importlib.import_module("dashboard.pages.landscape")
    state, _, _ = page.check({"net.epochs": str(5 + turn), "landscape.resolution": "21", "net.seed": str(k)})
    return ("landscape", "/landscape", "ls-main.figure", {"ls-store.data": page._request(state), "ls-run.n_clicks": 0},
            "ls-progress-text", "test accuracy")


class Usage:
    """Peak resident memory and CPU time of every process under the given roots, by role, sampled
    every second (CPU: each process's last reading, summed over the processes of a role)."""

    def __init__(self, roots: dict[str, int]) -> None:
        self.roots, self.peak = roots, defaultdict(float)
        self.cpu: dict[int, tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _role(proc, root_role: str) -> str:
        parent = proc.parent()  # a forkserver's children carry its command line: ask the parent first
        if parent is not None and "forkserver" in " ".join(parent.cmdline()):
            return "job process"
        line = " ".join(proc.cmdline())
        if "forkserver" in line:
            return "forkserver"
        if "resource_tracker" in line:
            return "resource tracker"
        return root_role

    def _run(self) -> None:
        import psutil

        while not self.stop.wait(1):
            for role, pid in self.roots.items():
                try:
                    root = psutil.Process(pid)
                    procs = [root, *root.children(recursive=True)]
                except psutil.Error:
                    continue
                for proc in procs:
                    try:
                        name = role if proc.pid == pid else self._role(proc, f"{role} child")
                        self.peak[name] = max(self.peak[name], proc.memory_info().rss / 2**20)
                        times = proc.cpu_times()
                        self.cpu[proc.pid] = (name, times.user + times.system)
                    except psutil.Error:
                        pass

    def cpu_by_role(self) -> dict[str, float]:
        total: dict[str, float] = defaultdict(float)
        for name, seconds in self.cpu.values():
            total[name] += seconds
        return dict(total)

    def __enter__(self) -> Usage:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.stop.set()
        self.thread.join()


def _participants(url: str, dependencies: list[dict], outcomes: list[JobOutcome], until: float) -> list:
    turns = SECONDS // JOB_EVERY_S + 1  # (made here: page modules register in the main thread)
    jobs = [[_job(k, turn) for turn in range(turns)] for k in range(JOB_USERS)]

    def run(k: int) -> None:
        participant = Participant(url, dependencies)
        time.sleep(k * JOB_EVERY_S / JOB_USERS)  # staggered starts
        for job in jobs[k]:
            if time.monotonic() >= until:
                break
            started = time.monotonic()
            try:
                outcomes.append(participant.run(*job))
            except Exception as err:
                outcomes.append(JobOutcome(job[0], "error", f"{type(err).__name__}: {err}", 0.0,
                                           time.monotonic() - started))
            time.sleep(max(0.0, JOB_EVERY_S - (time.monotonic() - started)))

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(JOB_USERS)]
    for thread in threads:
        thread.start()
    return threads


def _scenario(name: str, env: dict[str, str], worker: list[str] | None) -> dict:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = []
    procs = {}
    with (OUT / f"load-{name}-gunicorn.log").open("w") as log:
        procs["gunicorn"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--access-logfile", "/dev/null",
             "app:server"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if worker is not None:
        logs.append(log := (OUT / f"load-{name}-celery.log").open("w"))
        procs["celery worker"] = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: answers(url + "/healthz"), list(procs.values()), 90):
            sys.exit(f"bench load: the server did not start; see artifacts/load-{name}-*.log")
        time.sleep(8)  # the job forkservers (one machine) or the Celery worker finish starting
        with urllib.request.urlopen(url + "/_dash-dependencies", timeout=10) as response:
            dependencies = json.loads(response.read())
        bodies = OUT / "load-bodies.json"
        bodies.write_text(json.dumps(_bodies(dependencies)))
        outcomes: list[JobOutcome] = []
        with Usage({role: p.pid for role, p in procs.items()}) as usage:
            threads = _participants(url, dependencies, outcomes, time.monotonic() + SECONDS)
            subprocess.run([str(LOCUST), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                            "-u", str(USERS), "-r", "10", "-t", f"{SECONDS}s", "--host", url,
                            "--csv", str(OUT / f"load-{name}"), "--only-summary", "--loglevel", "WARNING"],
                           cwd=ROOT, env={**env, "LOAD_BODIES": str(bodies)}, check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for thread in threads:
                thread.join(timeout=360)  # jobs started before the end are followed to their end
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()
    with (OUT / f"load-{name}_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return {"toy": rows["Aggregated"], "jobs": outcomes, "memory": dict(usage.peak), "cpu": usage.cpu_by_role()}


def _report(name: str, result: dict) -> None:
    toy, jobs = result["toy"], result["jobs"]
    ended = defaultdict(int)
    for job in jobs:
        ended[job.ended] += 1
    print(f"\n== {name}: {USERS} toy-lab users + {JOB_USERS} job participants, {SECONDS} s, "
          f"gunicorn 2 workers x 4 threads, {os.cpu_count()} cores")
    print(f"toy lab: {toy['Request Count']} requests, {toy['Failure Count']} errors, "
          f"p50 {toy['50%']} ms, p95 {toy['95%']} ms, p99 {toy['99%']} ms, max {float(toy['Max Response Time']):.0f} ms")
    print(f"jobs: {len(jobs)} started: " + ", ".join(f"{n} {k}" for k, n in sorted(ended.items())))
    for kind in ("sweep", "landscape"):
        mine = [j for j in jobs if j.kind == kind and j.ended == "finished"]
        if mine:
            print(f"  {kind}: {len(mine)} finished, median {sorted(j.total_s for j in mine)[len(mine) // 2]:.1f} s, "
                  f"longest {max(j.total_s for j in mine):.1f} s")
    print(f"  longest wait before a job's first progress: {max((j.queued_s for j in jobs), default=0):.1f} s")
    for job in jobs:
        if job.ended != "finished":
            print(f"  {job.kind} {job.ended}: {job.text[:120]}")
    print("peak resident memory (MiB): " + ", ".join(f"{role} {mib:.0f}" for role, mib in sorted(result["memory"].items())))
    print("CPU seconds: " + ", ".join(f"{role} {sec:.0f}" for role, sec in sorted(result["cpu"].items())))


def main(repeat: int | None = None) -> None:
    if not LOCUST.exists():
        sys.exit("bench load: run `make bench-load` (it makes .venv-load with locust)")
    OUT.mkdir(exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "CACHE_TYPE")}
    try:
        one = {**base, "WEIGHTS_DIR": str(scratch / "w1"), "BACKGROUND_CACHE_DIR": str(scratch / "jobs"),
               "SECRET_KEY_FILE": str(scratch / "key")}
        _report("one machine (make serve)", _scenario("one-machine", one, None))
        if os.environ.get("LOAD_ONE_MACHINE_ONLY"):
            return
        redis_port = free_port()
        subprocess.run(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--pidfile", str(scratch / "redis.pid")], check=True)
        try:
            scaled = {**base, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRET_KEY": "bench",
                      "WEIGHTS_DIR": str(scratch / "w2"), "JOBS_MAX": "2"}
            worker = [sys.executable, "-m", "dashboard.worker", "--loglevel=WARNING", "--concurrency", "2"]
            _report("REDIS_URL, one Celery worker (concurrency 2)", _scenario("redis", scaled, worker))
        finally:
            pid = int((scratch / "redis.pid").read_text())
            os.kill(pid, 15)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("\ngoals: 0 errors, 0 hung jobs, toy-lab p95 under 300 ms while the jobs run")
