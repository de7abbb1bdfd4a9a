"""The toy lab's callbacks as plain functions, with Dash's callback context set."""

import functools
import importlib
import json

import numpy as np
import pytest
from dash import no_update
from plotly.utils import PlotlyJSONEncoder

from compute import OPTIMIZERS, PRESETS, DataSpec, OptimizerSpec, RunSpec, run_trajectory, toy_data
from dashboard import figures as F
from dashboard import toyview
from dashboard.controls import CHECKED, settings_from_controls
from dashboard.ids import FIGURES, ID, param_id, preset_id
from dashboard.state import FIELDS, PAGES, TOY, check_state

from .conftest import blank, call_callback, control_values, render_lists
from .grouping import grouped
from .test_figures import _decode

toy = importlib.import_module("dashboard.pages.toy")  # the module Dash pages loaded


def render(overrides=None, loss="mse", tab="single", log=(), step=None, triggered=((ID.LOSS, "value"),),
           drawn=None, shown=(), schedule="none", surface="none"):
    """The render callback's outputs, by name (each figure by its ID)."""
    values = control_values(overrides)
    inputs_list, outputs_list = render_lists(values)
    out = call_callback(grouped(toy.render, messages=outputs_list[0]), values, loss, "sgd", schedule, tab,
                        list(log), surface, step,
                        drawn, list(shown), inputs_list=inputs_list, triggered=list(triggered))
    assert list(out) == list(toy.RENDER_OUTPUTS), "every output, in the callback's order"
    return out


def figures(out):
    """The toy lab's figures of a render, in ``FIGURES``' order."""
    return [out[figure] for figure in FIGURES]


def test_render_default_view(server_context):
    out = render()
    messages, status, map_fig, curve, all_maps = (out[k] for k in ("messages", "status", ID.MAP, ID.CURVE, ID.ALL_MAPS))
    step_max, step, view, code = (out[k] for k in ("step_max", "step", "view", "code"))
    assert code is no_update, "the script is written when its tab is open"
    code = render(tab="code")["code"]
    assert code.startswith("```python\nimport numpy as np") and "torch.optim.SGD(model.parameters(), lr=0.1)" in code
    assert len(messages) == len(FIELDS) and all(blank(m) for m in messages) and status == []
    assert map_fig["layout"]["title"]["text"] == "MSELoss"
    assert all_maps is no_update  # the hidden tab is not computed
    assert step_max == 100 and step == 100
    assert view["state"]["sgd.lr"] == 0.1 and view["query"] == "?"  # the defaults: a short link
    assert curve["data"][1]["y"] == [float(run_trajectory(RunSpec()).loss[100])]


def test_render_points_open_in_compare_at_this_run(server_context):
    """The link beside the share link opens Compare with the view's run as its only run."""
    assert render()["to_compare"] == "/compare?r0.sgd.momentum=0.0&compare.runs=1"
    href = render({"sgd.lr": 0.05, "data.n": 30}, loss="huber")["to_compare"]
    assert href == "/compare?data.n=30&r0.sgd.lr=0.05&r0.sgd.momentum=0.0&compare.runs=1&loss=huber"


def test_render_all_losses_tab(server_context):
    out = render(tab="all")
    all_maps, all_curves = out[ID.ALL_MAPS], out[ID.ALL_CURVES]
    assert out[ID.MAP] is no_update and isinstance(out[ID.ALL_FITS], dict)
    assert [a["text"] for a in all_maps["layout"]["annotations"]] == [
        "<b>MSELoss</b>", "<b>L1Loss</b>", "<b>HuberLoss</b>", "<b>SmoothL1Loss</b>"]
    assert [t["name"] for t in all_curves["data"][::2]] == ["MSELoss", "L1Loss", "HuberLoss", "SmoothL1Loss"]


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("sgd.lr", "abc", "lr needs a number"), ("sgd.lr", None, "lr needs a number"),
    ("sgd.lr", -0.5, "lr must be"), ("run.epochs", 10**7, "epochs must be"),
    ("grid.resolution", 5000, "resolution must be"), ("data.noise", float("nan"), "finite"),
    ("data.n", 2.5, "whole number"), ("sgd.momentum", [1, 2], "needs a number"),
])
def test_bad_values_get_a_message_by_their_control_and_recompute_nothing(server_context, key, value, fragment):
    out = render({key: value})
    messages = dict(zip([f.key for f in FIELDS], out["messages"]))
    assert fragment in messages[key]
    assert all(blank(m) for k, m in messages.items() if k != key)
    assert all(o is no_update for name, o in out.items() if name not in ("messages", "status", "shown"))


