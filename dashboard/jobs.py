"""Background jobs that always end visibly: caps, a queue, heartbeats, and no fork after torch.

Dash's background callbacks hand a job to a *manager*. Ours keeps a small ledger (the "book") in a
store every web worker shares: a diskcache folder on one machine, Redis when REDIS_URL is set.
Everything in it is JSON text, so nothing read back can run code.

- **Admission.** At most ``JOBS_MAX`` jobs run at once on the server, a browser session holds
  at most ``JOBS_PER_SESSION`` (running or queued) and a client address ``JOBS_PER_ADDRESS``; the rest wait in one FIFO queue of at most
  ``JOBS_QUEUE`` entries, and the page shows its position. A full queue is a clear message.
- **Liveness.** A running job writes a heartbeat every second (its pid, and when it last reported
  progress). A poll that finds the heartbeat older than ``JOBS_LOST_S`` reports the job as lost,
  one that finds no progress for ``JOBS_STALL_S`` stops it and says so: the page never polls forever.
- **Abandoned jobs stop.** Each poll is recorded; a job nobody has polled for ``JOBS_ABANDON_S``
  stops itself (at its next progress report, or by exiting after a grace period).
- **No fork after torch.** On one machine each job is a process made by a *forkserver*, which is
  started by exec (not fork) and preloads the app without running any torch work, so no job
  inherits a web worker's OpenMP threads (a forked child would wait forever in libgomp's barrier).
  With REDIS_URL the jobs run on Celery workers, whose pool children never fork after torch either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from _plotly_utils.utils import PlotlyJSONEncoder
from dash import CeleryManager, DiskcacheManager
from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.background_callback._proxy_set_props import ProxySetProps
from dash.exceptions import PreventUpdate

from dashboard.clients import Client
from dashboard.settings import from_env, positive
from dashboard.spread import Spreader, configure, help_plan
from dashboard.store import DiskStore, RedisStore, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobLimits:
    """The caps and deadlines of background jobs (environment variables of the same names)."""

    JOBS_MAX: int = 2  # jobs running at once on the server (one machine: its cores)
    JOBS_PER_SESSION: int = 2  # jobs one browser session may hold, running or queued
    # jobs one client address may hold, running or queued: half the queue, so one network cannot
    # fill it (a classroom of 30 behind one NAT address: 15 at once; sweeps take about a second)
    JOBS_PER_ADDRESS: int = 15
    JOBS_QUEUE: int = 30  # jobs waiting at most; a job beyond is refused with a message
    # a job nobody polled for this long stops. Not less than a minute: Chrome wakes the timers of a
    # tab hidden for over 5 minutes once a minute, so a page in a background tab polls that seldom
    JOBS_ABANDON_S: float = 75.0
    JOBS_LOST_S: float = 8.0  # a running job whose heartbeat is older than this is lost
    JOBS_START_S: float = 60.0  # time allowed from admission to the first heartbeat
    JOBS_STALL_S: float = 180.0  # a job that reports no progress for this long is stopped
    JOBS_EXPIRE_S: float = 600.0  # a finished job's result waits this long to be collected
    JOBS_THREADS: int = 1  # torch threads of a job process (JOBS_MAX jobs share the cores)
    # a job process's memory ceiling (its data: heap and anonymous maps; after imports a job holds
    # about 450 MB of it): a job that needs more stops with a message and the server lives on
    JOBS_MEMORY_MB: int = 2048
    # helper tasks a landscape job sends with REDIS_URL (dashboard/spread.py): idle Celery workers
    # take blocks of its points; 1 and a busy pool leave the job to compute them all itself
    LANDSCAPE_HELPERS: int = 2

    def __post_init__(self) -> None:
        positive(self)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> JobLimits:
        """The limits, with any JOBS_* variable of ``env`` in place of its default; a bad one stops
        the server at start with a one-line message."""
        return from_env(cls, env)


HEARTBEAT_S = 1.0
GRACE_S = 10.0  # a stopped job that does not reach its next progress report exits after this


class JobRefused(RuntimeError):
    """A job that cannot be queued (queue full, session at its cap) or followed (its store is
    unreachable): the message says why, to the person waiting."""


class JobStopped(Exception):
    """Raised inside a job at a progress report once it was cancelled or abandoned."""


def dumps(value: Any) -> str:
    """JSON text of a callback value (figures, NoUpdate, numpy scalars) as Dash's Celery path writes it."""
    return json.dumps(value, cls=PlotlyJSONEncoder)


