"""One draw per change: each figure is drawn once for a typed value and once for a playback step,
and a new run over the same maps does not send the maps again."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from .conftest import param_selector
from .test_toy_lab import TIMEOUT, open_lab, set_number

# Counts each figure's draws from now on (one listener per figure, ever): Plotly's afterplot (a
# redraw) and animated (playback moves traces on Plotly's animation path, without a redraw).
COUNT = """() => {
    window.__draws = {};
    document.querySelectorAll('.js-plotly-plot').forEach(gd => {
        const id = gd.closest('[id]').id;
        window.__draws[id] = 0;
        if (!gd.__counted) {
            gd.__counted = true;
            gd.on('plotly_afterplot', () => { window.__draws[id] += 1; });
            gd.on('plotly_animated', () => { window.__draws[id] += 1; });
        }
    });
}"""


def _settled(page) -> None:
    """Wait for the page to stop drawing: the sliders' code loads after the first figures, and the
    sidebar's new height can resize (and so redraw) them; that is the page loading, not a change."""
    page.wait_for_selector(".param-slider [role=slider] >> visible=true", timeout=TIMEOUT)  # (a hidden group's too)
    for _ in range(20):
        page.evaluate(COUNT)
        time.sleep(0.8)
        if not any(page.evaluate("window.__draws").values()):
            return
    raise AssertionError("the page kept drawing with nothing changed")


def _draws_after(page, change) -> dict[str, int]:
    _settled(page)
    page.evaluate(COUNT)
    change()
    time.sleep(2.0)  # a second, late draw (the old double redraw came ~350 ms after the first) would show
    return page.evaluate("window.__draws")


def _map_on_screen(page, figure: str) -> None:
    """The loss map (contour lines and colours) is still drawn under the paths: moving traces on
    Plotly's animation path wiped a figure's contour layer."""
    contours = page.locator(f"#{figure} .contourlayer path").count()
    assert contours > 10, f"{figure}: the loss map is gone ({contours} contour paths)"


def test_a_typed_value_draws_each_figure_once(page):
    open_lab(page)
    responses = []
    page.on("response", lambda r: responses.append(r) if "_dash-update-component" in r.url else None)
    draws = _draws_after(page, lambda: set_number(page, "sgd", "lr", "0.05"))
    expect(page.locator("#step-text")).to_contain_text("w = 0.93013", timeout=TIMEOUT)  # CLI: --lr 0.05
    assert draws == {"map-figure": 1, "surface-figure": 1, "curve-figure": 1, "fit-figure": 1}, draws
    _map_on_screen(page, "map-figure")
    body = next(r for r in responses if b"map-figure" in r.body()).body().replace(b" ", b"")
    assert b'"type":"contour"' not in body and b'"type":"surface"' not in body, "the maps were sent again"


def test_a_playback_step_draws_each_figure_once_without_a_request(page):
    open_lab(page)
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "_dash-update-component" in r.url else None)
    thumb = page.locator("#step-slider [role=slider]")
    thumb.focus()
    draws = _draws_after(page, lambda: thumb.press("Home"))
    expect(page.locator("#step-text")).to_contain_text("step 0: w = 6, b = -3, loss = 53.0783")
    assert draws == {"map-figure": 1, "surface-figure": 1, "curve-figure": 1, "fit-figure": 1}, draws
    _map_on_screen(page, "map-figure")
    assert not [url for url in requests if "step" in url], requests


def test_a_new_map_is_drawn_once_too(page):
    open_lab(page)
    draws = _draws_after(page, lambda: set_number(page, "grid", "resolution", "51"))
    assert draws == {"map-figure": 1, "surface-figure": 1, "curve-figure": 1, "fit-figure": 1}, draws
    assert page.locator(param_selector("grid", "resolution")).input_value() == "51"


def test_the_two_by_two_view_draws_once_per_change(page):
    open_lab(page, "?tab=all")
    page.wait_for_selector("#all-maps-figure .main-svg", timeout=TIMEOUT)
    draws = _draws_after(page, lambda: set_number(page, "sgd", "lr", "0.05"))
    assert {k: v for k, v in draws.items() if k.startswith("all-")} == {
        "all-maps-figure": 1, "all-curves-figure": 1, "all-fits-figure": 1}, draws
    _map_on_screen(page, "all-maps-figure")


def test_the_compare_page_draws_once_per_change(page):
    import json

    page.goto(page.base_url + "/compare")
    page.wait_for_selector("#compare-map .main-svg", timeout=TIMEOUT)
    time.sleep(2)
    box = page.locator("[id='" + json.dumps({"group": "adam", "name": "lr", "page": "compare", "run": 1,
                                             "type": "param"}, separators=(",", ":"), sort_keys=True) + "']")

    def change():
        box.fill("0.05")
        box.press("Enter")

    draws = _draws_after(page, change)
    assert draws == {"compare-map": 1, "compare-surface": 1, "compare-curve": 1, "compare-fit": 1}, draws
    _map_on_screen(page, "compare-map")