def test_only_message_slots_that_change_are_sent(server_context):
    """An empty slot that stays empty gets no_update (Dash's renderer spent ~40 ms a change on the
    50 empty slots); a shown message is cleared once its setting is fixed; the store says which show."""
    keys = [f.key for f in FIELDS]
    out = render({"sgd.lr": "abc"})
    messages = dict(zip(keys, out["messages"]))
    assert "lr needs a number" in messages["sgd.lr"] and out["shown"] == ["sgd.lr"]
    assert all(m is no_update for k, m in messages.items() if k != "sgd.lr")
    out = render(shown=out["shown"])
    messages = dict(zip(keys, out["messages"]))
    assert messages["sgd.lr"] == "" and out["shown"] == [] and out[ID.MAP]["data"]
    assert all(m is no_update for k, m in messages.items() if k != "sgd.lr")
    out = render({"adam.eps": -1.0})  # not the viewed optimizer: marked, view drawn
    assert "eps must be" in dict(zip(keys, out["messages"]))["adam.eps"] and out["shown"] == ["adam.eps"]
    assert out[ID.MAP]["data"]


def test_nesterov_without_momentum_is_explained(server_context):
    out = render({"sgd.nesterov": True})
    messages = dict(zip([f.key for f in FIELDS], out["messages"]))
    assert "nesterov needs momentum > 0" in messages["sgd.nesterov"]


def test_bad_choices_are_reported_in_the_status(server_context):
    out = render(loss="hinge")
    assert "loss must be one of" in str(out["status"]) and out[ID.MAP] is no_update


def test_divergence_is_shown_not_raised(server_context):
    out = render({"sgd.lr": 3.0})
    status = str(out["status"])
    traj = run_trajectory(RunSpec(optimizer=__import__("compute").OptimizerSpec("sgd", (("lr", 3.0),))))
    assert f"diverged at step {traj.diverged_at}" in status
    assert out["step"] == traj.diverged_at - 1


def test_display_only_changes_recompute_nothing(server_context, monkeypatch):
    render()
    calls = []

    def spy(fn):
        @functools.wraps(fn)  # same name, so the same cache keys
        def counted(spec):
            calls.append(spec)
            return fn(spec)
        return counted

    def spy_together(fn):
        def counted(specs):
            calls.extend(specs)
            return fn(specs)
        return counted

    monkeypatch.setattr(toyview, "run_trajectories", spy_together(toyview.run_trajectories))
    monkeypatch.setattr(toyview, "loss_grid", spy(toyview.loss_grid))
    out = render(log=[CHECKED], triggered=[(ID.LOG, "value")])
    assert calls == [] and out[ID.MAP]["layout"]["title"]["text"] == "MSELoss"
    out = render({"sgd.lr": 0.2})  # a real change does compute, once: the run, not the map
    assert [type(spec).__name__ for spec in calls] == ["RunSpec"]


def test_url_step_is_kept_on_first_load(server_context):
    assert render(step=40, triggered=())["step"] == 40
    assert render(step=40)["step"] == 100  # a later change resets playback to the end