@dataclass(frozen=True, slots=True)
class JobState:
    """What a poll learns: ``state`` is queued, running, done, or ended (with ``message``)."""

    state: str
    ahead: int = 0
    message: str = ""


class JobBook:
    """The shared ledger: who runs, who waits (in order), and how each job ended.

    Keys: ``book`` (``{"running": [...], "queued": [...]}``, entries ``{id, session, address, at}``),
    ``payload:ID`` (what to run), ``beat:ID`` (heartbeat), ``poll:ID`` (last poll),
    ``end:ID`` (why a job ended without a result), ``stop:ID`` (a request to stop).
    """

    def __init__(self, store: Store, limits: JobLimits, clock: Callable[[], float] = time.time,
                 alive: Callable[[dict[str, Any]], bool | None] | None = None) -> None:
        """``alive(heartbeat)``, where jobs run on this machine: whether the process that wrote the
        heartbeat still runs (None: cannot tell). Without it, only the heartbeat's age speaks."""
        self.store, self.limits, self.clock, self.alive = store, limits, clock, alive

    # --- the ledger ---
    def _book(self) -> dict[str, list[dict[str, Any]]]:
        try:
            book = json.loads(self.store.get("book") or "{}")
        except ValueError:
            book = {}
        return {"running": list(book.get("running", [])), "queued": list(book.get("queued", []))}

    def _save(self, book: dict[str, list[dict[str, Any]]]) -> None:
        self.store.set("book", json.dumps(book), expire=None)  # no time to live: Redis never evicts it

    def _get_json(self, key: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self.store.get(key) or "null")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def submit(self, job: str, who: Client, payload: dict[str, Any]) -> list[str]:
        """Queue ``job`` for ``who``; returns the jobs to start now (admitted in order: it may be
        this one, or others that were waiting). Raises JobRefused when the session, its address or
        the queue is full."""
        now = self.clock()
        self.store.set(f"payload:{job}", dumps(payload), expire=self.limits.JOBS_EXPIRE_S)
        self.store.set(f"poll:{job}", str(now), expire=self.limits.JOBS_EXPIRE_S)
        with self.store.locked():
            book = self._book()
            self._drop_gone(book, now)
            held = book["running"] + book["queued"]
            mine = sum(e["session"] == who.session for e in held)
            if mine >= self.limits.JOBS_PER_SESSION:
                raise JobRefused(f"Not started: you already have {mine} jobs running or waiting "
                                 f"(at most {self.limits.JOBS_PER_SESSION} a person); cancel one or "
                                 "wait for it to finish.")
            if len(book["queued"]) >= self.limits.JOBS_QUEUE:
                raise JobRefused(f"Not started: the server is busy ({len(book['running'])} jobs running, "
                                 f"{len(book['queued'])} waiting); try again in a minute.")
            ours = sum(e.get("address") == who.address for e in held)
            if ours >= self.limits.JOBS_PER_ADDRESS:
                raise JobRefused(f"Not started: your network already has {ours} jobs running or waiting (at "
                                 f"most {self.limits.JOBS_PER_ADDRESS} an address); try again in a minute.")
            book["queued"].append({"id": job, "session": who.session, "address": who.address, "at": now})
            started = self._admit(book, now)
            self._save(book)
        return started

    def _admit(self, book: dict[str, list[dict[str, Any]]], now: float) -> list[str]:
        started = []
        while book["queued"] and len(book["running"]) < self.limits.JOBS_MAX:
            entry = book["queued"].pop(0)
            entry["at"] = now
            book["running"].append(entry)
            started.append(entry["id"])
        return started

    def _drop_gone(self, book: dict[str, list[dict[str, Any]]], now: float) -> None:
        """Take off the book what is gone: queued jobs nobody polls any more (running ones stop
        themselves), and running jobs whose process is gone, even when nobody polls them."""
        kept = []
        for entry in book["queued"]:
            if now - self.last_poll(entry["id"]) > self.limits.JOBS_ABANDON_S:
                self._end(entry["id"], "abandoned", ABANDONED)
            else:
                kept.append(entry)
        book["queued"] = kept
        alive = []
        for entry in book["running"]:
            why = self._dead(entry, now)
            if why:
                self._end(entry["id"], "lost", why)
            else:
                alive.append(entry)
        book["running"] = alive

    def _dead(self, entry: dict[str, Any], now: float) -> str | None:
        """Why a running entry is dead (no heartbeat since its start; its process gone; or, where
        the process cannot be seen, an old heartbeat), or None. A live process whose heartbeat is
        late (a loaded machine) is not lost; one that makes no progress meets JOBS_STALL_S."""
        beat = self.heartbeat(entry["id"])
        if beat is None:
            return NEVER_STARTED if now - entry["at"] > self.limits.JOBS_START_S else None
        alive = self.alive(beat) if self.alive is not None else None
        if alive is not None:
            return None if alive else LOST
        return LOST if now - beat.get("at", 0.0) > self.limits.JOBS_LOST_S else None

    def admit(self) -> list[str]:
        """Move waiting jobs into free slots; returns the ones to start now."""
        book, now = self._book(), self.clock()
        if not book["queued"] or (len(book["running"]) >= self.limits.JOBS_MAX
                                  and not any(self._dead(e, now) for e in book["running"])):
            return []
        with self.store.locked():
            book = self._book()
            self._drop_gone(book, now)
            started = self._admit(book, now)
            self._save(book)
        return started

    def release(self, job: str) -> None:
        """Take ``job`` off the book (it ended). The slot goes to a waiting job at the next ``admit``."""
        with self.store.locked():
            book = self._book()
            self._save({part: [e for e in entries if e["id"] != job] for part, entries in book.items()})

    def counts(self) -> dict[str, int]:
        """How many jobs run and wait now, and the cap (for /healthz)."""
        book = self._book()
        return {"running": len(book["running"]), "queued": len(book["queued"]), "max": self.limits.JOBS_MAX}

    # --- one job ---
    def payload(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"payload:{job}")

    def polled(self, job: str) -> None:
        self.store.set(f"poll:{job}", str(self.clock()), expire=self.limits.JOBS_EXPIRE_S)

    def last_poll(self, job: str) -> float:
        try:
            return float(self.store.get(f"poll:{job}") or 0.0)
        except ValueError:
            return 0.0

    def beat(self, job: str, progress_at: float) -> None:
        self.store.set(f"beat:{job}", json.dumps({"at": self.clock(), "pid": os.getpid(),
                                                   "progress_at": progress_at}),
                       expire=self.limits.JOBS_EXPIRE_S)

    def heartbeat(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"beat:{job}")

    def _end(self, job: str, state: str, message: str) -> None:
        self.store.set(f"end:{job}", json.dumps({"state": state, "message": message}),
                       expire=self.limits.JOBS_EXPIRE_S)

    def end(self, job: str, state: str, message: str) -> None:
        """Record why ``job`` ended without a result and take it off the book."""
        self._end(job, state, message)
        self.release(job)

    def ending(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"end:{job}")

    def ask_to_stop(self, job: str, why: str) -> None:
        self.store.set(f"stop:{job}", why, expire=self.limits.JOBS_EXPIRE_S)

    def stop_reason(self, job: str) -> str | None:
        return self.store.get(f"stop:{job}")

    def state(self, job: str) -> JobState:
        """Where ``job`` stands; a running job past its deadlines is ended here (lost or stalled)."""
        ended = self.ending(job)
        if ended is not None:
            return JobState("ended", message=ended.get("message", "The job ended."))
        book = self._book()
        queued = [e["id"] for e in book["queued"]]
        if job in queued:
            return JobState("queued", ahead=queued.index(job))
        running = next((e for e in book["running"] if e["id"] == job), None)
        if running is None:
            return JobState("done")  # finished (its result is in the store) or never known
        now = self.clock()
        why = self._dead(running, now)
        if why and any(e["id"] == job for e in self._book()["running"]):
            return self._lost(job, why)
        if why:  # it ended between the two reads of the book: its result is stored, not lost
            return JobState("done")
        beat = self.heartbeat(job) or {}
        if now - beat.get("progress_at", now) > self.limits.JOBS_STALL_S:
            self.ask_to_stop(job, "stalled")
            return self._lost(job, f"Stopped: the job made no progress for {self.limits.JOBS_STALL_S:.0f} s.")
        return JobState("running")

    def _lost(self, job: str, message: str) -> JobState:
        self.end(job, "lost", message)
        return JobState("ended", message=message)

    def forget(self, job: str) -> None:
        self.store.delete(*(f"{part}:{job}" for part in ("payload", "beat", "poll", "end", "stop")))


