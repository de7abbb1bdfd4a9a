"""Test-wide settings and shared fixtures.

Hypothesis explores freely on a laptop and replays the same examples in CI; ``browser`` is
Debian's Chromium driven by Playwright (used by tests/browser and tests/hosting).
"""

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hypothesis import settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


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


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
