"""Rooms across gunicorn's two workers on Redis: a room made through one worker is served by the
other, followers are counted by both, and the presenter/follower flow runs in the browser (a
presenter's page and a follower's page, each in its own browser context: two people). The flow runs
here only, on the deployment that can get it wrong in more ways; one machine's room store is tested
in tests/dashboard/test_rooms.py and its followers by bench rooms' smoke run.

(Named to run after test_workshop.py on the same server: its cache test counts each worker's
misses from a fresh start, and the pages opened here compute in both workers.)"""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from dashboard.rooms import network_addresses
from tests.browser.conftest import param_selector, shot, wait_js
from tests.hosting.conftest import get_json, post_json, session_cookie

LR = param_selector("sgd", "lr")


def _until(check, seconds: float = 10.0, what: str = "") -> float:
    """Seconds until ``check()`` held; fails after ``seconds``."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def _set(page, selector: str, value: str) -> None:
    box = page.locator(selector)
    box.fill(value)
    box.press("Enter")


@contextlib.contextmanager
def a_room(browser, base: str) -> Iterator[tuple]:
    """(presenter, follower, link): a presenter's page that opened ``base``/ and started a room, and a
    follower's page that opened the room's link (one page load each, each in its own browser context:
    two people). A JavaScript error on either fails the test."""
    # the follower's screen takes touch too (a laptop's, or a tablet's): a swipe over the controls
    contexts = [browser.new_context(viewport={"width": 1280, "height": 900}, has_touch=touch) for touch in (False, True)]
    presenter, follower = (c.new_page() for c in contexts)
    errors: list[str] = []
    for p in (presenter, follower):
        p.on("pageerror", lambda err: errors.append(f"{err} {getattr(err, 'stack', '') or ''}"[:600]))
    try:
        presenter.goto(base + "/")
        presenter.wait_for_selector("#map-figure .js-plotly-plot .contour", timeout=30000)
        presenter.click("#room-button")
        presenter.wait_for_selector(".room-code")
        link = presenter.get_attribute(".room-link", "href")
        code = presenter.inner_text(".room-code")
        assert link.endswith(f"/r/{code}")
        # the QR code is an image the browser decodes after it is shown: wait for it to have pixels
        wait_js(presenter, "() => { const img = document.querySelector('img.room-qr');"
                           " return img !== null && img.complete && img.naturalWidth > 0; }", timeout=10000)

        follower.goto(link)
        follower.wait_for_selector("#map-figure .js-plotly-plot .contour", timeout=30000)
        assert "Following the presenter" in follower.inner_text("#room-bar")
        _until(lambda: presenter.inner_text(".room-count") == "1 following", 12, "the presenter sees 1 follower")
        yield presenter, follower, link
    finally:
        for c in contexts:
            c.close()
    assert errors == [], f"JavaScript errors: {errors}"


def follows_a_setting(presenter, follower, value: str = "0.05") -> float:
    """The presenter sets lr: the follower's page shows the presenter's value (as the link would);
    the seconds it took."""
    _set(presenter, LR, value)
    took = _until(lambda: follower.input_value(LR) == value, 10, "the follower follows lr")
    follower.wait_for_selector("#map-figure .js-plotly-plot .contour", timeout=30000)
    return took


def run_room(browser, base: str, name: str) -> None:
    """Start a room, follow it, follow settings, tab, step and page, break away, rejoin, follow a
    lesson's steps, end."""
    with a_room(browser, base) as (presenter, follower, link):
        # opened on 127.0.0.1, which no participant reaches: the link is this computer's network
        # address, and the bar says why
        if network_addresses():
            assert urlsplit(link).hostname in network_addresses(), link
            assert "which only this computer can reach" in presenter.inner_text(".room-note")
        print(f"{name}: a setting reached the follower's page in {follows_a_setting(presenter, follower):.2f} s")
        # the tab, set in place on the follower's page (opening the address would push a history entry)
        opened = follower.evaluate("history.length")
        presenter.click("text=All losses side by side")
        _until(lambda: follower.locator("#all-maps-figure .js-plotly-plot").count() == 1
               and follower.locator("#all-maps-figure").is_visible(), 15, "the follower follows the tab")
        assert follower.evaluate("history.length") == opened, "the follower's page was built again for a tab"
        # the playback step (the presenter presses Home on the step slider)
        presenter.locator("#step-slider [role=slider]").focus()
        presenter.keyboard.press("Home")
        _until(lambda: "step 0:" in follower.inner_text("#step-text"), 10, "the follower follows the step")
        shot(follower, f"{name}-follower")
        shot(presenter, f"{name}-presenter")
        _away_and_back(presenter, follower)