ABANDONED = "Stopped: nobody was watching this job."
LOST = "Lost: the process running this job stopped. Run it again."
NEVER_STARTED = "Lost: the job never started (its worker is gone or busy). Run it again."


def queued_text(ahead: int) -> str:
    return ("Waiting: yours is next." if ahead == 0
            else f"Waiting: {ahead} job{'s' if ahead > 1 else ''} ahead of yours.")


class _Guarded:
    """The parts of a Dash background-callback manager that both of ours share: every value is
    JSON text in ``self.store``, every job goes through ``self.book``. Subclasses say how a job
    starts (``launch``) and how a running one is stopped at once (``kill``)."""

    store: Store
    book: JobBook
    client: Callable[[], Client]
    queued_progress: Callable[[str], list[Any]]

    def _setup(self, store: Store, limits: JobLimits, client: Callable[[], Client],
               queued_progress: Callable[[str], list[Any]],
               alive: Callable[[dict[str, Any]], bool | None] | None = None) -> None:
        self.store, self.book, self.client = store, JobBook(store, limits, alive=alive), client
        self.queued_progress = queued_progress

    # Dash's manager API ---------------------------------------------------------------
    def build_cache_key(self, fn, args, cache_args_to_ignore, triggered):
        return uuid.uuid4().hex  # one key per job: two people asking the same never share a result

    def make_job_fn(self, fn, progress, key=None):
        return {"key": key, "fn": fn, "progress": bool(progress)}

    def call_job_fn(self, key, job_fn, args, context):
        context = {k: v for k, v in dict(context).items() if k != "updated_props"}
        payload = {"callback": job_fn["key"], "args": args, "context": context}
        try:
            started = self.book.submit(key, self.client(), payload)
        except JobRefused:
            raise
        except Exception as err:
            raise JobRefused(f"Not started: {self.store.name} is unreachable just now. The other views "
                             "still work; try again in a moment.") from err
        self._start(started)
        return key

    def _start(self, jobs: list[str]) -> None:
        for job in jobs:
            try:
                self.launch(job)
            except Exception:
                log.exception("job %s could not be started", job)
                self.book.end(job, "failed", "Not started: the server could not start a job process just now; "
                                             "try again in a moment.")

    @contextlib.contextmanager
    def _followed(self) -> Iterator[None]:
        """A poll that cannot reach the store says so (the job cannot report there either)."""
        try:
            yield
        except JobRefused:
            raise
        except Exception as err:
            log.warning("job store unreachable during a poll: %s", err)
            raise JobRefused(f"Lost: {self.store.name} became unreachable while this job ran. "
                             "Run it again when it is back.") from err

    def get_progress(self, key):
        with self._followed():
            return self._progress(key)

    def _progress(self, key):
        self.book.polled(key)
        self._start(self.book.admit())
        state = self.book.state(key)
        if state.state == "queued":
            return self.queued_progress(queued_text(state.ahead))
        value = self.store.get(self._make_progress_key(key))
        if value is None:
            return None
        self.store.delete(self._make_progress_key(key))
        return json.loads(value)

    def result_ready(self, key):
        return self.store.get(key) is not None

    def get_result(self, key, job):
        with self._followed():
            return self._result(key)

    def _result(self, key):
        self.book.polled(key)
        value = self.store.get(key)
        if value is not None:
            self.store.delete(key, self._make_progress_key(key))
            self.book.release(key)  # (the job releases itself too; this is idempotent)
            self.book.forget(key)
            self._start(self.book.admit())
            try:
                return json.loads(value)
            except ValueError:
                return {"background_callback_error": {"msg": "The job's result could not be read.", "tb": ""}}
        state = self.book.state(key)
        if state.state == "ended":
            self.book.forget(key)
            return {"background_callback_error": {"msg": state.message, "tb": ""}}
        return self.UNDEFINED

    def job_running(self, job):
        if job is None:
            return False
        with self._followed():
            # A result stored after this poll's get_result looked is collected by the next poll: the
            # job counts as running until then (else Dash would answer "no update" and stop polling).
            # One collected by this poll was taken off the book, so Dash does not cancel it.
            return self.book.state(job).state in ("queued", "running") or self.store.get(job) is not None

    def terminate_job(self, job):
        if job is None:
            return
        self.book.ask_to_stop(job, "cancelled")
        self.book.end(job, "cancelled", "Cancelled.")
        beat = self.book.heartbeat(job)
        if beat is not None:
            self.kill(job, beat.get("pid"))
        self._start(self.book.admit())

    def terminate_unhealthy_job(self, job):
        return False

    def get_updated_props(self, key):
        value = self.store.get(self._make_set_props_key(key))
        if value is None:
            return {}
        self.store.delete(self._make_set_props_key(key))
        return json.loads(value)

    def clear_cache_entry(self, key):
        self.store.delete(key)

    def get_or_create_signing_secret(self, generate):
        raise NotImplementedError  # the app always sets SECRET_KEY (see dashboard.hosting.secret_key)

    # the job's side -------------------------------------------------------------------
    def launch(self, job: str) -> None:
        raise NotImplementedError

    def kill(self, job: str, pid: Any) -> None:
        """Stop a running job at once where possible; otherwise it stops at its next progress report."""

    def execute(self, job: str) -> None:
        """Run ``job`` here (a job process or a Celery worker): heartbeat, progress, result."""
        book, limits = self.book, self.book.limits
        payload = book.payload(job)
        if payload is None or book.ending(job) is not None or book.stop_reason(job):
            return  # cancelled, abandoned or lost before it started: a late delivery does nothing
        beat = book.heartbeat(job)
        if beat is not None and time.time() - beat.get("at", 0.0) < limits.JOBS_LOST_S:
            return  # delivered twice (a broker's redelivery) while the first run is alive
        entry = self.func_registry.get(payload["callback"])
        if entry is None:
            book.end(job, "failed", "The job's callback is unknown to this worker (another version?).")
            return
        # One torch thread per job by default: JOBS_MAX jobs share the cores, and two jobs of two
        # OpenMP threads each on two cores spun against each other (bench load: a sweep 0.6 -> 16 s).
        torch.set_num_threads(limits.JOBS_THREADS)
        watch = _Watch(self, job)

        def set_progress(value: Any) -> None:
            watch.progressed()
            self.store.set(self._make_progress_key(job), dumps(list(value) if isinstance(value, list | tuple)
                                                               else [value]), expire=limits.JOBS_EXPIRE_S)

        def set_props(component_id, props):
            self.store.set(self._make_set_props_key(job), dumps({component_id: props}),
                           expire=limits.JOBS_EXPIRE_S)

        context = AttributeDict(**payload["context"])
        context.ignore_register_page = False
        context.updated_props = ProxySetProps(set_props)
        context_value.set(context)
        args = payload["args"]
        progress = [set_progress] if entry["progress"] else []
        result: str | None = None
        reason = None
        try:
            output = (entry["fn"](*progress, **args) if isinstance(args, dict)
                      else entry["fn"](*progress, *args))
            result = dumps(output)
        except PreventUpdate:
            result = dumps({"_dash_no_update": "_dash_no_update"})
        except JobStopped as why:
            reason = str(why)
        except Exception as err:
            if out_of_memory(err):
                log.warning("job %s passed its memory ceiling (%s MB)", job, limits.JOBS_MEMORY_MB)
                message = (f"Stopped: this job needed more than {limits.JOBS_MEMORY_MB:,} MB of memory; lower its "
                           "size (the resolution, the runs, the images or the frames) and run it again.")
            else:
                log.exception("job %s failed", job)
                message = f"The job failed ({type(err).__name__}); the last good view is kept."
            result = dumps({"background_callback_error": {"msg": message, "tb": ""}})
        finally:
            watch.done.set()
        self._finish(job, result, reason)

    def _finish(self, job: str, result: str | None, reason: str | None) -> None:
        """Store the result (or why there is none) and free the slot; the pages' polls, in the web
        workers, start whoever waits (a job process never starts another)."""
        if result is not None:
            self.store.set(job, result, expire=self.book.limits.JOBS_EXPIRE_S)
            self.book.release(job)
        elif self.book.ending(job) is None:
            self.book.end(job, reason or "stopped", ABANDONED if reason == "abandoned" else "Cancelled.")
        else:
            self.book.release(job)


