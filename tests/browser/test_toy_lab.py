"""The toy lab in a real browser: load, move a slider, change a dropdown, presets, links."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import expect

from .conftest import msg_selector, param_selector, shot, wait_js

MAP_TITLE = "#map-figure .gtitle"
TIMEOUT = 20_000


def open_lab(page, query: str = ""):
    page.goto(page.base_url + "/" + query)
    page.wait_for_selector("#map-figure .main-svg, #all-maps-figure .main-svg, #code pre", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("step", timeout=TIMEOUT)


def set_number(page, group: str, name: str, value: str):
    box = page.locator(param_selector(group, name))
    box.fill(value)
    box.press("Enter")


@pytest.mark.webgl
def test_page_loads_with_the_classic_run(page):
    open_lab(page)
    expect(page.locator(MAP_TITLE)).to_have_text("MSELoss")
    expect(page.locator("#step-text")).to_contain_text("step 100: w = 0.92583, b = 2.4844, loss = 0.499441")
    assert page.locator("#surface-figure .gl-container canvas").count() >= 1
    assert "WebGL is not supported" not in page.inner_text("#surface-figure")
    assert page.locator("#curve-figure .scatterlayer .trace").count() >= 1
    shot(page, "toy-lab-default")
    _icons_are_the_pages_own_drawings(page)


def _icons_are_the_pages_own_drawings(page):
    """The top bar's icons are the page's SVG files drawn as masks, not emoji (a projector's Linux
    box without an emoji font showed empty boxes): each mask is a file the server serves, and no
    text on the page needs an emoji font."""
    for button, name in (("#present-toggle", "present"), ("#room-button", "room")):
        mask = page.eval_on_selector(f"{button} .icon", "e => getComputedStyle(e).webkitMaskImage || ''")
        assert f"icons/{name}.svg" in mask, mask
        url = mask.split('"')[1]
        assert page.request.get(url).headers["content-type"].startswith("image/svg+xml")
    text = page.inner_text("body")
    assert not [c for c in text if ord(c) >= 0x1F000 or 0x2600 <= ord(c) < 0x2700 or 0x2300 <= ord(c) < 0x2400], text


def test_dropdown_changes_the_loss_and_the_figures(page):
    open_lab(page)
    page.click("#loss")
    page.get_by_role("option", name="HuberLoss").click()
    expect(page.locator(MAP_TITLE)).to_have_text("HuberLoss", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("HuberLoss · step 100")
    assert "loss=huber" in page.url
    shot(page, "toy-lab-huber")


def test_step_slider_moves_the_point_and_the_line(page):
    open_lab(page)
    before = page.locator("#fit-figure .scatterlayer .trace").nth(2).inner_html()
    thumb = page.locator("#step-slider [role=slider]")
    thumb.focus()
    thumb.press("Home")
    expect(page.locator("#step-text")).to_contain_text("step 0: w = 6, b = -3, loss = 53.0783", timeout=TIMEOUT)
    for _ in range(5):
        thumb.press("ArrowRight")
    expect(page.locator("#step-text")).to_contain_text("step 5:", timeout=TIMEOUT)
    assert page.locator("#fit-figure .scatterlayer .trace").nth(2).inner_html() != before
    assert "step=5" in page.url
    shot(page, "toy-lab-step-5")


def test_play_runs_through_the_steps(page):
    open_lab(page, "?run.epochs=20&step=0")
    expect(page.locator("#step-text")).to_contain_text("step 0:")
    page.click("#play-button")
    expect(page.locator("#step-text")).to_contain_text("step 20:", timeout=TIMEOUT)
    expect(page.locator("#play-button")).to_have_text("▶ play")
    # a value typed, then ▶ play (the click leaves the box): the new run arrives while playing, at its
    # end; it plays from its start, not stops there
    page.fill(param_selector("sgd", "lr"), "0.05")
    page.click("#play-button")
    wait_js(page, "window.location.search.includes('sgd.lr=0.05')", timeout=TIMEOUT)  # the new run is on screen
    page.wait_for_timeout(600)  # a few ticks (5 steps/s): it stopped at its end on the first
    assert page.inner_text("#play-button") == "❚❚ pause" and "step 20:" not in page.inner_text("#step-text")
    expect(page.locator("#step-text")).to_contain_text("step 20:", timeout=TIMEOUT)
    expect(page.locator("#play-button")).to_have_text("▶ play")


def test_the_playback_speed_sets_the_tick_and_the_stride(page):
    """100 steps/s: a tick every 100 ms moving 10 steps (a tick redraws the figures); 2 steps/s: one
    step every 500 ms. (2,000 steps: a loaded machine's pause still comes before the last one.)"""
    open_lab(page, "?run.epochs=2000&step=0")
    speed = page.locator("#play-speed")
    speed.click()
    page.get_by_text("100 steps/s", exact=True).click()
    page.click("#play-button")
    expect(page.locator("#step-text")).not_to_contain_text("step 0:", timeout=TIMEOUT)
    page.click("#play-button")  # pause (a loaded machine's page may take a while between two ticks' redraws)
    expect(page.locator("#play-button")).to_have_text("▶ play", timeout=TIMEOUT)
    time.sleep(0.5)  # a tick already under way lands
    step = int(page.locator("#step-text").inner_text().split("step ")[1].split(":")[0])
    assert step > 0 and step % 10 == 0, step
    shot(page, "toy-lab-play-speed")
    speed.click()
    page.get_by_text("2 steps/s", exact=True).click()
    # every step the line shows, recorded in the page (a poll from here can miss one shown for 500 ms)
    page.evaluate("""step => { const line = document.getElementById('step-text'); window.shownSteps = [step];
        new MutationObserver(() => { const m = / step (\\d+):/.exec(line.innerText);
            if (m && window.shownSteps.at(-1) !== +m[1]) window.shownSteps.push(+m[1]); })
        .observe(line, {subtree: true, childList: true, characterData: true}); }""", step)
    page.click("#play-button")
    wait_js(page, "n => window.shownSteps.some(s => s >= n)", step + 3, TIMEOUT)
    page.click("#play-button")
    shown = page.evaluate("window.shownSteps")
    assert shown[:4] == [step, step + 1, step + 2, step + 3], f"one step a tick from step {step}: {shown}"


def test_typing_values_recomputes_and_bad_values_are_explained(page):
    open_lab(page)
    set_number(page, "sgd", "lr", "0.02")
    expect(page.locator("#step-text")).not_to_contain_text("loss = 0.499441", timeout=TIMEOUT)
    set_number(page, "run", "epochs", "5000")
    expect(page.locator(msg_selector("run", "epochs"))).to_contain_text("epochs must be", timeout=TIMEOUT)
    expect(page.locator("#run-status")).to_contain_text("Nothing was recomputed")
    shot(page, "toy-lab-bad-epochs")
    set_number(page, "run", "epochs", "50")
    expect(page.locator(msg_selector("run", "epochs"))).to_be_empty(timeout=TIMEOUT)


def test_nesterov_without_momentum_gets_a_message(page):
    open_lab(page)
    page.locator(param_selector("sgd", "nesterov")).get_by_text("nesterov").click()
    expect(page.locator(msg_selector("sgd", "nesterov"))).to_contain_text("nesterov needs momentum > 0",
                                                                          timeout=TIMEOUT)


def test_preset_sets_the_optimizer_and_shows_what_to_notice(page):
    open_lab(page)
    page.get_by_role("button", name="momentum 0.9 + nesterov").click()
    expect(page.locator("#preset-caption")).to_contain_text("Nesterov looks ahead", timeout=TIMEOUT)
    expect(page.locator(param_selector("sgd", "momentum"))).to_have_value("0.9")
    expect(page.locator(param_selector("sgd", "nesterov")).locator("input")).to_be_checked()
    page.wait_for_url("**sgd.nesterov=true**", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("w = 0.92584", timeout=TIMEOUT)
    query = parse_qs(urlparse(page.url).query)
    assert query["sgd.momentum"] == ["0.9"] and query["sgd.nesterov"] == ["true"]
    shot(page, "toy-lab-preset-nesterov")


def test_shared_link_restores_the_view(page):
    open_lab(page, "?loss=smoothl1&smoothl1.beta=0.5&sgd.lr=0.05&sgd.momentum=0.7&run.epochs=40"
                   "&tab=all&log=true&step=12")
    expect(page.locator(param_selector("sgd", "lr"))).to_have_value("0.05")
    expect(page.locator(param_selector("smoothl1", "beta"))).to_have_value("0.5")
    expect(page.locator("#loss")).to_contain_text("SmoothL1Loss")
    expect(page.locator("#all-maps-figure .annotation-text").first).to_have_text("MSELoss", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("step 12:", timeout=TIMEOUT)
    link = page.locator("#share-link").input_value()
    assert "sgd.lr=0.05" in link and "step=12" in link and "tab=all" in link
    shot(page, "toy-lab-all-losses")
    other = page.context.new_page()  # the copied link opens the same view
    other.goto(link)
    expect(other.locator("#step-text")).to_contain_text("step 12:", timeout=TIMEOUT)
    expect(other.locator(param_selector("sgd", "momentum"))).to_have_value("0.7")


def test_bad_link_opens_the_default_view_with_a_note(page):
    open_lab(page, "?sgd.lr=banana&run.epochs=99999999&what=ever")
    note = page.locator("#query-note")
    expect(note).to_contain_text("Ignored from the link")
    expect(note).to_contain_text("sgd.lr")
    expect(note).to_contain_text("what")
    expect(page.locator(param_selector("sgd", "lr"))).to_have_value("0.1")


def test_divergence_is_shown(page):
    open_lab(page, "?sgd.lr=3")
    expect(page.locator("#run-status")).to_contain_text("diverged at step", timeout=TIMEOUT)
    shot(page, "toy-lab-diverged")


def test_clicking_the_map_moves_the_start(page):
    open_lab(page)
    plot = page.locator("#map-figure .nsewdrag").first
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75)
    weight = page.locator(param_selector("run", "init_weight"))
    expect(weight).not_to_have_value("6", timeout=TIMEOUT)
    assert float(weight.input_value()) < 1.5
    page.wait_for_url(f"**run.init_weight={float(weight.input_value())!r}**", timeout=TIMEOUT)
    thumb = page.locator("#step-slider [role=slider]")
    thumb.focus()
    thumb.press("Home")  # step 0 is the new start
    expect(page.locator("#step-text")).to_contain_text(f"step 0: w = {float(weight.input_value()):.5g}",
                                                       timeout=TIMEOUT)


def test_loop_knobs_mark_clipped_steps_and_explain_accumulation(page):
    open_lab(page, "?sgd.momentum=0.9&run.epochs=40")
    page.locator(param_selector("run", "clip_grad_norm")).get_by_text("clip_grad_norm").click()
    expect(page.locator("#run-status")).to_contain_text("clip_grad_norm_ (max_norm 1) clipped", timeout=TIMEOUT)
    assert page.locator("#map-figure .scatterlayer .trace").count() >= 6  # the clipped-step circles
    page.locator(param_selector("run", "zero_grad")).get_by_text("zero_grad").click()
    expect(page.locator("#run-status")).to_contain_text("zero_grad is off", timeout=TIMEOUT)
    set_number(page, "run", "batch_size", "10")
    expect(page.locator("#run-status")).to_contain_text("Mini-batches of 10", timeout=TIMEOUT)
    expect(page.locator("#curve-figure .legend")).to_contain_text("batch loss", timeout=TIMEOUT)
    shot(page, "toy-lab-loop-knobs")


def test_code_tab_shows_the_script(page):
    open_lab(page, "?optimizer=adam&adam.lr=0.1&tab=code")
    expect(page.locator("#code")).to_contain_text("torch.optim.Adam(model.parameters(), lr=0.1)", timeout=TIMEOUT)
    expect(page.locator("#code")).to_contain_text("optimizer.zero_grad()")


def test_the_hessian_at_the_playback_step_and_the_stability_bound_beside_lr(page):
    """Beside lr: the Hessian's eigenvalues at the playback step and SGD's stable lr; past it,
    in red. On the map, the eigenvectors through the step's point move with playback, where the
    server puts them (figures.eigen_xy)."""
    from compute import RunSpec, loss_grid, run_trajectory
    from compute.curvature import run_curvature, toy_hessian
    from compute.specs import DataSpec, GridSpec, LossSpec
    from dashboard.figures import eigen_length, eigen_xy

    open_lab(page, "?loss=huber&step=40")
    note = page.locator("#stability-note")
    spec = RunSpec(loss=LossSpec("huber"))
    traj = run_trajectory(spec)
    exact = toy_hessian(DataSpec(), LossSpec("huber"), float(traj.weight[40]), float(traj.bias[40]))
    expect(note).to_contain_text(f"HuberLoss at step 40: Hessian λmax {exact.eigenvalues[0]:.4g}", timeout=TIMEOUT)
    expect(note).to_contain_text("SGD is stable while lr <")
    thumb = page.locator("#step-slider [role=slider]")
    thumb.focus()
    thumb.press("Home")
    expect(page.locator("#step-text")).to_contain_text("step 0:")
    start = toy_hessian(DataSpec(), LossSpec("huber"), 6.0, -3.0)
    expect(note).to_contain_text(f"at step 0: Hessian λmax {start.eigenvalues[0]:.4g}")
    grid = loss_grid(GridSpec(loss=LossSpec("huber")))
    want = eigen_xy(run_curvature(spec, traj)[0], traj, 0, eigen_length(grid))
    got = page.evaluate("() => { const gd = document.querySelector('#map-figure .js-plotly-plot');"
                        " const t = gd.data[gd.data.length - 1]; return [Array.from(t.x), Array.from(t.y)]; }")
    for g, w in zip(got, (want["x"], want["y"])):
        assert [v is None for v in g] == [v is None for v in w]
        assert all(abs(a - b) < 1e-3 for a, b in zip(g, w) if a is not None)
    page.goto(page.base_url + "/?sgd.lr=1.2")  # MSE: 2/λmax = 0.976
    expect(note).to_contain_text("lr 1.2 is past it", timeout=TIMEOUT)
    expect(note.locator(".past-bound")).to_have_count(1)
    expect(page.locator("#run-status")).to_contain_text("past the stability bound")
    shot(page, "toy-stability")


def test_a_schedule_chosen_on_the_page_draws_its_lr_and_says_it(page):
    """Warm-up then cosine from the Schedule panel: its arguments appear, the loss curve gains the lr
    strip (its own axis under the loss), the path's points take the lr's colours, the step line says
    the step's lr, the address carries the choice; a new optimizer from the dropdown runs as well."""
    open_lab(page, "?sgd.momentum=0.9")
    page.click("#schedule")
    page.get_by_role("option", name="warm-up then cosine (SequentialLR)").click()
    expect(page.locator(param_selector("schedule_warmup", "warmup_steps"))).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#curve-figure .gtitle")).to_have_text("loss per step and the schedule's lr", timeout=TIMEOUT)
    assert page.locator("#curve-figure .y2title").text_content() == "lr"
    expect(page.locator("#step-text")).to_contain_text("lr 0 (scheduled)")
    assert "schedule=warmup" in page.url
    wait_js(page, """() => {
        const gd = document.querySelector('#map-figure .js-plotly-plot');
        const path = gd && gd.data && gd.data.find(t => (t.name || '').startsWith('path'));
        return !!(path && path.marker && path.marker.colorscale && path.name === 'path (points: lr)');
    }""")
    set_number(page, "schedule_warmup", "warmup_steps", "50")  # the last step now 50 steps into the cosine
    expect(page.locator("#step-text")).to_contain_text("lr 0.04132 (scheduled)", timeout=TIMEOUT)
    page.click("#optimizer")
    page.get_by_role("option", name="RAdam").click()
    expect(page.locator("#step-text")).to_contain_text("effective step size", timeout=TIMEOUT)
    shot(page, "toy-lab-schedule")


def test_a_classic_surface_and_a_typed_formula_from_the_problem_panel(page):
    """Rosenbrock from the Problem panel: its settings appear, the neuron's data and loss go, the map
    turns to its square with x and y axes and its minimum ringed, the step line says x and y, the address
    carries it; a typed formula runs, and a hostile one is one sentence under its box."""
    open_lab(page)
    page.click("#problem")
    page.get_by_role("option", name="Rosenbrock: (a - x)^2 + b*(y - x^2)^2").click()
    expect(page.locator(param_selector("rosenbrock", "b"))).to_be_visible(timeout=TIMEOUT)
    expect(page.locator(param_selector("data", "n"))).to_be_hidden()
    expect(page.locator("#preset-caption")).to_be_hidden()  # the presets are the neuron's figures
    expect(page.locator(MAP_TITLE)).to_have_text("Rosenbrock", timeout=TIMEOUT)
    assert page.locator("#map-figure .xtitle").text_content() == "x"
    assert page.locator("#map-figure .ytitle").text_content() == "y"
    assert page.locator("#map-figure .shapelayer path").count() == 1  # the minimum (1, 1)
    assert page.locator(param_selector("run", "init_bias")).input_value() == "-1.5"
    set_number(page, "sgd", "lr", "0.001")
    expect(page.locator("#step-text")).to_contain_text("step 100: x = ", timeout=TIMEOUT)
    assert "surface=rosenbrock" in page.url
    expect(page.locator("#fit-figure .gtitle")).to_have_text("the point (x, y) at each step")
    shot(page, "toy-lab-rosenbrock")
    page.click("#problem")
    page.get_by_role("option", name="your formula f(x, y)").click()
    set_number(page, "expression", "text", "x^2 + 3*y²")
    expect(page.locator("#step-text")).to_contain_text("Hessian eigenvalues 6, 2", timeout=TIMEOUT)
    set_number(page, "expression", "text", "__import__('os').system('ls')")
    expect(page.locator(msg_selector("expression", "text"))).to_have_text(
        "only these functions may be called: sin, cos, tan, exp, log, sqrt, abs, tanh, sinh, cosh, atan, sigmoid, "
        "softplus", timeout=TIMEOUT)
    expect(page.locator("#run-status")).to_contain_text("fix the settings marked in red")
    page.click("#problem")  # back to the neuron: its panels, its start and its map
    page.get_by_role("option", name="the neuron on its data (regression)").click()
    expect(page.locator(MAP_TITLE)).to_have_text("MSELoss", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("step 100: w = 0.92583, b = 2.4844", timeout=TIMEOUT)
    expect(page.locator(".presets")).to_be_visible()
