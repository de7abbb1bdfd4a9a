"""``python -m dashboard.worker [celery worker options]``: a Celery worker that comes back.

Runs ``celery -A dashboard.jobprocess:celery_app worker …`` and starts it again whenever it exits on its own. The
worker can die for good when Redis goes away mid-job (kombu 5.7.0, the release Celery 5.7 needs,
raises "'NoneType' object has no attribute 'hostname'" while it restores the unacknowledged job,
and Celery calls that unrecoverable); the jobs it held are reported lost to their pages by the job
book, and the next ones run on the restarted worker. SIGTERM/SIGINT stop the worker (warm shutdown)
and this supervisor with it. Used by ``make worker`` and compose.yaml.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

log = logging.getLogger("descent_lab.worker")
CELERY = [sys.executable, "-m", "celery", "-A", "dashboard.jobprocess:celery_app", "worker"]


def supervise(command: Sequence[str], backoff: Sequence[float] = (1, 2, 5, 10),
              stable_s: float = 60.0, max_restarts: int | None = None) -> int:
    """Run ``command`` until it exits because it was asked to; returns its exit status then.

    A run that ended on its own is started again after a pause that grows with quick failures
    (``backoff``) and resets once a run has lasted ``stable_s``.
    """
    stopping = False
    child: subprocess.Popen | None = None

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    failures = restarts = 0
    try:
        while True:
            started = time.monotonic()
            child = subprocess.Popen(list(command))
            status = child.wait()
            if stopping:
                return status
            failures = 0 if time.monotonic() - started > stable_s else failures + 1
            if max_restarts is not None and restarts >= max_restarts:
                return status
            pause = backoff[min(failures, len(backoff)) - 1] if failures else backoff[0]
            log.warning("the worker exited (status %s); starting it again in %.0f s", status, pause)
            restarts += 1
            deadline = time.monotonic() + pause
            while time.monotonic() < deadline and not stopping:
                time.sleep(0.1)
            if stopping:
                return status
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/supervisor] %(message)s")
    return supervise([*CELERY, *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
