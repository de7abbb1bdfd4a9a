"""The app under a sub-path, as a proxy serves it at /lab/ (JupyterHub, an institute's web server):
``DASH_URL_BASE_PATHNAME=/lab/``. Every route answers under /lab/ and nothing at the site root; the
addresses the server gives a browser (a room's link and QR code, the short link's redirect) are
under /lab/; a presenter's room is followed in Chromium. (A proxy that strips the prefix,
DASH_REQUESTS_PATHNAME_PREFIX alone, is tested on the room routes in tests/dashboard/test_rooms.py.)"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from dashboard.state import default_state
from tests.hosting.conftest import Served, serving_one_machine
from tests.hosting.test_workshop_rooms import a_room, follows_a_setting

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Served]:
    # on every interface, as a workshop serves: the room's link (the presenter opens 127.0.0.1) is
    # this computer's network address, which the follower then opens
    with serving_one_machine(tmp_path_factory.mktemp("lab"), {"DASH_URL_BASE_PATHNAME": "/lab/"}, 1, 4,
                             "hosting-base-path.log", host="0.0.0.0") as served:
        yield served


def _ask(served: Served, method: str, path: str, body: dict | None = None,
         cookie: str = "") -> http.client.HTTPResponse:
    """One request to the server (redirects not followed); the response, read into ``.data``."""
    where = urlsplit(served.url)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    headers = {"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {})}
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    response.data = response.read()  # type: ignore[attr-defined]
    connection.close()
    return response


def test_every_route_is_under_the_sub_path_and_none_at_the_root(lab):
    page = _ask(lab, "GET", "/lab/")
    assert page.status == 200 and b'"requests_pathname_prefix":"\\u002flab\\u002f"' in page.data
    cookie = page.headers["Set-Cookie"]
    assert "Path=/lab/" in cookie, "the session is the app's path's, not the whole site's"
    cookie = cookie.split(";", 1)[0]
    for path in ("/lab/healthz", "/lab/compare", "/lab/sweep", "/lab/landscape", "/lab/_dash-layout",
                 "/lab/_dash-dependencies", "/lab/assets/room.js"):
        assert _ask(lab, "GET", path).status == 200, path
    assert json.loads(_ask(lab, "GET", "/lab/healthz").data)["status"] == "ok"
    assert _ask(lab, "GET", "/lab").headers["Location"].endswith("/lab/"), "the app's root, with its slash"
    for path in ("/", "/healthz", "/compare", "/_dash-layout", "/assets/room.js", "/r/ABCDEF", "/room/ABCDEF"):
        assert _ask(lab, "GET", path).status == 404, path
    assert _ask(lab, "POST", "/room", {"url": "/lab/"}).status == 404

    made = _ask(lab, "POST", "/lab/room", {"url": "/lab/compare?runs=2"}, cookie)
    assert made.status == 200, made.data
    room = json.loads(made.data)
    code = room["code"]
    assert all(urlsplit(link).path == f"/lab/r/{code}" for link in room["links"]), room["links"]
    assert room["qr"] == f"/lab/room/{code}/qr.svg"
    qr = _ask(lab, "GET", room["qr"], cookie=cookie)
    assert qr.status == 200 and qr.headers["Content-Type"].startswith("image/svg+xml")
    short = _ask(lab, "GET", f"/lab/r/{code}")
    assert short.status == 302 and short.headers["Location"] == f"/lab/compare?runs=2#room={code}"
    assert _ask(lab, "POST", "/lab/room", {"url": "/compare"}, cookie).status == 400, "the root's page is not the app's"
    # an endpoint's page (the short link of no room) is no page a session is issued with
    missing = _ask(lab, "GET", "/lab/r/ZZZZZZ")
    assert missing.status == 404 and b'href="/lab/"' in missing.data and "Set-Cookie" not in missing.headers


def test_the_images_healthcheck_finds_healthz_under_the_sub_path(lab):
    """The Dockerfile's HEALTHCHECK command, run as Docker runs it with the image's environment."""
    command = json.loads(re.search(r"HEALTHCHECK .*?CMD (\[.*?\])\n", (ROOT / "Dockerfile").read_text(),
                                   re.S).group(1))
    assert command[0] == "python"
    port = str(urlsplit(lab.url).port)

    def check(env: dict[str, str]) -> int:
        return subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30,
                              check=False).returncode

    assert check({"PORT": port, "DASH_URL_BASE_PATHNAME": "/lab/"}) == 0
    assert check({"PORT": port}) != 0, "at the root there is no /healthz"


def test_a_room_is_followed_under_the_sub_path(lab, browser):
    with a_room(browser, lab.url) as (presenter, follower, link):
        assert urlsplit(link).path.startswith("/lab/r/")
        assert follower.evaluate("location.pathname") == "/lab/", "the short link opened the app's page"
        follows_a_setting(presenter, follower)
        assert follower.evaluate("location.pathname") == "/lab/" and "sgd.lr=0.05" in follower.evaluate("location.search")


def test_a_sweeps_cell_opens_the_toy_lab_under_the_sub_path(lab):
    """The sweep page's click on a cell answers the toy lab's address under /lab/ (its page opens it)."""
    state = {**default_state(), "sweep.y": "momentum"}
    body = {"output": "sweep-nav.data", "outputs": {"id": "sweep-nav", "property": "data"},
            "inputs": [{"id": "sweep-figure", "property": "clickData", "value": {"points": [{"x": 0.0316, "y": 0.45}]}}],
            "state": [{"id": "sweep-store", "property": "data", "value": {"state": state, "query": ""}}],
            "changedPropIds": ["sweep-figure.clickData"]}
    answer = _ask(lab, "POST", "/lab/_dash-update-component", body)
    assert answer.status == 200, answer.data
    href = json.loads(answer.data)["response"]["sweep-nav"]["data"]
    assert href.startswith("/lab/?") and "sgd.lr=0.0316" in href
