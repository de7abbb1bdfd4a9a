"""bench load: 50 workshop users moving toy-lab controls for 60 s against gunicorn (2 workers).

Starts ``gunicorn`` as ``make serve`` does (one machine: SimpleCache per worker, bounded by
CACHE_THRESHOLD entries), runs locust headless from its own venv (.venv-load), and reports
requests/s, p50/p95/p99 latency, errors, and each worker's resident memory after the run.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
import urllib.request
from pathlib import Path

from dashboard.callback_requests import render_body
from tests.serving import answers, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts"
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
USERS, SECONDS = 50, 60
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


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def main(repeat: int | None = None) -> None:
    if not LOCUST.exists():
        sys.exit("bench load: run `make bench-load` (it makes .venv-load with locust)")
    OUT.mkdir(exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "SECRET_KEY": "bench"}
    env.pop("REDIS_URL", None)
    with (OUT / "load-gunicorn.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                                   "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4",
                                   "--access-logfile", "/dev/null", "app:server"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: answers(url + "/healthz"), [server]):
            sys.exit("bench load: gunicorn did not start; see artifacts/load-gunicorn.log")
        with urllib.request.urlopen(url + "/_dash-dependencies", timeout=10) as response:
            dependencies = json.loads(response.read())
        bodies = OUT / "load-bodies.json"
        bodies.write_text(json.dumps(_bodies(dependencies)))
        workers = _children(server.pid)
        before = {pid: _rss_mib(pid) for pid in workers}
        subprocess.run([str(LOCUST), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                        "-u", str(USERS), "-r", "10", "-t", f"{SECONDS}s", "--host", url,
                        "--csv", str(OUT / "load"), "--only-summary", "--loglevel", "WARNING"],
                       cwd=ROOT, env={**env, "LOAD_BODIES": str(bodies)}, check=False)
        after = {pid: _rss_mib(pid) for pid in workers}
    finally:
        server.terminate()
        server.wait(timeout=30)
    with (OUT / "load_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    total = rows["Aggregated"]
    print(f"bench load: {USERS} users, one control move every 1-2 s each, {SECONDS} s, gunicorn 2 workers x 4 "
          f"threads, {os.cpu_count()} cores")
    print(f"requests {total['Request Count']}, failures {total['Failure Count']}, "
          f"{float(total['Requests/s']):.1f} requests/s")
    print(f"{'request':<22}{'count':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'max ms':>9}")
    for name, row in rows.items():
        print(f"{name:<22}{row['Request Count']:>7}{row['50%']:>8}{row['95%']:>8}{row['99%']:>8}"
              f"{float(row['Max Response Time']):>9.0f}")
    for pid in workers:
        print(f"worker {pid}: {before[pid]:.0f} MiB before, {after[pid]:.0f} MiB after")
    print("goal: zero errors, p95 under 300 ms")