def test_a_new_run_over_the_maps_on_screen_sends_no_map(server_context):
    """Only the run changed: the map's path traces come in the trace store (moved in place in the
    browser, the map not drawn again) and the surface as a patch of its path traces; the maps
    (contour, surface) stay as the browser has them. Anything else that changes the maps sends them."""
    view = render()["view"]
    out = render({"sgd.lr": 0.2}, drawn=view)
    assert out[ID.MAP] is no_update and out["traces"]["figure"] == ID.MAP
    moved, surface_patch = out["traces"], out[ID.SURFACE].to_plotly_json()["operations"]
    # the panel's traces after the contour, and the Hessian's eigenvectors last
    assert moved["traces"] == list(range(1, F.MAP_TRACES_PER_PANEL + 1)) and len(moved["data"]) == len(moved["traces"])
    assert {op["location"][1] for op in surface_patch} == {1, 2, 3, 4}
    path = moved["data"][0]
    assert path["name"] == "path" and _decode(path["x"])[1] == pytest.approx(run_trajectory(RunSpec(
        optimizer=OptimizerSpec("sgd", (("lr", 0.2),)))).bias[1])
    for out in (render({"grid.resolution": 51}, drawn=view), render(log=[CHECKED], drawn=view),
                render(drawn=view, triggered=())):  # a new map, a new colour scale, a page load
        assert isinstance(out[ID.MAP], dict) and out["traces"] is no_update, "a new map is sent whole"
    all_view = render(tab="all")["view"]
    out = render({"sgd.lr": 0.2}, tab="all", drawn=all_view)
    contours = {i * F.MAP_TRACES_PER_PANEL for i in range(4)}
    assert out[ID.ALL_MAPS] is no_update and out["traces"]["figure"] == ID.ALL_MAPS
    assert set(out["traces"]["traces"]).isdisjoint(contours) and len(out["traces"]["traces"]) == 4 * 6


def test_the_view_carries_what_playback_moves(server_context):
    view = render()["view"]
    play, traj = view["play"], run_trajectory(RunSpec())
    assert play["step"] == 100 and play["figures"]["map"] == ID.MAP and play["traces"]["current"] == F.MAP_CURRENT
    np.testing.assert_array_equal(_decode(play["runs"][0]["w"]), traj.weight)
    np.testing.assert_array_equal(_decode(play["runs"][0]["loss"]), traj.loss)


def test_the_view_carries_the_hessian_at_every_step_and_says_when_lr_is_past_its_bound(server_context):
    """The map's last trace is the Hessian's eigenvectors through the step's point; the playback
    data holds each step's eigenvalues, eigenvectors and SGD's stable lr (compute/curvature.py);
    lr past the bound at the start is said beside the figures."""
    from compute.curvature import stable_lr, toy_hessian
    from compute.specs import DataSpec, LossSpec

    out = render(loss="huber")
    status, map_fig, view = out["status"], out[ID.MAP], out["view"]
    play, traj = view["play"], run_trajectory(RunSpec(loss=LossSpec("huber")))
    run = play["runs"][0]
    lam, vec, bound = (_decode(run[k]) for k in ("lam", "vec", "bound"))
    assert play["eigen"]["trace"] == len(map_fig["data"]) - 1 and play["lr"] == 0.1
    for k in (0, 40, 100):
        exact = toy_hessian(DataSpec(), LossSpec("huber"), float(traj.weight[k]), float(traj.bias[k]))
        np.testing.assert_allclose(lam[2 * k:2 * k + 2], exact.eigenvalues, rtol=1e-12)
        np.testing.assert_allclose(vec[4 * k:4 * k + 4].reshape(2, 2), exact.eigenvectors, rtol=1e-12, atol=1e-15)
        assert bound[k] == pytest.approx(stable_lr(exact.sharpness, OptimizerSpec("sgd", (("lr", 0.1),))))
    eigen = map_fig["data"][-1]
    assert eigen["name"].startswith("Hessian eigenvectors") and len(eigen["x"]) == 5 and eigen["x"][2] is None
    assert not any("past the stability bound" in str(line) for line in status)
    status = render({"sgd.lr": 1.2})["status"]  # MSE: 2/λmax = 0.976
    assert any("lr 1.2 is past the stability bound 0.9757" in str(line) for line in status)


def test_click_moves_the_start_point():
    assert toy.click_start({"points": [{"x": 1.23456, "y": -2.5}]}) == (-2.5, 1.235)
    for junk in (None, {}, {"points": []}, {"points": [{"x": "a", "y": 1}]}, {"points": [{"x": 1e9, "y": 0}]}):
        assert toy.click_start(junk) == (no_update, no_update)