def _away_and_back(presenter, follower) -> None:
    """Break away, rejoin, follow to another page, and learn that the room ended."""
    # breaking away: the presenter's next change does not reach this follower
    follower.click("button.room-away")
    assert "On your own" in follower.inner_text("#room-bar")
    _set(presenter, LR, "0.02")
    _until(lambda: "sgd.lr=0.02" in presenter.evaluate("location.href"), 10, "the presenter's own page")
    time.sleep(2.0)
    assert follower.input_value(LR) == "0.05"
    _until(lambda: presenter.inner_text(".room-count") == "0 following · 1 on their own", 15,
           "the count drops, and the one on their own is counted apart")
    # rejoining: one click, and the presenter's view is back
    follower.click("button.room-rejoin")
    _until(lambda: follower.input_value(LR) == "0.02", 10, "rejoined")
    assert "Following the presenter" in follower.inner_text("#room-bar")

    # a lesson: the presenter's step drives the follower, who may break away and rejoin at the step
    presenter.click("#lessons-menu summary")
    presenter.click("text=Why momentum works")
    _until(lambda: "step 1 of 7" in follower.inner_text("#lesson-bar"), 15, "the follower follows the lesson")
    assert "A round bowl" in follower.inner_text("#lesson-bar") and follower.is_hidden(".lead")
    presenter.keyboard.press("ArrowRight")
    _until(lambda: "step 2 of 7" in follower.inner_text("#lesson-bar"), 15, "the follower follows the next step")
    follower.click("button.room-away")
    presenter.click("#lesson-bar a.lesson-next")
    _until(lambda: "step 3 of 7" in presenter.inner_text("#lesson-bar"), 10, "the presenter's own next step")
    time.sleep(1.5)
    assert "step 2 of 7" in follower.inner_text("#lesson-bar"), "a follower on their own stays"
    follower.click("button.room-rejoin")
    _until(lambda: "step 3 of 7" in follower.inner_text("#lesson-bar"), 10, "rejoined at the presenter's step")

    # another page
    presenter.click("nav >> text=Compare")
    _until(lambda: follower.evaluate("location.pathname") == "/compare", 10, "the follower follows the page")
    follower.wait_for_selector("#compare-map .js-plotly-plot", timeout=30000)
    # only a decision breaks away: a swipe over the controls (it scrolls the page) or a tap into a box
    # keeps following; typing a value there does not
    _swipe_up(follower, follower.locator(".controls .param-slider .dash-slider-root:visible").first)
    box = follower.locator(".controls input.dash-input-element:visible").first
    box.tap()
    time.sleep(1.0)
    assert "Following the presenter" in follower.inner_text("#room-bar"), "a swipe or a tap is no decision"
    box.press("End")
    box.type("1")
    _until(lambda: "On your own" in follower.inner_text("#room-bar"), 2, "a typed value breaks away")

    # the end: the follower is told
    presenter.click("#room-button")  # hides the room's bar (the presenter's screen is the projector's)
    assert presenter.locator("#room-bar").is_hidden()
    presenter.click("#room-button")
    presenter.click("text=end the room")
    _until(lambda: "has ended" in follower.inner_text("#room-bar"), 10, "the follower learns the room ended")


