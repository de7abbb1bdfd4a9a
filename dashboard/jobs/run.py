"""A job's side: running it in a job process (forkserver child) or on a Celery worker, with a
heartbeat, progress reports, a memory ceiling and a result that always lands in the store.

- **Memory.** A job may allocate ``JOBS_MEMORY_MB`` beyond what its process starts with (RLIMIT_DATA):
  a job that needs more fails its allocation, and ends with a sentence saying so; the process and
  the next job carry on.
- **Stops.** A job asked to stop (cancel, stall) or that nobody polls any more raises JobStopped at
  its next progress report; one that reaches none exits after GRACE_S.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import torch
from dash.exceptions import PreventUpdate

from dashboard.compat import job_context
from dashboard.jobs.book import (
    ABANDONED,
    GRACE_S,
    HEARTBEAT_S,
    JobBook,
    JobLimits,
    JobStopped,
    dumps,
    progress_key,
    props_key,
)
from dashboard.store import Store

log = logging.getLogger(__name__)


class Executor:
    """Runs jobs of the book in this process. ``functions``: the background callbacks by key, as
    dashboard.compat.background_functions() gives them."""

    def __init__(self, store: Store, limits: JobLimits, functions: Mapping[str, dict[str, Any]]) -> None:
        self.store, self.book, self.functions = store, JobBook(store, limits), functions

    def execute(self, job: str) -> None:
        """Run ``job`` here: heartbeat, progress, result (or why there is none)."""
        book, limits = self.book, self.book.limits
        payload = book.payload(job)
        if payload is None or book.ending(job) is not None or book.stop_reason(job):
            return  # cancelled, abandoned or lost before it started: a late delivery does nothing
        beat = book.heartbeat(job)
        if beat is not None and time.time() - beat.get("at", 0.0) < limits.JOBS_LOST_S:
            return  # delivered twice (a broker's redelivery) while the first run is alive
        entry = self.functions.get(payload["callback"])
        if entry is None:
            book.end(job, "failed", "The job's callback is unknown to this worker (another version?).")
            return
        # One torch thread per job by default: JOBS_MAX jobs share the cores, and two jobs of two
        # OpenMP threads each on two cores spun against each other (bench load: a sweep 0.6 -> 16 s).
        torch.set_num_threads(limits.JOBS_THREADS)
        watch = _Watch(self, job)  # its heartbeat thread first: it keeps the priority the process began with
        lower_priority(limits.JOBS_NICE)

        def set_progress(value: Any) -> None:
            watch.progressed()
            self.store.set(progress_key(job), dumps(list(value) if isinstance(value, list | tuple) else [value]),
                           expire=limits.JOBS_EXPIRE_S)

        def set_props(component_id: Any, props: Any) -> None:
            self.store.set(props_key(job), dumps({component_id: props}), expire=limits.JOBS_EXPIRE_S)

        job_context(payload["context"], set_props)
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
        self.finish(job, result, reason)

    def finish(self, job: str, result: str | None, reason: str | None) -> None:
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

    def __init__(self, manager: Executor, job: str) -> None:
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
            self.manager.finish(job, None, reason)
            os._exit(3)


_START: list[int] = []  # this process's data segment when its first job began (bytes)


def limit_memory(megabytes: int) -> None:
    """Let this process's jobs allocate at most ``megabytes`` beyond what the process held when its
    first job began (its imports, shared with the forkserver it came from; about 400 MB): the data
    segment is capped there (RLIMIT_DATA), so an allocation past it fails in the job (MemoryError,
    or torch's "can't allocate memory"), not in the machine. A Celery pool child keeps the ceiling
    of its first job for the later ones."""
    import resource

    import psutil

    if not _START:
        _START.append(psutil.Process().memory_info().data)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    # whole MiB: Chrome (the exports' renderer, a child that inherits the limit) hangs at start under a
    # limit that is not a multiple of 1 MiB (seen: 2,582,867,968 bytes hangs, 2,582,642,688 renders)
    limit = ((_START[0] >> 20) + megabytes) << 20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def lower_priority(nice: int) -> None:
    """Run this job's thread (and the threads it starts later) at ``nice`` (JOBS_NICE), below the web
    workers: a slider's request computes in a request thread, and it must not wait behind a
    landscape's training for a core. The job loses nothing when the cores are free. Linux keeps a
    priority per thread: the job's heartbeat, started before, keeps the process's (a Celery pool
    child's later jobs start theirs at ``nice``); a thread that already runs lower stays there."""
    if os.getpriority(os.PRIO_PROCESS, 0) < nice:
        os.setpriority(os.PRIO_PROCESS, 0, nice)


def out_of_memory(err: BaseException | None) -> bool:
    """Whether ``err`` (or what caused it) is an allocation that failed."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, MemoryError) or (isinstance(err, RuntimeError)
                                            and "allocate memory" in str(err).lower()):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False
