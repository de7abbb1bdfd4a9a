"""bench load: a workshop under load and under attack: 50 toy-lab users (locust), 10 participants
starting background jobs and a room with its presenter and followers, for 120 s, while strangers
flood the server, against `make serve` on one machine and against REDIS_URL with one supervised
Celery worker.

The toy-lab users move one control every 1 to 2 s (POST /_dash-update-component, bodies made
here, sent by locust from its own venv .venv-load). The job participants (threads here, each with
its own cookie jar) start a sweep or a landscape every 30 s and follow it as the browser does
(bench/jobs.py). In the same minutes the abusers of bench/abuse.py run: 16 forged-cookie flooders
from one address posting the heaviest toy-lab render back to back, a bomb uploader posting zip bombs
and random bytes to the landscape page's upload, and a room flooder starting rooms, guessing codes
and polling the real room to inflate its follower count. gunicorn trusts one proxy
(TRUSTED_PROXIES=1) and every client, real or not, names its address in X-Forwarded-For, so the
per-address limits act as they would on the internet; real users keep the cookies the server sets.

Reports the real users' toy-lab p50/p95/p99 and failures (an error banner in a 200 counts, "Too
many changes from your network" included), jobs finished / refused / lost, the follower count the
real room shows, what the abusers got (status counts), and each process's peak resident memory
(VmHWM, read every 0.5 s over the process trees: gunicorn, forkservers and job processes, Celery,
redis-server), then PASS/FAIL for the goals: 0 error banners for real users, 0 jobs lost, toy-lab
p95 under 300 ms, no process above 2 GiB.

Smoke mode (``--smoke``): one machine only (one gunicorn worker), 2 toy-lab users for 3 s and 2
participants with one tiny job each (a 5 × 5 sweep, a 3 × 3 landscape), the users driven by plain
threads through the same scenario (bench/workshop.py) instead of locust, so it needs neither
.venv-load nor Redis; beside them 2 flooders, one round of bombs, the room flooder and a room with
one follower. It requires 0 failed requests of real users, every job finished, every bomb refused
with a sentence, and the room's true follower count.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import http.cookiejar
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
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench import abuse
from bench.jobs import JobOutcome, Participant
from bench.smoke import require, sane
from bench.workshop import ToyLabUser, address
from dashboard.callback_requests import render_body
from dashboard.ids import ID
from tests.serving import SUB_PATH_VARIABLES, answers, free_port, stop, wait_for

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "artifacts"
LOCUST = ROOT / ".venv-load" / "bin" / "locust"
# slider positions a workshop moves through: lr and momentum on their marks, epochs in steps
LRS = [round(0.01 * k, 2) for k in range(1, 31)]
MOMENTA = [round(0.1 * k, 1) for k in range(10)]
EPOCHS = [50, 100, 150, 200]
LOSSES = ["mse", "l1", "huber", "smoothl1"]
# the goals
P95_MS = 300
PROCESS_MIB = 2048
FULL_RUN_ONLY = (f"real users' toy-lab p95 under {P95_MS} ms", f"no process above {PROCESS_MIB // 1024} GiB")


@dataclass(frozen=True)
class Sizes:
    """What one run puts on the server."""

    users: int  # toy-lab users
    workers: int  # gunicorn's (4 threads each, as `make serve`)
    seconds: int
    job_users: int  # participants starting jobs (an even one: sweeps, an odd one: landscapes)
    job_every_s: float
    sweep: tuple[int, int]  # a sweep job's points along x and y
    landscape: tuple[int, int]  # a landscape job's points an axis and epochs (plus one a turn)
    job_deadline_s: float  # a job not finished by then is hung
    settle_s: float  # after the server answers: its job forkservers finish starting
    moves: int  # prepared control moves
    locust: bool  # the toy-lab users are locust's (else plain threads, bench/workshop.py either way)
    redis: bool  # also the REDIS_URL deployment
    abuse: abuse.AbuseSizes  # the abusers, and the real room they aim at


SIZES = {
    False: Sizes(users=int(os.environ.get("LOAD_USERS", "50")), workers=2, seconds=int(os.environ.get("LOAD_SECONDS", "120")),
                 job_users=10, job_every_s=30, sweep=(100, 60), landscape=(21, 5), job_deadline_s=300, settle_s=8,
                 moves=300, locust=True, redis=not os.environ.get("LOAD_ONE_MACHINE_ONLY"),
                 abuse=abuse.AbuseSizes(flooders=16, flood_epochs=1000, bomb_mib=512, followers=5, publish_s=2.0)),
    True: Sizes(users=2, workers=1, seconds=3, job_users=2, job_every_s=3, sweep=(5, 5), landscape=(3, 1),
                job_deadline_s=60, settle_s=0, moves=20, locust=False, redis=False,
                abuse=abuse.AbuseSizes(flooders=2, flood_epochs=1000, bomb_mib=256, followers=1, publish_s=1.0)),
}


def _bodies(dependencies: list[dict], count: int) -> list[dict]:
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


def _job(k: int, turn: int, sizes: Sizes) -> tuple:
    """Participant k's job on its ``turn``: a sweep (an even k) or a landscape, with settings of its
    own each time (as a person changes them), so no job is a cache hit. Checked by the page's own
    checks: a setting the page no longer takes stops the bench here, not as a job failing later."""
    import app  # noqa: F401 - the page modules register on the app
    from dashboard.state import SWEEP, from_query

    if k % 2 == 0:
        page = importlib.import_module("dashboard.pages.sweep")
        (x, y), epochs = sizes.sweep, 100 + 10 * turn + k
        state, notes = from_query({"sweep.x_points": str(x), "sweep.y_points": str(y), "run.epochs": str(epochs)},
                                  SWEEP)
        require(f"the sweep page takes the bench's sweep ({'; '.join(notes)})", not notes)
        return ("sweep", "/sweep", "sweep-figure.figure",
                {"sweep-store.data": page._request(state), "sweep-run.n_clicks": 0}, "sweep-progress-text", "done;")
    page = importlib.import_module("dashboard.pages.landscape")
    resolution, epochs = sizes.landscape
    checked = page.check({"net.epochs": str(epochs + turn), "landscape.resolution": str(resolution),
                          "net.seed": str(k)})
    require(f"the landscape page takes the bench's landscape ({checked.errors})", checked.ok)
    return ("landscape", "/landscape", "ls-main.figure",
            {"ls-run-request.data": {**page._request(checked.state), "click": 1}}, "ls-progress-text", "test accuracy")


# what a process under a root is called, by its depth below it (deeper ones take the last name);
# forkservers, their job processes and multiprocessing's resource tracker are told by command line
CHILD_ROLES = {"gunicorn master": ("gunicorn worker",), "celery supervisor": ("celery main", "celery child")}


def _peak_mib(proc) -> float:
    """A process's peak resident memory so far (Linux's VmHWM), else its resident memory now.
    (A forked child starts from its parent's peak: the figure may overstate it, never understate.)"""
    try:
        with open(f"/proc/{proc.pid}/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return proc.memory_info().rss / 2**20


class Usage:
    """Peak resident memory and CPU time of every process in the trees under the given roots, by
    role, sampled every ``every_s`` with psutil (memory: each process's VmHWM, so a peak between two
    samples counts; CPU: each process's last reading, summed over the processes of a role)."""

    def __init__(self, roots: dict[str, int], every_s: float = 0.5) -> None:
        self.roots, self.every_s = roots, every_s
        self.by_pid: dict[tuple[int, float], tuple[str, float]] = {}  # (pid, start): (role, peak MiB)
        self.cpu: dict[tuple[int, float], tuple[str, float]] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _role(proc, root_role: str, depth: int) -> str:
        parent = proc.parent()  # a forkserver's children carry its command line: ask the parent first
        if parent is not None and "forkserver" in " ".join(parent.cmdline()):
            return "job process"
        line = " ".join(proc.cmdline())
        if "forkserver" in line:
            return "forkserver"
        if "resource_tracker" in line:
            return "resource tracker"
        names = CHILD_ROLES.get(root_role, (f"{root_role} child",))
        return names[min(depth, len(names)) - 1]

    def _tree(self, pid: int) -> list[tuple[object, int]]:
        """The process ``pid`` and everything under it, each with its depth."""
        import psutil

        found, level, depth = [], [psutil.Process(pid)], 0
        while level:
            found += [(proc, depth) for proc in level]
            following = []
            for proc in level:
                with contextlib.suppress(psutil.Error):
                    following += proc.children()
            level, depth = following, depth + 1
        return found

    def _sample(self) -> None:
        import psutil

        for role, pid in self.roots.items():
            try:
                tree = self._tree(pid)
            except psutil.Error:
                continue
            for proc, depth in tree:
                try:
                    key = (proc.pid, proc.create_time())  # a pid used again is another process
                    known = self.by_pid.get(key)
                    name = known[0] if known else role if depth == 0 else self._role(proc, role, depth)
                    self.by_pid[key] = (name, max(known[1] if known else 0.0, _peak_mib(proc)))
                    times = proc.cpu_times()
                    self.cpu[key] = (name, times.user + times.system)
                except psutil.Error:
                    pass

    def _run(self) -> None:
        self._sample()
        while not self.stop.wait(self.every_s):
            self._sample()

    @property
    def peak(self) -> dict[str, float]:
        """The highest peak of a process of each role, in MiB."""
        top: dict[str, float] = defaultdict(float)
        for name, mib in self.by_pid.values():
            top[name] = max(top[name], mib)
        return dict(top)

    def processes(self) -> dict[str, int]:
        """How many processes of each role were seen."""
        return dict(Counter(name for name, _ in self.by_pid.values()))

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


def _jobs(sizes: Sizes) -> list[list[tuple]]:
    """Each participant's jobs, turn by turn (made in the main thread: page modules register there)."""
    turns = int(sizes.seconds // sizes.job_every_s) + 1
    return [[_job(k, turn, sizes) for turn in range(turns)] for k in range(sizes.job_users)]


def _participants(url: str, dependencies: list[dict], jobs: list[list[tuple]], sizes: Sizes,
                  outcomes: list[JobOutcome], until: float) -> list:
    def run(k: int) -> None:
        participant = Participant(url, dependencies, address=f"10.2.0.{k + 1}")
        time.sleep(k * sizes.job_every_s / sizes.job_users)  # staggered starts
        for job in jobs[k]:
            if time.monotonic() >= until:
                break
            started = time.monotonic()
            try:
                outcomes.append(participant.run(*job, deadline_s=sizes.job_deadline_s))
            except Exception as err:
                outcomes.append(JobOutcome(job[0], "error", f"{type(err).__name__}: {err}", 0.0,
                                           time.monotonic() - started))
            time.sleep(max(0.0, sizes.job_every_s - (time.monotonic() - started)))

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(sizes.job_users)]
    for thread in threads:
        thread.start()
    return threads


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _toy_lab_threads(url: str, moves: list[dict], sizes: Sizes) -> dict:
    """The toy-lab users without locust (smoke mode): one thread each, the same scenario, its own
    cookie jar and address. Returns locust's aggregated row (times in ms) and the failures."""
    until = time.monotonic() + sizes.seconds
    times: list[float] = []
    failures: list[str] = []

    def send(opener: urllib.request.OpenerDirector, method: str, path: str, _name: str, body: object) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"} if data else {})
        start = time.perf_counter()
        try:
            with opener.open(request, timeout=30) as response:
                answer = response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            answer = err.code, err.read().decode(errors="replace")
        except OSError as err:
            answer = 0, f"{type(err).__name__}: {err}"
        times.append((time.perf_counter() - start) * 1000)
        return answer

    def user(k: int) -> None:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        opener.addheaders.append(("X-Forwarded-For", address(k)))
        participant = ToyLabUser(moves, ID.ERROR, random.Random(k))
        post = functools.partial(send, opener)
        failures.append(participant.open_page(post))
        while time.monotonic() < until:
            failures.append(participant.move_a_control(post))
            time.sleep(participant.wait_s())

    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(sizes.users)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=sizes.seconds + 60)
    bad = [why for why in failures if why]
    return {"Request Count": len(times), "Failure Count": len(bad), "50%": round(_percentile(times, 0.5)),
            "95%": round(_percentile(times, 0.95)), "99%": round(_percentile(times, 0.99)),
            "Max Response Time": max(times, default=float("nan")), "failures": Counter(bad)}


def _locust(name: str, url: str, bodies: Path, sizes: Sizes, env: dict[str, str]) -> dict:
    """locust's users for ``sizes.seconds``: its aggregated row and its failures (why: how many)."""
    subprocess.run([str(LOCUST), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
                    "-u", str(sizes.users), "-r", "10", "-t", f"{sizes.seconds}s", "--host", url,
                    "--csv", str(OUT / f"load-{name}"), "--only-summary", "--loglevel", "WARNING"],
                   cwd=ROOT, env={**env, "LOAD_BODIES": str(bodies), "PYTHONPATH": str(ROOT)}, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with (OUT / f"load-{name}_stats.csv").open() as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    failures: Counter[str] = Counter()
    with (OUT / f"load-{name}_failures.csv").open() as handle:
        for row in csv.DictReader(handle):
            failures[row["Error"]] += int(row["Occurrences"])
    return {**rows["Aggregated"], "failures": failures}


LOCUST_START_S = 3.0  # locust's users arrive this long after it starts (10 a second): the abusers stay as long


def _scenario(name: str, env: dict[str, str], worker: list[str] | None, jobs: list[list[tuple]],
              sizes: Sizes, bombs: dict[str, bytes], roots: dict[str, int] | None = None) -> dict:
    """One deployment under the workshop and the abusers at once; ``roots``: more processes to
    watch (redis-server)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    logs = []
    procs = {}
    with (OUT / f"load-{name}-gunicorn.log").open("w") as log:
        procs["gunicorn master"] = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
             "--bind", f"127.0.0.1:{port}", "--workers", str(sizes.workers), "--threads", "4",
             "--access-logfile", "/dev/null",
             "app:server"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    if worker is not None:
        logs.append(log := (OUT / f"load-{name}-celery.log").open("w"))
        procs["celery supervisor"] = subprocess.Popen(worker, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_for(lambda: answers(url + "/healthz"), list(procs.values()), 90):
            sys.exit(f"bench load: the server did not start; see artifacts/load-{name}-*.log")
        time.sleep(sizes.settle_s)  # the job forkservers (one machine) or the Celery worker finish starting
        with urllib.request.urlopen(url + "/_dash-dependencies", timeout=10) as response:
            dependencies = json.loads(response.read())
        moves = _bodies(dependencies, sizes.moves)
        bodies = OUT / "load-bodies.json"
        bodies.write_text(json.dumps({"banner": ID.ERROR, "moves": moves}))
        outcomes: list[JobOutcome] = []
        with Usage({**{role: p.pid for role, p in procs.items()}, **(roots or {})}) as usage:
            before = os.times()
            until = time.monotonic() + sizes.seconds
            threads = _participants(url, dependencies, jobs, sizes, outcomes, until)
            attack, attackers = abuse.start(port, dependencies, sizes.abuse, bombs,
                                            until + (LOCUST_START_S if sizes.locust else 0.0))
            toy = _locust(name, url, bodies, sizes, env) if sizes.locust else _toy_lab_threads(url, moves, sizes)
            for thread in attackers:
                thread.join(timeout=120)
            for thread in threads:  # jobs started before the end are followed to their end
                thread.join(timeout=sizes.job_deadline_s + 60)
            after = os.times()  # (locust has ended and is counted; the servers, not yet ended, are not)
            load_cpu = sum(after[:4]) - sum(before[:4])  # the bench's threads' and locust's user and system time
    finally:
        for proc in procs.values():
            stop(proc)
        for log in logs:
            log.close()
    tracebacks = {path.name: path.read_text(errors="replace").count("Traceback")
                  for path in sorted(OUT.glob(f"load-{name}-*.log"))}
    return {"toy": toy, "jobs": outcomes, "memory": usage.peak, "processes": usage.processes(),
            "cpu": usage.cpu_by_role(), "load_cpu": load_cpu, "abuse": attack, "tracebacks": tracebacks}


def _counts(tally: abuse.Tally | Counter) -> str:
    counts = tally.counts if isinstance(tally, abuse.Tally) else tally
    return ", ".join(f"{what} × {n:,}" for what, n in counts.most_common()) or "none"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _report(name: str, result: dict, sizes: Sizes, smoke: bool = False) -> dict[str, bool]:
    """Print one deployment's figures and its goals; returns each goal's verdict (in smoke mode the
    speed and memory goals are printed but mean nothing: one worker, seconds, flooders beside)."""
    toy, jobs, attack, a = result["toy"], result["jobs"], result["abuse"], sizes.abuse
    refused = [j for j in jobs if j.ended != "finished" and j.text.startswith("Not started")]
    lost = [j for j in jobs if j.ended != "finished" and j not in refused]
    finished = [j for j in jobs if j.ended == "finished"]
    failures: Counter[str] = toy["failures"]
    banners = sum(n for why, n in failures.items() if "error banner" in why)
    print(f"\n== {name}: gunicorn {sizes.workers} workers x 4 threads (TRUSTED_PROXIES=1), {os.cpu_count()} cores, "
          f"{sizes.seconds} s, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    print(f"real users, each at an address of its own: {sizes.users} toy-lab users "
          f"({'locust' if sizes.locust else 'threads'}), {sizes.job_users} job participants, a room's presenter "
          f"and {a.followers} follower{'s' if a.followers > 1 else ''}")
    print(f"abusers: {a.flooders} forged-cookie flooders at {abuse.FLOODERS_ADDRESS} (the 2 × 2 view, "
          f"{a.flood_epochs} epochs), a bomb uploader at {abuse.BOMBER_ADDRESS} ({a.bomb_mib} MiB bombs), "
          f"a room flooder at {abuse.ROOM_FLOODER_ADDRESS}")
    print(f"toy lab: {toy['Request Count']} requests, p50 {toy['50%']} ms, p95 {toy['95%']} ms, p99 {toy['99%']} ms, "
          f"max {float(toy['Max Response Time']):.0f} ms; {toy['Failure Count']} failed, of which {banners} "
          "error banners")
    for why, n in failures.most_common(6):
        print(f"  {n} × {why[:160]}")
    print(f"jobs: {len(jobs)} started: {len(finished)} finished, {len(refused)} refused, {len(lost)} lost")
    for kind in ("sweep", "landscape"):
        mine = [j for j in finished if j.kind == kind]
        if mine:
            print(f"  {kind}: {len(mine)} finished, median {sorted(j.total_s for j in mine)[len(mine) // 2]:.1f} s, "
                  f"longest {max(j.total_s for j in mine):.1f} s")
    print(f"  longest wait before a job's first progress: {max((j.queued_s for j in jobs), default=0):.1f} s")
    for job in [*refused, *lost]:
        print(f"  {job.kind} {job.ended}: {job.text[:120]}")
    seen = attack.followers_seen
    final = seen[-1] if seen else -1
    print(f"room: {final} followers shown at the end (real followers {a.followers}; the room flooder is one "
          f"address however many cookies and buckets it sends, its polls last answered "
          f"{attack.followers_at - attack.polled_then:.1f} s before the presenter's last publish), "
          f"at most {max(seen, default=-1)} over the run; "
          f"{len(attack.room_errors)} failed requests of the presenter and followers")
    for error in attack.room_errors[:3]:
        print(f"  {error[:160]}")
    print(f"flooders: {sum(attack.flood.counts.values()):,} requests: {_counts(attack.flood)}")
    print(f"bomb uploader: {_counts(attack.uploads)}")
    for why in attack.bad_refusals[:3]:
        print(f"  not refused in a sentence: {why[:200]}")
    print(f"room flooder: starts {_counts(attack.starts)}; guesses {_counts(attack.guesses)}; "
          f"polls of the real room {_counts(attack.polls)}")
    processes = result["processes"]
    print("peak resident memory (VmHWM, MiB; the highest process of each role, and how many there were): "
          + ", ".join(f"{role} {mib:.0f} ({processes.get(role, 0)})" for role, mib in sorted(result["memory"].items())))
    top = max(result["memory"].values())
    print(f"  the highest of all: {top:.0f} MiB")
    print("CPU seconds: " + ", ".join(f"{role} {sec:.0f}" for role, sec in sorted(result["cpu"].items()))
          + f"; the load generators on the same cores (locust, the bench's threads) {result['load_cpu']:.0f}")
    print("tracebacks in the logs: " + ", ".join(f"{log} {n}" for log, n in result["tracebacks"].items()))
    for what in ("Request Count", "Failure Count", "50%", "95%", "99%", "Max Response Time"):
        sane(f"toy lab: {what}", _number(toy[what]))
    require("a toy-lab request was answered", int(toy["Request Count"]) > 0)
    require("the web workers' memory was sampled", result["memory"].get("gunicorn worker", 0) > 0)
    require("the flooders were answered", sum(attack.flood.counts.values()) > 0)
    speed, memory = FULL_RUN_ONLY
    goals = {
        "0 error banners for real users": banners == 0,
        "0 jobs lost": not lost,
        speed: _number(toy["95%"]) < P95_MS,
        memory: top <= PROCESS_MIB,
        "every bomb refused with a sentence": not attack.bad_refusals and bool(attack.uploads.counts),
        f"the room shows its true followers ({a.followers}, or {a.followers + 1} with the room flooder)":
            attack.true_followers(a.followers),
    }
    for goal, ok in goals.items():
        print(f"{_verdict(ok)}: {goal}" + (" (not a goal of smoke mode)" if smoke and goal in FULL_RUN_ONLY else ""))
    return goals


def _number(value: str | float) -> float:
    """A figure of locust's CSV (or of the threads' row) as a float; NaN where it holds none ("N/A")."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _check_smoke(result: dict, goals: dict[str, bool]) -> None:
    """A smoke run sees no failure: every real user's request answered without a banner, every job
    finished, every bomb refused with a sentence, the room's true follower count. (Not the toy lab's
    p95: the flooders share one worker's four threads with the users here.)"""
    toy, jobs, attack = result["toy"], result["jobs"], result["abuse"]
    require(f"no toy-lab request failed ({list(toy['failures'].items())[:3]})", int(toy["Failure Count"]) == 0)
    require("a sweep and a landscape were started", {j.kind for j in jobs} == {"sweep", "landscape"})
    require(f"every job finished ({[(j.kind, j.ended, j.text[:80]) for j in jobs]})",
            all(j.ended == "finished" for j in jobs))
    require(f"every bomb was refused with a sentence ({attack.bad_refusals[:2]}, {dict(attack.uploads.counts)})",
            sum(attack.uploads.counts.values()) >= len(abuse.REFUSAL) and not attack.bad_refusals)
    require(f"the room's presenter and followers saw no failure ({attack.room_errors[:3]})", not attack.room_errors)
    for goal, ok in goals.items():
        if goal not in FULL_RUN_ONLY:
            require(goal, ok)


def main(repeat: int | None = None, smoke: bool = False) -> None:
    sizes = SIZES[smoke]
    if sizes.locust and not LOCUST.exists():
        sys.exit("bench load: run `make bench-load` (it makes .venv-load with locust)")
    if sizes.redis and shutil.which("redis-server") is None:
        sys.exit("bench load: the REDIS_URL run needs redis-server (Debian's redis-server), or LOAD_ONE_MACHINE_ONLY=1")
    OUT.mkdir(exist_ok=True)
    with ThreadPoolExecutor(1) as pool:
        made = pool.submit(abuse.bombs, sizes.abuse.bomb_mib)  # a second or so, while the pages import
        jobs = _jobs(sizes)
        bombs = made.result()
    from dashboard.pages.landscape import UPLOAD_MAX_BYTES  # (a page module: imported in this thread)

    require(f"the bombs fit the page's upload ({ {k: len(v) for k, v in bombs.items()} } bytes)",
            max(map(len, bombs.values())) <= UPLOAD_MAX_BYTES)
    _run(sizes, jobs, bombs, smoke)


def _run(sizes: Sizes, jobs: list[list[tuple]], bombs: dict[str, bytes], smoke: bool) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    base = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "CACHE_TYPE", *SUB_PATH_VARIABLES)}
    base["TRUSTED_PROXIES"] = "1"  # every client names its address in X-Forwarded-For
    verdicts = {}
    try:
        one = {**base, "WEIGHTS_DIR": str(scratch / "w1"), "BACKGROUND_CACHE_DIR": str(scratch / "jobs"),
               "SECRET_KEY_FILE": str(scratch / "key")}
        result = _scenario("one-machine", one, None, jobs, sizes, bombs)
        verdicts["one machine"] = _report("one machine (make serve)", result, sizes, smoke)
        if smoke:
            _check_smoke(result, verdicts["one machine"])
            print("smoke mode: one machine only (no REDIS_URL run), the users as threads, not locust")
        if not sizes.redis:
            return
        redis_port = free_port()
        subprocess.run(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--pidfile", str(scratch / "redis.pid")], check=True)
        try:
            wait_for((scratch / "redis.pid").read_text, seconds=10)
            scaled = {**base, "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "SECRET_KEY": "bench",
                      "WEIGHTS_DIR": str(scratch / "w2"), "JOBS_MAX": "2"}
            worker = [sys.executable, "-m", "dashboard.worker", "--loglevel=WARNING", "--concurrency", "2"]
            result = _scenario("redis", scaled, worker, jobs, sizes, bombs,
                               {"redis-server": int((scratch / "redis.pid").read_text())})
            verdicts["REDIS_URL"] = _report("REDIS_URL, one Celery worker (concurrency 2)", result, sizes)
        finally:
            pid = int((scratch / "redis.pid").read_text())
            os.kill(pid, 15)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if verdicts and not smoke:
            print("\ngoals, both deployments: " + "; ".join(
                f"{where}: {sum(v.values())} of {len(v)} met" + "".join(f", FAIL {g}" for g, ok in v.items() if not ok)
                for where, v in verdicts.items()))