def _path(traj):
    """Each step's length in the (bias, weight) plane."""
    return np.hypot(np.diff(traj.weight), np.diff(traj.bias))


def _climb(traj):
    """How far the loss climbs back on the way down, in all: the overshoot."""
    rises = np.diff(traj.loss.astype(np.float64))
    return rises[rises > 0].sum()


# What each preset's caption says its run does, as a check of that run against the default run
# (``base``) and the other presets' runs; a new preset needs its row.
CAPTIONS = {
    # "walks straight down the steepest slope, then crawls along the long valley": the page's
    # default run, and its loss never climbs (but by float32 rounding at the minimum)
    "plain": lambda run, base, runs: np.array_equal(run.loss, base.loss) and _climb(run) < 1e-5,
    # "builds speed: the path overshoots the valley floor and spirals around the minimum before it settles"
    "momentum": lambda run, base, runs: (_path(run)[:3].max() > 1.5 * _path(base)[:3].max() and _climb(run) > 1
                                         and _path(run).sum() > 3 * _path(base).sum()
                                         and run.loss[-1] < 1.01 * base.loss[-1]),
    # "the same speed, but tighter turns and less overshoot than plain momentum"
    "nesterov": lambda run, base, runs: (abs(_path(run).max() / _path(runs["momentum"]).max() - 1) < 0.05
                                         and _path(run).sum() < 0.5 * _path(runs["momentum"]).sum()
                                         and _climb(run) < 0.5 * _climb(runs["momentum"])),
    # "pulls both parameters toward 0: the path settles at a point well away from the loss minimum"
    "decay": lambda run, base, runs: (abs(run.weight[-1]) < 0.5 * abs(base.weight[-1])
                                      and abs(run.bias[-1]) < 0.6 * abs(base.bias[-1])
                                      and _path(run)[-10:].max() < 1e-3 and run.loss[-1] > 2 * base.loss[-1]),
    # "only 20% of each new gradient into the buffer: shorter, smoother steps and a slower approach"
    # (than momentum 0.9's)
    "dampening": lambda run, base, runs: (_path(run).max() < 0.6 * _path(runs["momentum"]).max()
                                          and _climb(run) < _climb(runs["momentum"])
                                          and run.loss[30] > 2 * runs["momentum"].loss[30]),
    # "drops to the valley floor at once, then crawls along it and is still short of the minimum after
    # 100 steps": most of the loss gone in 10 steps, then 100 steps end well above the minimum
    "narrow": lambda run, base, runs: (run.diverged_at is None and run.loss[10] < 0.05 * run.loss[0]
                                       and run.loss[-1] > _lowest(run) + 0.05),
    # "reaches the minimum that plain SGD was still crawling toward"
    "narrow-momentum": lambda run, base, runs: (run.diverged_at is None and run.loss[-1] < _lowest(run) + 0.005
                                                and runs["narrow"].loss[-1] - _lowest(run) > 10 * (run.loss[-1] - _lowest(run))),
    # "κ = 1 … lr 0.5 lands on the minimum in one step"
    "standardized": lambda run, base, runs: abs(float(run.loss[1]) - _lowest(run)) < 1e-5,
}


def _lowest(_traj=None):
    """MSE's least-squares minimum: the same on every feature x_scale·x + x_offset (or standardized),
    the same lines in other coordinates."""
    x, y = (a.astype(np.float64) for a in toy_data(DataSpec()))
    design = np.stack([x, np.ones_like(x)], 1)
    residual = y - design @ np.linalg.lstsq(design, y, rcond=None)[0]
    return float((residual**2).mean())