class _Watch:
    """A running job's heartbeat thread: it beats every second, notices a request to stop (cancel,
    stall) or that nobody polls any more, and makes the job's next progress report raise JobStopped;
    a job that reaches no progress report within GRACE_S after that exits."""

    def __init__(self, manager: _Guarded, job: str) -> None:
        self.manager, self.job = manager, job
        self.stop, self.done = threading.Event(), threading.Event()
        self.last_progress = time.time()
        manager.book.beat(job, self.last_progress)
        threading.Thread(target=self._run, daemon=True, name=f"job-{job[:8]}-watch").start()

    def progressed(self) -> None:
        if self.stop.is_set():
            raise JobStopped(self.manager.book.stop_reason(self.job) or "stopped")
        self.last_progress = time.time()

    def _run(self) -> None:
        stopped_at: list[float | None] = [None]
        while not self.done.wait(HEARTBEAT_S):
            try:
                self._beat(stopped_at)
            except Exception as err:  # a store that blinks must not end the heartbeat for good
                log.warning("job %s: heartbeat not written (%s); trying again", self.job[:8], err)

    def _beat(self, stopped_at: list[float | None]) -> None:
        book, job = self.manager.book, self.job
        book.beat(job, self.last_progress)
        reason = book.stop_reason(job)
        if reason is None and time.time() - book.last_poll(job) > book.limits.JOBS_ABANDON_S:
            reason = "abandoned"
            book.ask_to_stop(job, reason)
        if reason is not None and not self.stop.is_set():
            self.stop.set()
            stopped_at[0] = time.time()
        if stopped_at[0] is not None and time.time() - stopped_at[0] > GRACE_S:
            log.warning("job %s (%s) did not reach a progress report: exiting", job, reason)
            self.manager._finish(job, None, reason)
            os._exit(3)


