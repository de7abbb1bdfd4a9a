"""Layouts: on a phone (390×844) the navigation fits, the figures come before the
controls, and no page is wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import shot, wait_js
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
    shot(phone, "phone" + path.replace("/", "-").replace("?", "-").rstrip("-"))


@pytest.mark.parametrize(("size", "path", "figures"), [
    ((1280, 720), "/?tab=all", ["#all-maps-figure"]),
    ((1920, 1080), "/", ["#map-figure", "#surface-figure", "#curve-figure", "#fit-figure"]),
])
def test_the_presentation_layout_puts_the_view_on_one_screen(webgl_browser, server_url, size, path, figures):
    """*present* folds the controls away: at 1280×720 the whole 2×2 view is on screen without
    scrolling; at 1920×1080 the one-loss view shows map, surface, curve and fit."""
    context = webgl_browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    try:
        page.goto(server_url + path)
        expect(page.locator(figures[0] + " .main-svg").first).to_be_visible(timeout=TIMEOUT)
        if path == "/?tab=all":  # the projector: only two of the four maps fit
            bottom = page.locator(figures[-1]).bounding_box()
            assert bottom["y"] + bottom["height"] > size[1], "without the toggle the view runs below the screen"
        page.click("#present-toggle")
        expect(page.locator(".controls")).to_be_hidden()
        for figure in figures:
            svg = page.locator(figure + " .main-svg").first
            wait_js(page,   # the graph follows its container (dcc.Graph is responsive)
                "([sel, h]) => { const e = document.querySelector(sel); const g = e && e.querySelector('.main-svg');"
                " return g && Math.abs(g.getBoundingClientRect().height - e.getBoundingClientRect().height) < 2; }",
                arg=[figure, size[1]], timeout=TIMEOUT)
            box = svg.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= size[1], (figure, box)
            assert box["x"] + box["width"] <= size[0], (figure, box)
        tick = f"{figures[0]} .xtick text"
        wait_js(page, f"getComputedStyle(document.querySelector('{tick}')).fontSize === '16px'",
                               timeout=TIMEOUT)  # larger text for the back of the room
        shot(page, f"present-{size[0]}x{size[1]}")
        page.click("#present-toggle")
        expect(page.locator(".controls")).to_be_visible()
        wait_js(page, f"getComputedStyle(document.querySelector('{tick}')).fontSize === '12px'",
                               timeout=TIMEOUT)
    finally:
        context.close()
