"""A real server (``python app.py``) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.ids import param_part_id
from tests.serving import answers, stop, wait_for
from tests.serving import free_port as _free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent  # (this hook sees every item of the session: mark only this folder's)
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    port = _free_port()
    log = (ROOT / "artifacts").joinpath("browser-server.log")
    log.parent.mkdir(exist_ok=True)
    scratch = tmp_path_factory.mktemp("server")  # fresh weights and job stores: every run trains for real
    env = {**os.environ, "WEIGHTS_DIR": str(scratch / "weights"), "BACKGROUND_CACHE_DIR": str(scratch / "jobs")}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: answers(url + "/"), [proc]):
        proc.kill()
        pytest.fail(f"server did not start; see {log}")
    yield url
    stop(proc)


VIEWPORT = {"width": 1500, "height": 1200}


@pytest.fixture(scope="session")
def profile(_playwright, tmp_path_factory):
    """One Chromium profile on disk (without WebGL) for the pages of the browser tests: its HTTP cache
    keeps V8's compiled code of Plotly and Dash, as a returning visitor's browser does (measured: from
    the third load on, the toy lab costs the renderer 1.7 CPU-s instead of 2.8). An incognito context
    of its own per test compiled every bundle again."""
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    context = _playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--disable-webgl"], viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture
def page(request, server_url):
    """A new tab with no cookies (so a session of its own), in the shared profile; in a fresh context
    of the Chromium with WebGL for the tests marked ``webgl``."""
    if request.node.get_closest_marker("webgl"):
        context = request.getfixturevalue("webgl_browser").new_context(viewport=VIEWPORT)
    else:
        context = request.getfixturevalue("profile")
        context.clear_cookies()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    # the server's Content-Security-Policy: anything it blocks (a script, a style, a frame) is an error
    page.add_init_script("document.addEventListener('securitypolicyviolation', e => console.error("
                         "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI))")
    page.on("console", lambda msg: msg.type == "error" and msg.text.startswith("CSP violation")
            and errors.append(msg.text))
    page.base_url = server_url  # type: ignore[attr-defined]
    yield page
    if request.node.get_closest_marker("webgl"):
        context.close()
    else:
        for tab in context.pages:
            tab.close()
    assert errors == [], f"JavaScript errors or CSP violations on the page: {errors}"


def wait_js(page, expression: str, arg=None, timeout: float = 30000) -> None:
    """Wait until ``expression`` (or the function ``expression`` of ``arg``) is true in the page.
    Polled through ``page.evaluate``, which the page's Content-Security-Policy does not govern:
    Playwright's ``wait_for_function`` compiles a string in the page, which the CSP refuses (no
    'unsafe-eval')."""
    import time

    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression, arg):
        assert time.monotonic() < deadline, f"not true within {timeout / 1000:.0f} s: {expression}"
        time.sleep(0.1)


SEEING = Path(__file__).with_name("seeing.js").read_text()


def seen(page) -> dict:
    """What a person sees of the page's figures (tests/browser/seeing.js): for each figure in sight,
    its plot areas (in view), colour bars, overlapping text and text cut by the screen or its deck."""
    return page.evaluate(SEEING)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _selector(component_id: dict) -> str:
    """The CSS selector of a pattern-matched component (Dash renders dict IDs as sorted JSON)."""
    return f"[id='{json.dumps(component_id, separators=(',', ':'), sort_keys=True)}']"


def param_selector(group: str, name: str, page: str = "toy") -> str:
    return _selector({"group": group, "name": name, "page": page, "type": "param"})


def part_selector(part: str, group: str, name: str, page: str = "toy", run: int | None = None) -> str:
    """A part of a setting's control: "param-slider", "param-down" or "param-up"."""
    return "#" + param_part_id(part, group, name, page, run)


def msg_selector(group: str, name: str, page: str = "toy") -> str:
    return _selector({"group": group, "name": name, "page": page, "type": "param-msg"})
