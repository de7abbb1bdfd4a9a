"""The compare page in a real browser: two runs overlaid, duplicate and tweak, link restores."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import numpy as np
from playwright.sync_api import expect

from compute import OPTIMIZERS, OptimizerSpec, RunSpec, run_trajectory

from .conftest import _selector, part_selector, shot, wait_js
from .test_live_drag import grab

TIMEOUT = 20_000
ADAM_LR = OPTIMIZERS["adam"].params[0]


def run_param(run: int, group: str, name: str) -> str:
    return _selector({"group": group, "name": name, "page": "compare", "run": run, "type": "param"})


def test_duplicate_then_tweak_then_share(page):
    page.goto(page.base_url + "/compare")
    legend = page.locator("#compare-map .legend")
    expect(legend).to_contain_text("1 · SGD lr=0.1 momentum=0.9", timeout=TIMEOUT)
    expect(legend).to_contain_text("2 · Adam lr=0.1")
    page.get_by_role("button", name="duplicate").nth(1).click()  # run 2 → run 3
    box = page.locator(run_param(2, "adam", "lr"))
    expect(box).to_be_visible(timeout=TIMEOUT)
    box.fill("0.3")
    box.press("Enter")
    expect(legend).to_contain_text("3 · Adam lr=0.3", timeout=TIMEOUT)
    page.wait_for_url("**r2.adam.lr=0.3**", timeout=TIMEOUT)
    # a compared run's own sliders: in step with its box (the duplicate's slider followed the copy)
    # and −/+ in the slider's scale
    thumb = page.locator(part_selector("param-slider", "adam", "lr", "compare", 2) + " [role=slider]")
    expect(thumb).to_have_attribute("aria-valuenow", str(ADAM_LR.stops.index(0.3)), timeout=TIMEOUT)
    page.click(part_selector("param-up", "adam", "lr", "compare", 2))
    expect(box).to_have_value("0.33", timeout=TIMEOUT)
    expect(legend).to_contain_text("3 · Adam lr=0.33", timeout=TIMEOUT)
    page.click(part_selector("param-down", "adam", "lr", "compare", 2))
    expect(legend).to_contain_text("3 · Adam lr=0.3", timeout=TIMEOUT)
    page.wait_for_url("**r2.adam.lr=0.3**", timeout=TIMEOUT)
    query = parse_qs(urlparse(page.url).query)
    assert query["compare.runs"] == ["3"] and query["r2.optimizer"] == ["adam"]
    shot(page, "compare-three-runs")
    other = page.context.new_page()
    other.goto(page.url)
    expect(other.locator("#compare-map .legend")).to_contain_text("3 · Adam lr=0.3", timeout=TIMEOUT)


def test_switching_a_runs_optimizer(page):
    page.goto(page.base_url + "/compare?compare.runs=1")
    legend = page.locator("#compare-map .legend")
    expect(legend).to_contain_text("1 · SGD", timeout=TIMEOUT)
    page.locator(_selector({"run": 0, "type": "run-optimizer"})).click()
    page.get_by_role("option", name="RMSprop").click()
    expect(legend).to_contain_text("1 · RMSprop lr=0.01", timeout=TIMEOUT)
    expect(page.locator(run_param(0, "rmsprop", "alpha"))).to_be_visible()
    expect(page.locator(run_param(0, "sgd", "momentum"))).to_be_hidden()


def test_the_compare_page_plays_back(page):
    """▶ play on the compare page: every run's marker moves along its path, in the browser."""
    page.goto(page.base_url + "/compare?run.epochs=30&step=5")
    page.wait_for_selector("#compare-map .js-plotly-plot .contour", timeout=30000)
    expect(page.locator("#compare-step-text")).to_contain_text("1 · SGD lr=0.1 momentum=0.9 · step 5:")
    expect(page.locator("#compare-step-text")).to_contain_text("2 · Adam lr=0.1 · step 5:")
    page.locator("#compare-step [role=slider]").focus()
    page.keyboard.press("Home")
    expect(page.locator("#compare-step-text")).to_contain_text("· step 0: w = 6, b = -3")
    markers = "document.querySelector('#compare-map .js-plotly-plot').data.filter(t => (t.name || '').endsWith(' step'))"
    assert page.evaluate(f"{markers}.map(t => [t.x[0], t.y[0]])") == [[-3, 6], [-3, 6]]
    page.click("#compare-play")
    expect(page.locator("#compare-step-text")).to_contain_text("· step 30:", timeout=20000)
    assert "sgd.lr" not in page.evaluate("location.search") and "step=30" in page.evaluate("location.search")
    assert page.evaluate(f"{markers}.map(t => t.x[0])") != [-3, -3], "the markers moved"