def _after_click(key, before):
    """The toy lab's RunSpec (MSE) and GridSpec once preset ``key`` is clicked on a page whose
    controls hold ``before``: the callback's outputs put in the controls, then the page's own
    check of its settings into specs."""
    from dashboard.ids import optimizer_group_id
    from dashboard.state import OPTIMIZERS as OFFERED

    outputs = [{"id": param_id(f.group, f.param.name), "property": "value"} for f in FIELDS]
    groups = [{"id": optimizer_group_id(k), "property": "children"} for k in OFFERED]
    values, built, _names, optimizer, caption = call_callback(
        toy.apply_preset, [1] * len(PRESETS), outputs_list=[outputs, groups, groups],
        triggered=[(preset_id(key), "n_clicks")])
    group = built[list(OFFERED).index(optimizer)]  # its optimizer's controls, built with its values
    held = {}
    for component in json.loads(json.dumps(group, cls=PlotlyJSONEncoder)):
        stack = [component]
        while stack:
            props = stack.pop().get("props", {})
            ident = props.get("id")
            if isinstance(ident, dict) and ident.get("type") == "param":
                held[f"{ident['group']}.{ident['name']}"] = props.get("value")
            children = props.get("children")
            stack += [c for c in (children if isinstance(children, list) else [children]) if isinstance(c, dict)]
    shown = [held.get(f.key, b if v is no_update else v) for f, b, v in zip(FIELDS, before, values, strict=True)]
    raw = settings_from_controls([{**o, "value": v} for o, v in zip(outputs, shown)], shown)
    checked = check_state({**raw, "optimizer": optimizer, "loss": "mse"}, TOY)
    assert checked.ok, checked.blocking
    return (*checked.specs["mse"], caption)


def test_every_preset_builds_the_run_its_caption_describes():
    """Each preset, clicked on a page with other settings changed: its keys are settings of its
    optimizer, the page's specs hold exactly its optimizer (the rest at the registry's defaults), epochs
    and feature (x_scale, x_offset, standardize) while the drawing of the data, the start and the grid
    stay, and its run does what its caption says."""
    assert set(CAPTIONS) == set(PRESETS)
    before = control_values({"grid.resolution": 57, "sgd.weight_decay": 0.5, "sgd.dampening": 0.3,
                             "adam.lr": 0.5, "run.epochs": 7, "data.x_scale": 7.0, "data.standardize": True})
    base = run_trajectory(check_state({}, TOY).specs["mse"][0])
    built = {key: _after_click(key, before) for key in PRESETS}
    runs = {key: run_trajectory(run) for key, (run, _grid, _caption) in built.items()}
    for key, preset in PRESETS.items():
        run, grid, caption = built[key]
        unknown = [name for name, _ in preset.params if f"{preset.optimizer}.{name}" not in PAGES[TOY].by_key]
        assert not unknown, f"preset {key} sets {unknown}, no setting of {preset.optimizer}"
        assert run == RunSpec(data=DataSpec(**dict(preset.data)), optimizer=OptimizerSpec(preset.optimizer, preset.params),
                              epochs=preset.epochs)
        assert grid.resolution == 57 and caption == f"{preset.label}: {preset.caption}"
        assert CAPTIONS[key](runs[key], base, runs), f"preset {key}: {preset.caption}"


def test_only_the_chosen_optimizer_shows_its_controls_and_gets_its_sliders_once_shown():
    """The hidden optimizers' groups hold no controls; the chosen one, first shown, is built (from
    the values of any of its controls the page holds, else its defaults), once."""
    from dashboard.ids import optimizer_group_id
    from dashboard.panels import GROUP_FULL, GROUP_LIGHT
    from dashboard.state import OPTIMIZERS

    outputs = [[{"id": optimizer_group_id(k), "property": p} for k in OPTIMIZERS] for p in ("style", "children",
                                                                                         "className")]
    boxes = [{"id": param_id("adam", "lr"), "property": "value"}, {"id": param_id("adam", "amsgrad"), "property": "value"}]
    classes = [GROUP_FULL if k == "sgd" else GROUP_LIGHT for k in OPTIMIZERS]
    states = [[{"id": optimizer_group_id(k), "property": "className"} for k in OPTIMIZERS], boxes]
    styles, children, names = call_callback(toy.show_optimizer, "adam", classes, ["0.25", ["on"]],
                                            outputs_list=outputs, states_list=states)
    assert [s == {} for s in styles] == [k == "adam" for k in OPTIMIZERS]
    built = children[list(OPTIMIZERS).index("adam")]
    text = json.dumps(built, cls=PlotlyJSONEncoder)
    assert "param-slider" in text and '"0.25"' in text and names[list(OPTIMIZERS).index("adam")] == GROUP_FULL
    assert all(c is no_update for k, c in zip(OPTIMIZERS, children) if k != "adam")
    again = call_callback(toy.show_optimizer, "adam", [GROUP_FULL if k == "adam" else c for k, c in zip(OPTIMIZERS, classes)],
                          ["0.25", ["on"]], outputs_list=outputs, states_list=states)
    assert all(c is no_update for c in again[1]), "a group built once keeps what it holds"