_FORKSERVER = multiprocessing.get_context("forkserver")
# The forkserver imports these once and every job process starts with them: the app, and
# torch._dynamo, which the first torch.optim constructor of a process imports lazily (2.6 s of a
# 2.8 s sweep job when each job paid it). Importing starts no OpenMP threads.
_FORKSERVER.set_forkserver_preload(["app", "torch._dynamo"])


def limit_memory(megabytes: int) -> None:
    """Cap this process's data (heap and anonymous maps, RLIMIT_DATA) at ``megabytes``: an allocation
    past it fails in the job (MemoryError, or torch's "can't allocate memory"), not in the machine."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = megabytes << 20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def out_of_memory(err: BaseException | None) -> bool:
    """Whether ``err`` (or what caused it) is an allocation that failed."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, MemoryError) or (isinstance(err, RuntimeError)
                                            and "allocate memory" in str(err).lower()):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def run_job(job: str) -> None:
    """A job process's entry point: the app (preloaded by the forkserver) runs ``job`` under the
    memory ceiling."""
    import app

    limit_memory(app.manager.book.limits.JOBS_MEMORY_MB)
    app.manager.store.close()  # a connection made before the fork is not this process's to use
    app.manager.execute(job)


def _forkserver_child(pid: Any) -> Any:
    """The job process ``pid`` (a forkserver's child, so a reused pid is not taken for it), or None."""
    import psutil

    process = psutil.Process(int(pid))
    parent = process.parent()
    if parent is None or not any("forkserver" in part for part in parent.cmdline()):
        return None
    return process