def _swipe_up(page, over) -> None:
    """A finger's vertical swipe that begins over ``over`` (a slider): the page scrolls, the slider
    keeps its value."""
    thumb = over.locator("[role=slider]")
    where = "() => window.scrollY + [...document.querySelectorAll('.controls')].reduce((s, e) => s + e.scrollTop, 0)"
    value, scrolled = thumb.get_attribute("aria-valuenow"), page.evaluate(where)
    box = over.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    touch = page.context.new_cdp_session(page)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 9):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y - 30 * i}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    # (a loaded machine starves the renderer for seconds: the scroll comes late, never not at all)
    _until(lambda: page.evaluate(where) > scrolled, 15, "the swipe scrolls the page")
    assert thumb.get_attribute("aria-valuenow") == value, "a vertical swipe does not move the slider"


def _publish(url: str, code: str, key: str, address: str) -> dict:
    request = urllib.request.Request(f"{url}/room/{code}", data=json.dumps({"url": address}).encode(),
                                     method="POST", headers={"Content-Type": "application/json", "X-Room-Key": key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_room_is_the_same_in_every_worker(workshop, redis_server):
    status, made = post_json(workshop + "/room", {"url": "/?step=1"})
    assert status == 200
    pids, buckets = set(), {}
    cookies = {follower: session_cookie(workshop) for follower in ("a", "b", "c")}  # three browsers
    for i in range(40):  # fresh connections: gunicorn hands them to either worker
        pids.add(get_json(workshop + "/healthz")["pid"])
        rev = _publish(workshop, made["code"], made["key"], f"/?step={i}")["rev"]
        for follower in ("a", "b", "c"):
            poll = urllib.request.Request(f"{workshop}/room/{made['code']}?rev=&bucket={buckets.get(follower, '')}",
                                          headers={"Cookie": cookies[follower]})
            with urllib.request.urlopen(poll, timeout=10) as response:
                seen = json.loads(response.read())
            buckets[follower] = seen["bucket"]
            assert seen["rev"] == rev and seen["url"] == f"/?step={i}"
    assert len(pids) == 2, "both workers answered"
    assert _publish(workshop, made["code"], made["key"], "/?step=39")["followers"] == 3
    keys = [k.decode() for k in redis_server.client().keys("descent-lab:job:room:*")]
    assert f"descent-lab:job:room:{made['code']}" in keys
    assert all(redis_server.client().ttl(k) > 0 for k in keys), "every room key expires"


def test_a_room_follows_the_presenter_across_workers(workshop, browser):
    run_room(browser, workshop, "room-redis")


def _call(url: str, method: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_question_to_the_room_is_the_same_in_every_worker(workshop, redis_server):
    """Asked on one worker, answered on both (one answer per session, counted once across workers),
    the answers and the engine's answer read on either; the answers go with the question."""
    status, made = post_json(workshop + "/room", {"url": "/?data.x_offset=3&sgd.lr=0.05"})
    key = {"X-Room-Key": made["key"]}
    status, asked = _call(f"{workshop}/room/{made['code']}/question", "POST", {"kind": "stable-lr"}, key)
    assert status == 200 and asked["key"] == "sgd.lr"
    cookies = [session_cookie(workshop) for _ in range(6)]
    for i, cookie in enumerate(cookies):
        for _ in range(3):  # fresh connections: either worker; the second and third are refused
            status, _ = _call(f"{workshop}/room/{made['code']}/answer", "POST",
                              {"question": asked["id"], "value": str(0.02 * (i + 1))}, {"Cookie": cookie})
            assert status in (200, 409)
    pids, answers = set(), None
    for _ in range(10):
        pids.add(get_json(workshop + "/healthz")["pid"])
        status, answers = _call(f"{workshop}/room/{made['code']}/answers", "GET", headers=key)
    assert len(pids) == 2 and sorted(answers["answers"]) == pytest.approx([0.02 * (i + 1) for i in range(6)])
    status, shown = _call(f"{workshop}/room/{made['code']}/question/reveal", "POST", {}, key)
    assert status == 200 and shown["truth"]["value"] == pytest.approx(0.0985, rel=0.02)
    assert redis_server.client().ttl(f"descent-lab:job:room:{made['code']}:answers:{asked['id']}") > 0
    assert _call(f"{workshop}/room/{made['code']}/question", "DELETE", None, key)[0] == 200
    assert not redis_server.client().keys(f"descent-lab:job:room:{made['code']}:answers:*")
