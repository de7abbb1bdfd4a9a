"""Live drag in a real browser: the path follows the hand (a preview on the batched engine, in SVG),
release shows torch's exact run at the value in the box, and the page says which one is on screen."""

from __future__ import annotations

import time

import numpy as np
from playwright.sync_api import expect

from compute import OptimizerSpec, RunSpec, run_trajectory

from .conftest import param_selector, part_selector, shot
from .test_toy_lab import TIMEOUT, open_lab

PATH_LINE = "#map-figure .scatterlayer .trace:first-child path.js-line"


def grab(page, group: str, name: str, on: str = "toy", run: int | None = None):
    """Press the mouse on a setting's slider thumb (of page ``on``, of compared run ``run``)."""
    thumb = page.locator(part_selector("param-slider", group, name, on, run) + " [role=slider]")
    thumb.scroll_into_view_if_needed()
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    return x, y


def test_dragging_moves_the_path_and_release_shows_torchs_run(page):
    open_lab(page)
    exact_path = page.locator(PATH_LINE).get_attribute("d")
    x, y = grab(page, "sgd", "lr")
    page.mouse.move(x - 12, y, steps=3)
    expect(page.locator("#engine-badge")).to_contain_text("Preview (batched engine): sgd.lr =", timeout=TIMEOUT)
    first = page.locator(PATH_LINE).get_attribute("d")
    assert first != exact_path, "the path follows the hand"
    page.mouse.move(x - 40, y, steps=4)
    time.sleep(0.3)
    assert page.locator(PATH_LINE).get_attribute("d") != first
    shot(page, "live-drag-preview")
    draws = page.evaluate("window.dash_clientside.descent.stats.previewDraws")
    assert draws >= 2
    page.mouse.up()
    expect(page.locator("#engine-badge")).to_contain_text("Exact: torch.optim's run", timeout=TIMEOUT)
    value = float(page.locator(param_selector("sgd", "lr")).input_value())
    assert value < 0.1
    page.wait_for_url(f"**sgd.lr={value!r}**", timeout=TIMEOUT)
    traj = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", value),))))
    expect(page.locator("#step-text")).to_contain_text(f"w = {traj.weight[-1]:.5g}", timeout=TIMEOUT)
    drawn = page.evaluate("""() => { const gd = document.querySelector('#map-figure .js-plotly-plot');
                                     return [Array.from(gd._fullData[1].x), Array.from(gd._fullData[1].y)]; }""")
    np.testing.assert_array_equal(np.float32(drawn[0]), traj.bias)  # what python -m compute run prints
    np.testing.assert_array_equal(np.float32(drawn[1]), traj.weight)


def test_dragging_back_to_the_value_on_screen_shows_the_exact_run_again(page):
    open_lab(page)
    x, y = grab(page, "sgd", "momentum")
    page.mouse.move(x + 30, y, steps=3)
    expect(page.locator("#engine-badge")).to_contain_text("Preview", timeout=TIMEOUT)
    page.mouse.move(x - 40, y, steps=3)  # past the slider's start: momentum 0, the value on screen
    expect(page.locator("#engine-badge")).to_contain_text("Exact", timeout=TIMEOUT)
    page.mouse.up()


def test_dragging_epochs_shortens_the_path_to_a_prefix(page):
    """epochs previews from one run: the run at fewer epochs is the first steps of the longest."""
    open_lab(page)
    points = "(d) => d.split('L').length"  # the preview draws every step (Plotly simplifies lines)
    exact = page.locator(PATH_LINE).get_attribute("d")
    x, y = grab(page, "run", "epochs")
    page.mouse.move(x - 60, y, steps=4)
    expect(page.locator("#engine-badge")).to_contain_text("Preview (batched engine): run.epochs =", timeout=TIMEOUT)
    time.sleep(0.3)
    shown = float(page.locator("#engine-badge").inner_text().split("run.epochs = ")[1].split(" ")[0])
    drawn = page.locator(PATH_LINE).get_attribute("d")
    assert shown < 100 and drawn != exact and page.evaluate(points, drawn) == int(shown) + 1
    shot(page, "live-drag-epochs")
    page.mouse.up()
    expect(page.locator("#engine-badge")).to_contain_text("Exact: torch.optim's run", timeout=TIMEOUT)
    assert int(float(page.locator(param_selector("run", "epochs")).input_value())) == int(shown)


def test_a_slider_without_a_preview_says_release(page):
    open_lab(page)
    x, y = grab(page, "grid", "resolution")
    page.mouse.move(x - 20, y, steps=3)
    expect(page.locator("#engine-badge")).to_contain_text("release", timeout=TIMEOUT)
    page.mouse.up()


def test_the_browser_formats_numbers_as_python_does(page):
    open_lab(page)
    numbers = [0.0, 6.0, -3.0, 53.07826, 0.92583, 1.2345e-7, 123456789.0, 0.0001234, 99999.5, -0.000012, 1e21]
    for precision in (3, 5, 6):
        got = page.evaluate(f"(xs) => xs.map(x => window.dash_clientside.descent.format(x, {precision}))", numbers)
        assert got == [f"{x:.{precision}g}" for x in numbers]