def _forkserver_child_alive(beat: dict[str, Any]) -> bool | None:
    """Whether the job process that wrote ``beat`` runs (one machine: its pid is here to see)."""
    import psutil

    try:
        process = _forkserver_child(beat.get("pid"))
        if process is None:  # a pid that is not a job process's: say nothing, the heartbeat's age decides
            log.warning("job heartbeat pid %s is not a forkserver's child", beat.get("pid"))
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            log.warning("job process %s has exited", beat.get("pid"))
            return False
        return True
    except psutil.NoSuchProcess:
        log.warning("job process %s is gone", beat.get("pid"))
        return False
    except (psutil.Error, TypeError, ValueError):
        return None


class LocalJobs(_Guarded, DiskcacheManager):
    """One machine: jobs are processes made by a forkserver; the book and the values in diskcache."""

    def __init__(self, directory: str, limits: JobLimits, client: Callable[[], Client],
                 queued_progress: Callable[[str], list[Any]]) -> None:
        self._setup(DiskStore(directory), limits, client, queued_progress, alive=_forkserver_child_alive)
        DiskcacheManager.__init__(self, self.store.cache, expire=limits.JOBS_EXPIRE_S)

    @staticmethod
    def warm() -> None:
        """Start the forkserver now, off the request path: it imports the app once (seconds), and
        every job after that starts in milliseconds."""
        threading.Thread(target=multiprocessing.forkserver.ensure_running, daemon=True,
                         name="forkserver-start").start()

    def launch(self, job: str) -> None:
        process = _FORKSERVER.Process(target=run_job, args=(job,), name=f"job-{job[:8]}")
        process.start()
        # The job outlives this web worker if it must (a restart): it is not this process's child to
        # join at exit, and its heartbeat, not this object, says whether it runs.
        multiprocessing.process._children.discard(process)

    def kill(self, job: str, pid: Any) -> None:
        import psutil

        with contextlib.suppress(psutil.Error, TypeError, ValueError):
            process = _forkserver_child(pid)  # only a forkserver's child is ours to kill (the pid came from a store)
            if process is not None:
                process.kill()