def test_code_tab_shows_the_script_of_the_current_run(server_context):
    out = render({"sgd.momentum": 0.9, "run.clip_grad_norm": True, "run.max_norm": 2.0}, loss="huber", tab="code")
    code = out["code"]
    assert "torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)" in code
    assert "torch.nn.HuberLoss(delta=1.0)" in code and "clip_grad_norm_(model.parameters(), max_norm=2.0)" in code
    assert all(figure is no_update for figure in figures(out))


def test_bce_shows_its_own_map_and_a_sigmoid_fit(server_context):
    out = render({"sgd.lr": 1.0}, loss="bce")
    map_fig, fit = out[ID.MAP], out[ID.FIT]
    assert map_fig["layout"]["title"]["text"] == "BCEWithLogitsLoss"
    assert "σ(w·x + b)" in fit["layout"]["title"]["text"]
    probabilities = fit["data"][2]["y"]
    assert len(probabilities) == 60 and all(0 < p < 1 for p in probabilities)
    all_tab = render(loss="bce", tab="all")
    assert "BCEWithLogitsLoss" not in str(all_tab[ID.ALL_MAPS]["layout"]["annotations"])


def test_a_grabbed_slider_gets_every_stop_on_the_batched_engine(server_context):
    from compute.preview import PreviewSpec, run_preview

    view = render()["view"]
    data = call_callback(toy.preview, {"key": "sgd.lr"}, view)
    expected = run_preview(PreviewSpec(RunSpec(), "lr"))
    assert data["key"] == "sgd.lr" and data["query"] == view["query"]
    assert data["values"] == list(OPTIMIZERS["sgd"].params[0].stops)
    np.testing.assert_array_equal(_decode(data["runs"][0]["w"]), expected.weight.reshape(-1))
    all_view = render(tab="all")["view"]
    assert len(call_callback(toy.preview, {"key": "sgd.momentum"}, all_view)["runs"]) == 4


@pytest.mark.parametrize("key", ["grid.resolution", "data.noise", "adam.lr", "run.max_norm", "huber.delta"])
def test_sliders_without_a_preview_say_so(server_context, key):
    data = call_callback(toy.preview, {"key": key}, render()["view"])
    assert "release" in data["note"]


@pytest.mark.parametrize(("want", "view"), [(None, None), ({"key": 3}, {}), ({"key": "sgd.lr"}, {"state": "x"})])
def test_a_tampered_preview_request_is_ignored(server_context, want, view):
    assert call_callback(toy.preview, want, view) is no_update


def test_the_map_follows_the_optimum_when_the_feature_changes():
    """x_offset 3 moves MSE's minimum: the map turns to a square around it that holds the start
    (compute.toy.follow_extent); a bad value, or a map already there, leaves it as it is."""
    from compute.toy import follow_extent
    from dashboard.panels import EXTENT_KEYS

    data = {"n": 50, "noise": 0.3, "seed": 20240215, "x_scale": 1.0, "x_offset": 3.0, "standardize": []}
    args = (1.0, 3.0, [], *data.values(), 6.0, -3.0, "mse")
    wanted = follow_extent(DataSpec(x_offset=3.0), "mse", 6.0, -3.0)
    assert call_callback(toy.follow, *args, -5.0, 8.0, -5.0, 8.0) == [wanted[k] for k in EXTENT_KEYS]
    there = call_callback(toy.follow, *args, *(wanted[k] for k in EXTENT_KEYS))
    assert there == [no_update] * 4
    bad = (1.0, 0.0, [], *{**data, "x_scale": 0.0}.values(), 6.0, -3.0, "mse")
    assert call_callback(toy.follow, *bad, -5.0, 8.0, -5.0, 8.0) == [no_update] * 4
