"""The worker supervisor: a worker that exits on its own is started again; a stop request stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from dashboard.worker import supervise


def test_a_worker_that_dies_is_started_again(tmp_path):
    runs = tmp_path / "runs"
    script = f"open({str(runs)!r}, 'a').write('x'); raise SystemExit(1)"
    status = supervise([sys.executable, "-c", script], backoff=(0.05,), max_restarts=2)
    assert status == 1
    assert runs.read_text() == "xxx", "the first run and two restarts"


def test_a_stop_request_stops_the_worker_and_the_supervisor(tmp_path):
    ready = tmp_path / "ready"
    child = ("import pathlib, signal, sys, time\n"
             "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
             f"pathlib.Path({str(ready)!r}).write_text('up')\n"
             "time.sleep(60)\n")
    code = ("import sys\nfrom dashboard.worker import supervise\n"
            f"sys.exit(supervise([sys.executable, '-c', {child!r}], backoff=(0.05,)))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=os.getcwd())
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0, "the worker's own exit status, and no restart"