# run 2's path on the map (scatter traces: per run its path, end and step) and its loss curve (per run
# its line and its marker)
RUN2_PATH = "#compare-map .scatterlayer .trace:nth-child(4) path.js-line"
RUN1_PATH = "#compare-map .scatterlayer .trace:nth-child(1) path.js-line"
RUN2_CURVE = "#compare-curve .scatterlayer .trace:nth-child(3) path.js-line"
DRAWN_RUN2 = """() => { const gd = document.querySelector('#compare-map .js-plotly-plot');
                        const t = gd._fullData[4]; return [t.name, Array.from(t.x), Array.from(t.y)]; }"""


def test_dragging_a_runs_slider_moves_its_path_and_release_shows_torchs_run(page):
    """The toy lab's live drag on Compare: the dragged run's path and curve follow the hand (the other
    run stays), release draws torch's run; a shared slider has no preview and says release."""
    page.goto(page.base_url + "/compare")
    badge = page.locator("#compare-engine-badge")
    expect(badge).to_contain_text("Exact: torch.optim's run", timeout=TIMEOUT)
    exact, other, curve = (page.locator(s).get_attribute("d") for s in (RUN2_PATH, RUN1_PATH, RUN2_CURVE))
    x, y = grab(page, "adam", "lr", "compare", 1)
    page.mouse.move(x - 12, y, steps=3)
    expect(badge).to_contain_text("Preview (batched engine): run 2 · adam.lr =", timeout=TIMEOUT)
    first = page.locator(RUN2_PATH).get_attribute("d")
    assert first != exact, "the dragged run's path follows the hand"
    page.mouse.move(x - 40, y, steps=4)
    time.sleep(0.3)
    assert page.locator(RUN2_PATH).get_attribute("d") != first
    assert page.locator(RUN2_CURVE).get_attribute("d") != curve, "its loss curve too"
    assert page.locator(RUN1_PATH).get_attribute("d") == other, "the other run stays as torch ran it"
    shot(page, "compare-live-drag-preview")
    page.mouse.up()
    expect(badge).to_contain_text("Exact: torch.optim's run", timeout=TIMEOUT)
    value = float(page.locator(run_param(1, "adam", "lr")).input_value())
    assert value < 0.1
    page.wait_for_url(f"**r1.adam.lr={value!r}**", timeout=TIMEOUT)
    traj = run_trajectory(RunSpec(optimizer=OptimizerSpec("adam", (("lr", value),))))
    label = f"2 · Adam lr={value:g}"
    wait_js(page, f"(label) => ({DRAWN_RUN2})()[0] === label", label, timeout=TIMEOUT)  # the new run drawn
    name, bias, weight = page.evaluate(DRAWN_RUN2)
    assert name == label
    assert (np.float32(bias[-1]), np.float32(weight[-1])) == (traj.bias[-1], traj.weight[-1])  # the end point
    np.testing.assert_array_equal(np.float32(bias), traj.bias)  # what python -m compute run prints
    np.testing.assert_array_equal(np.float32(weight), traj.weight)
    x, y = grab(page, "run", "init_weight", "compare")  # shared by every run: no preview
    page.mouse.move(x - 20, y, steps=3)
    expect(badge).to_contain_text("run.init_weight: no preview for this slider: release it", timeout=TIMEOUT)
    page.mouse.up()
