"""Layouts: on a phone (390×844) the navigation fits, the figures come before the
controls, and no page is wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import SHOTS, part_selector, seen, shot, wait_js
from .test_toy_lab import TIMEOUT

PAGES = [("/", "#map-figure .main-svg"), ("/?tab=all", "#all-maps-figure .main-svg"),
         ("/compare", "#compare-map .main-svg"), ("/sweep", "#sweep-figure"), ("/landscape", "#ls-main")]


@pytest.fixture
def phone(webgl_browser, server_url):  # (the shots are what a person sees: 3-D figures drawn)
    context = webgl_browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.mark.parametrize(("path", "figure"), PAGES)
def test_a_phone_sees_the_figures_first_and_nothing_wider_than_the_screen(phone, server_url, path, figure):
    phone.goto(server_url + path)
    expect(phone.locator(figure).first).to_be_visible(timeout=TIMEOUT)
    width = phone.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] == 390, width
    nav = phone.locator(".topbar nav a").last.bounding_box()
    assert nav["x"] + nav["width"] <= 390, "the navigation fits"
    figure_top = phone.locator(figure).first.bounding_box()["y"]
    controls_top = phone.locator(".controls").first.bounding_box()["y"]
    assert figure_top < controls_top, "the figures come before the controls"
    phone.wait_for_timeout(500)  # the figures adapt after their draw (assets/descent.js)
    titles = phone.evaluate("Array.from(document.querySelectorAll('.gtitle')).map(t => {"
                            " const r = t.getBoundingClientRect(); return [r.left, r.right]; })")
    assert all(left >= 0 and right <= 390 for left, right in titles), ("a title runs off the screen", titles)
    if path == "/?tab=all":  # the four maps in one column, each a real map (side by side they were slivers)
        sides = phone.evaluate("(() => { const l = document.querySelector('#all-maps-figure .js-plotly-plot')._fullLayout;"
                               " return ['', '2', '3', '4'].map(s => [l['xaxis' + s]._length, l['yaxis' + s]._length]); })()")
        assert all(w >= 200 and h >= 200 for w, h in sides), sides
    crowded = [(f["id"], f["overlaps"]) for f in seen(phone)["figures"] if f["overlaps"]]
    assert crowded == [], ("labels run into each other on a narrow plot", crowded)
    if path == "/landscape":  # the placeholder says "Press Train & draw": the button is beside it
        button = phone.locator("#ls-run").bounding_box()
        assert 0 <= figure_top - (button["y"] + button["height"]) <= 150, (button, figure_top)
    shot(phone, "phone" + path.replace("/", "-").replace("?", "-").rstrip("-"))


# every control a finger can press, and what stands for it: a dropdown's inner text box is the
# dropdown's, an option's box is its label's, a slider's thumb takes touches in a ring around it (a
# hit test of the ring, which the rows' spacing decides, moved with the page's layout between runs)
SMALL_TARGETS = """(() => {
    const out = [];
    document.querySelectorAll("button, a[href], input:not([type=hidden]), select, [role=slider], [role=tab], summary,"
                              + " .dash-options-list-option").forEach(e => {
        const s = getComputedStyle(e);
        if (s.display === "none" || s.visibility === "hidden" || !e.getClientRects().length || e.closest(".js-plotly-plot")
            || e.matches(".dash-dropdown-focus-target, .dash-options-list-option input")) { return; }
        let r = e.getBoundingClientRect();
        if (e.matches("[role=slider]")) {  // the ring around the thumb that takes a touch (its ::after)
            const ring = getComputedStyle(e, "::after");
            if (ring.content !== "none" && ring.position === "absolute") {
                r = {width: parseFloat(ring.width), height: parseFloat(ring.height)};
            }
        }
        if (r.width < 44 || r.height < 44) {
            const owner = e.closest("[id]");
            out.push(`${e.tagName.toLowerCase()}.${String(e.className).split(" ")[0]} "${e.textContent.trim().slice(0, 12)}"`
                     + ` in #${owner ? owner.id.slice(0, 60) : ""}`
                     + ` ${Math.round(r.width)}x${Math.round(r.height)}`);
        }
    });
    return out;
})()"""


def _touch(page):
    return page.context.new_cdp_session(page)


def test_a_phone_has_finger_sized_controls_and_keeps_the_map_in_sight_while_a_slider_moves(phone, server_url):
    """On a 390×844 touch screen every control is at least 44 × 44 px to a finger; dragging a setting's
    slider (below the figures) brings the map over the page while the finger moves, the page itself
    does not jump, and the map goes back after the release."""
    phone.goto(server_url + "/")
    expect(phone.locator("#map-figure .main-svg").first).to_be_visible(timeout=TIMEOUT)
    for _ in range(3):  # the Loading wrapper and late controls: the page as drawn
        small = phone.evaluate(SMALL_TARGETS)
        if not small:
            break
        phone.wait_for_timeout(500)
    assert small == [], ("controls smaller than a finger", small)
    thumb = phone.locator(part_selector("param-slider", "sgd", "lr") + " [role=slider]")
    thumb.scroll_into_view_if_needed()
    phone.evaluate("window.scrollBy(0, -200)")  # the slider in the lower part of the screen
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    scrolled = phone.evaluate("window.scrollY")
    assert phone.locator("#map-figure").bounding_box()["y"] + 400 < 0, "the map is out of sight"
    value = thumb.get_attribute("aria-valuenow")
    touch = _touch(phone)
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for i in range(1, 6):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + 12 * i, "y": y}]})
        phone.wait_for_timeout(60)
    peeked = phone.locator("#map-figure").bounding_box()
    assert peeked["y"] >= 0 and peeked["y"] + peeked["height"] <= 844 and peeked["height"] >= 300, peeked
    assert peeked["y"] + peeked["height"] <= y - 20 or peeked["y"] >= y + 20, "the map leaves the finger's slider free"
    assert phone.evaluate("window.scrollY") == scrolled, "the page under the map stays still"
    phone.screenshot(path=str(SHOTS / "phone-peek.png"))  # what the screen shows (a full page would scroll it)
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert thumb.get_attribute("aria-valuenow") != value, "the drag moved the slider"
    wait_js(phone, "!document.querySelector('#map-figure').classList.contains('peek')", timeout=5000)
    assert phone.locator("#map-figure").bounding_box()["y"] < 0, "the map back in its place"


# The tabs' figures: presenting, the deck shows them a screen at a time
TAB_FIGURES = {"/": ["map-figure", "surface-figure", "curve-figure", "fit-figure"],
               "/?tab=all": ["all-maps-figure", "all-curves-figure", "all-fits-figure"]}
PLOT_MIN = (300, 220)  # a plot area that reads from the back of a room (px)


def _check_screen(page, size: tuple[int, int]) -> dict:
    """One screen of the presentation as a person sees it, once it has settled (a busy machine
    draws a resized figure late): every plot area in view at least PLOT_MIN and whole, each map's
    colour bar beside its plot, no text on other text, none cut."""
    for _ in range(20):
        try:
            return _screen(page, size)
        except AssertionError:
            page.wait_for_timeout(250)
    return _screen(page, size)


def _screen(page, size: tuple[int, int]) -> dict:
    view = seen(page)
    assert view["scrollW"] <= size[0], "the page scrolls sideways"
    for figure in view["figures"]:
        name = figure["id"]
        assert figure["overlaps"] == [], (name, "text on text", figure["overlaps"])
        assert figure["cut"] == [], (name, "text cut by the screen", figure["cut"])
        for plot in figure["plots"]:
            assert not plot.get("cut"), (name, "a plot area cut by the screen", plot)
            assert plot["w"] >= PLOT_MIN[0] and plot["h"] >= PLOT_MIN[1], (name, "a plot area too small", plot)
        for bar in figure["bars"]:  # beside a plot: within 40 px of its right edge, level with it
            assert any(0 <= bar["x"] - (p["x"] + p["w"]) <= 40 and abs(bar["y"] - p["y"]) <= 40
                       for p in figure["plots"]), (name, "a colour bar away from its map", bar, figure["plots"])
    return view


def _flip_through(page, size: tuple[int, int], tab: str) -> None:
    """Every screen of the deck checked, PageDown from the first to the last and round to the first;
    every figure of the tab shown on one of them."""
    shown: set[str] = set()
    deck_top = "Array.from(document.querySelectorAll('.deck')).find(d => d.getClientRects().length).scrollTop"
    for screen in range(4):
        view = _check_screen(page, size)
        shown |= {f["id"] for f in view["figures"]}
        shot(page, f"present-{size[0]}x{size[1]}-{tab}-{screen}")
        if page.locator("#present-next").is_hidden():
            break
        page.keyboard.press("PageDown")
        page.wait_for_timeout(400)
        if page.evaluate(deck_top) == 0:
            break
    assert shown == set(TAB_FIGURES[tab]), ("a figure the presenter cannot reach", shown)


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_the_presentation_shows_every_figure_at_a_size_that_reads(webgl_browser, server_url, size):
    """*present* folds the controls away and lays the view out as a deck of screens: on each screen
    every plot area is at least 300 × 220 px, colour bars beside their maps, no label on another,
    nothing cut; PageDown flips to the next screen until every figure of the view has been shown,
    then back to the first; the other tab, picked while presenting, the same. Maps keep equal scale
    (square here: both axes span 13 units), and "maps: fill" lets them fill their space."""
    context = webgl_browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    try:
        page.goto(server_url + "/")
        expect(page.locator("#map-figure .main-svg").first).to_be_visible(timeout=TIMEOUT)
        page.wait_for_timeout(500)
        width = "document.querySelector('#map-figure .main-svg').getBoundingClientRect().width"
        before = page.evaluate(width)
        page.click("#present-toggle")
        expect(page.locator(".controls")).to_be_hidden()
        tick = "#map-figure .xtick text"
        wait_js(page, f"getComputedStyle(document.querySelector('{tick}')).fontSize === '16px'",
                timeout=TIMEOUT)  # larger text for the back of the room
        page.wait_for_timeout(800)  # the figures settle at their new size (each follows its container)
        _flip_through(page, size, "/")
        if size == (1280, 720):
            maps = ("Array.from(document.querySelectorAll('.deck .nsewdrag')).slice(0, 1).map(d => { const r = "
                    "d.getBoundingClientRect(); return r.width / r.height; })[0]")
            assert abs(page.evaluate(maps) - 1) < 0.02, "the map at equal scale"
            page.click("#map-fill")
            wait_js(page, f"{maps} > 1.2", timeout=TIMEOUT)  # the map fills its wider space
            page.click("#map-fill")
            wait_js(page, f"Math.abs({maps} - 1) < 0.02", timeout=TIMEOUT)
        page.click("text=All losses side by side")
        wait_js(page, "(() => { const t = document.querySelector('#all-maps-figure .xtick text');"
                      " return !!t && getComputedStyle(t).fontSize === '16px'; })()", timeout=TIMEOUT)
        page.wait_for_timeout(800)
        _flip_through(page, size, "/?tab=all")
        page.click("text=One loss")  # and the presentation left: the figures back in their columns
        page.click("#present-toggle")
        expect(page.locator(".controls")).to_be_visible()
        wait_js(page, "getComputedStyle(document.querySelector('#map-figure .xtick text')).fontSize === '12px'",
                timeout=TIMEOUT)
        wait_js(page, f"Math.abs({width} - {before}) < 2", timeout=TIMEOUT)
    finally:
        context.close()
    assert errors == [], errors
