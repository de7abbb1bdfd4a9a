"""One machine: each job is a process made by a forkserver.

The forkserver is started by exec (not fork) and imports the job's entry point once
(dashboard/jobprocess.py: the pages' background callbacks, and torch._dynamo, which the first
torch.optim constructor of a process imports lazily: 2.6 s of a 2.8 s sweep job when each job paid
it). Importing starts no OpenMP threads, so no job inherits a web worker's (a child forked from a
thread that had run torch waited forever in libgomp's barrier). Every job after the first starts in
milliseconds; the job's pid in its heartbeat says whether it still runs.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import threading
from typing import Any

from dashboard.compat import forget_child

log = logging.getLogger(__name__)
ENTRY = "dashboard.jobprocess"
_FORKSERVER = multiprocessing.get_context("forkserver")
_FORKSERVER.set_forkserver_preload([ENTRY, "torch._dynamo"])


def _job_process(job: str) -> None:
    """A job process's first call: the entry point (already imported by the forkserver) runs ``job``."""
    importlib.import_module(ENTRY).run_job(job)


def forkserver_child(pid: Any) -> Any:
    """The job process ``pid`` (a forkserver's child, so a reused pid is not taken for it), or None."""
    import psutil

    process = psutil.Process(int(pid))
    parent = process.parent()
    if parent is None or not any("forkserver" in part for part in parent.cmdline()):
        return None
    return process


class ForkserverLauncher:
    """Jobs as a forkserver's children on this machine."""

    def warm(self) -> None:
        """Start the forkserver now, off the request path: it imports the pages once (seconds)."""
        threading.Thread(target=multiprocessing.forkserver.ensure_running, daemon=True,
                         name="forkserver-start").start()

    def launch(self, job: str) -> None:
        process = _FORKSERVER.Process(target=_job_process, args=(job,), name=f"job-{job[:8]}")
        process.start()
        # The job outlives this web worker if it must (a restart): it is not this process's child to
        # join at exit, and its heartbeat, not this object, says whether it runs.
        forget_child(process)

    def kill(self, pid: Any) -> None:
        import psutil

        with contextlib.suppress(psutil.Error, TypeError, ValueError):
            process = forkserver_child(pid)  # only a forkserver's child is ours to kill (the pid came from a store)
            if process is not None:
                process.kill()

    def alive(self, beat: dict[str, Any]) -> bool | None:
        """Whether the job process that wrote ``beat`` runs (its pid is here to see)."""
        import psutil

        try:
            process = forkserver_child(beat.get("pid"))
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