class QueuedJobs(_Guarded, CeleryManager):
    """REDIS_URL: jobs are Celery tasks on ``make worker``; the book and the values in Redis."""

    def __init__(self, celery: Any, redis_url: str, limits: JobLimits, client: Callable[[], Client],
                 queued_progress: Callable[[str], list[Any]]) -> None:
        self._setup(RedisStore(redis_url), limits, client, queued_progress)
        CeleryManager.__init__(self, celery, expire=limits.JOBS_EXPIRE_S)
        manager = self

        @celery.task(name="descent_lab.run_job", acks_late=True, reject_on_worker_lost=True)
        def run(job: str) -> None:
            limit_memory(limits.JOBS_MEMORY_MB)  # a pool child: the ceiling holds for its later jobs too
            manager.execute(job)

        # A helper of a job's landscape (dashboard/spread.py): acknowledged when taken, since the
        # job computes again whatever block a lost helper held.
        @celery.task(name="descent_lab.spread_help", acks_late=False)
        def spread_help(spread_id: str) -> int:
            limit_memory(limits.JOBS_MEMORY_MB)
            torch.set_num_threads(limits.JOBS_THREADS)
            return help_plan(self.store.client, spread_id)

        self.task = run
        self.spreader = Spreader(self.store.client, spread_help.delay, limits.LANDSCAPE_HELPERS)

    def execute(self, job: str) -> None:
        """Run ``job`` on this Celery worker, its landscapes shared out with idle workers."""
        configure(self.spreader)
        try:
            super().execute(job)
        finally:
            configure(None)

    def launch(self, job: str) -> None:
        self.task.delay(job)
