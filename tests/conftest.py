"""Test-wide settings and shared fixtures.

Hypothesis explores freely on a laptop and replays the same examples in CI; ``browser`` is
Debian's Chromium driven by Playwright (used by tests/browser and tests/hosting).
"""

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# The app the tests import (and the servers they start) keeps its job store in a folder of this run,
# not in the project's cache-dir that `make run` uses; every test request comes from 127.0.0.1, so
# the per-address rate of new sessions is lifted (its limit is tested on a server of its own)
os.environ.setdefault("BACKGROUND_CACHE_DIR", tempfile.mkdtemp(prefix="descent-lab-tests-"))
os.environ.setdefault("SESSIONS_PER_MINUTE", "1000000")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]

# `make test` (the gate CI runs) replays the same examples: HYPOTHESIS_PROFILE=ci. Plain pytest
# explores. (Free exploration once found a chaotic centered-RMSprop run on BCE, lr 0.5, weight_decay
# 1, where float64 rounding differences between the batched engine and torch.optim grow from 1e-16
# to 6e-8 in 40 steps: agreement to rounding, amplified; the float64 test's 1e-7 does not allow for it.)
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI") or os.environ.get("HYPOTHESIS_PROFILE") == "ci":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def _playwright():
    """One Playwright per test process (its sync API allows no second one), both browsers on it."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(_playwright):
    """Chromium without WebGL. This machine has no GPU: each 3-D figure a page draws runs through the
    software WebGL renderer (measured: loading the toy lab costs 7.4 CPU-s with it, 5.3 without, and
    the browser tests are bound by Chromium's CPU). A page shows its 3-D figures' place with Plotly's
    "WebGL is not supported" note; the tests that look at 3-D figures take ``webgl_browser``."""
    chromium = _playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-webgl"])
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def webgl_browser(_playwright):
    """Chromium with (software) WebGL: for the tests that look at 3-D figures and screens' shots."""
    chromium = _playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


# `make test` runs the suite in several processes (pytest-xdist) that take whole scopes: a file's tests stay
# in one process (they share its module's deployments and fixtures); the files of the session's Redis
# deployment (``workshop``) share a scope; the benches' smoke runs go out one by one.
SHARED_SCOPES = {"tests/hosting/test_workshop.py": "workshop", "tests/hosting/test_workshop_rooms.py": "workshop"}
ONE_BY_ONE = ("tests/test_benches.py",)


def scope(nodeid: str) -> str:
    path = nodeid.split("::", maxsplit=1)[0]
    return nodeid if path in ONE_BY_ONE else SHARED_SCOPES.get(path, path)


def pytest_xdist_make_scheduler(config, log):
    """Whole scopes, in the order the items were collected (so the long ones first: below). xdist's
    own ``loadgroup`` reads each item's group from its node id, which pytest 9.2 no longer lets a plugin
    change: every test went out alone, and a module's deployment started again in each process."""
    from xdist.scheduler import LoadScopeScheduling

    class ByScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return scope(nodeid)

    config.option.loadscopereorder = False  # (xdist would send the scopes with the most tests first)
    return ByScope(config, log)


@pytest.hookimpl(trylast=True)  # after the folders' hooks have marked their items browser or hosting
def pytest_collection_modifyitems(items):
    """The scopes go out in the order of their items, so the long ones go first (the deployments,
    then the benches and the browser), and the many short files even out the processes at the
    end: a deployment's file last kept one process busy for minutes while the other sat idle."""
    rank: dict[str, int] = {}
    for item in items:
        kind = next((i for i, m in enumerate(("hosting", "bench", "browser")) if item.get_closest_marker(m)), 3)
        rank[scope(item.nodeid)] = min(rank.get(scope(item.nodeid), kind), kind)
    items.sort(key=lambda item: rank[scope(item.nodeid)])  # a stable sort: each scope keeps its order


@pytest.fixture(autouse=True)
def _settings_as_the_environment_says():
    """The server reads its settings once (dashboard.settings.settings); each test starts and ends
    with them read afresh, so a test's environment never leaks into the next."""
    from dashboard.settings import settings as read

    read.cache_clear()
    yield
    read.cache_clear()


@pytest.fixture
def setenv(monkeypatch):
    """``setenv(NAME, value)``: set a server setting for this test (the environment, read again)."""
    from dashboard.settings import settings as read

    def set_(name: str, value: str) -> None:
        monkeypatch.setenv(name, value)
        read.cache_clear()

    return set_
