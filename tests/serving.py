"""Helpers to start and wait for servers, shared by the tests and bench load (no pytest here, so
the benches import it in a venv without the test tools)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT_DIR = Path(__file__).resolve().parents[1]


# Dash's own settings of the app's path (README, Hosting): a server started with any of them answers
# under it; the benches, whose requests are the site root's, start theirs without them
SUB_PATH_VARIABLES = ("DASH_URL_BASE_PATHNAME", "DASH_ROUTES_PATHNAME_PREFIX", "DASH_REQUESTS_PATHNAME_PREFIX")


def routes_prefix(env: Mapping[str, str]) -> str:
    """Where a server started with ``env`` answers ("/", or "/lab/"), as Dash reads its variables and
    the Dockerfile's HEALTHCHECK finds /healthz."""
    return env.get("DASH_ROUTES_PATHNAME_PREFIX") or env.get("DASH_URL_BASE_PATHNAME") or "/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    """Whether ``url`` answers a GET (any error status raises, which ``wait_for`` reads as not yet)."""
    with urllib.request.urlopen(url, timeout=2):
        return True


def wait_for(ready: Callable[[], object], procs: Sequence[subprocess.Popen] = (), seconds: float = 60) -> bool:
    """Poll ``ready()`` until it returns something true (an exception counts as not yet).

    False when one of ``procs`` exits first or ``seconds`` run out: the caller says what failed.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            if ready():
                return True
        except Exception:
            pass
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def stop(proc: subprocess.Popen, grace: float = 1) -> None:
    """Stop a server the tests started, with every process under it (gunicorn's workers, their job
    processes, a Celery pool). Asked first (SIGTERM); what still runs after ``grace`` seconds is
    killed. A deployment of a test or a bench need not drain: gunicorn waits up to 30 s for its
    requests (a browser's kept-alive connection among them) and Celery for its running task, which
    cost the suite 5-25 s at each module's end; and a job process left behind would go on taking a
    core from what follows."""
    import psutil

    try:
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    proc.terminate()
    _, alive = psutil.wait_procs(family, timeout=grace)
    for left in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            left.kill()
    psutil.wait_procs(alive, timeout=10)
    proc.wait(timeout=10)
