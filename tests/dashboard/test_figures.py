"""Figure builders are pure and every property they set is one Plotly knows."""

import dataclasses

import numpy as np
import plotly.graph_objects as go
import pytest

from compute import (
    DataSpec,
    GridSpec,
    OptimizerSpec,
    RunSpec,
    loss_grid,
    run_trajectory,
    toy_data,
)
from dashboard import figures as F
from dashboard.primitives import TERRAIN, log_label

GRID = loss_grid(GridSpec(resolution=21))
TRAJ = run_trajectory(RunSpec(epochs=30))
DIVERGED = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 3.0),)), epochs=100))
X, Y = toy_data(DataSpec())


def _decode(typed):
    return np.frombuffer(__import__("base64").b64decode(typed["bdata"]), dtype=typed["dtype"])


@pytest.mark.parametrize("log", [False, True])
def test_builders_validate_as_plotly_figures(log):
    figures = [
        F.make_map_figure(GRID, TRAJ, "MSELoss", 5, log),
        F.make_surface_figure(GRID, TRAJ, "MSELoss", 5, log),
        F.make_curve_figure({"a": TRAJ, "b": DIVERGED}, 5),
        F.make_fit_figure(X, Y, {"a": TRAJ}, 5),
        F.make_all_maps_figure(dict.fromkeys("abcd", GRID), dict.fromkeys("abcd", TRAJ), 5, log),
    ]
    for fig in figures:
        go.Figure(fig)  # raises on any unknown property or bad value


def test_map_draws_the_whole_path_and_the_step():
    fig = F.make_map_figure(GRID, TRAJ, "MSELoss", 7)
    path = fig["data"][1]
    np.testing.assert_array_equal(_decode(path["x"]), TRAJ.bias)
    np.testing.assert_array_equal(_decode(path["y"]), TRAJ.weight)
    current = fig["data"][F.MAP_CURRENT]
    assert current["name"] == "step" and current["x"] == [float(TRAJ.bias[7])]
    assert fig["data"][0]["z"]["shape"] == "21, 21"


def test_diverged_path_stops_at_the_last_finite_step():
    fig = F.make_map_figure(GRID, DIVERGED, "MSELoss")
    path_x = _decode(fig["data"][1]["x"])
    assert len(path_x) == DIVERGED.diverged_at and np.isfinite(path_x).all()
    surface = F.make_surface_figure(GRID, DIVERGED, "MSELoss")
    assert np.isfinite(_decode(surface["data"][1]["z"])).all()


def test_log_colour_changes_only_the_colouring():
    plain = F.make_map_figure(GRID, TRAJ, "MSELoss")
    logged = F.make_map_figure(GRID, TRAJ, "MSELoss", log=True)
    np.testing.assert_allclose(_decode(logged["data"][0]["z"]), np.log10(_decode(plain["data"][0]["z"])),
                               rtol=1e-6)
    assert plain["data"][1] == logged["data"][1]


def test_playback_indices_point_at_the_traces_that_move():
    fig = F.make_all_maps_figure(dict.fromkeys("abcd", GRID), dict.fromkeys("abcd", TRAJ))
    for i in range(4):
        assert fig["data"][i * F.MAP_TRACES_PER_PANEL + F.MAP_CURRENT]["name"] == "step"
        assert fig["data"][i * F.MAP_TRACES_PER_PANEL + F.MAP_ARROW]["name"] == "moment"
    assert F.make_surface_figure(GRID, TRAJ, "t")["data"][F.SURFACE_CURRENT]["name"] == "step"
    assert F.make_fit_figure(X, Y, {"a": TRAJ})["data"][F.FIT_FIRST_LINE]["name"] == "a"


def test_step_is_clamped_to_the_run():
    assert F.clamp_step(None, TRAJ) == 30 and F.clamp_step(999, TRAJ) == 30 and F.clamp_step(-4, TRAJ) == 0
    assert F.clamp_step(None, DIVERGED) == DIVERGED.diverged_at - 1


def test_page_builders_validate_as_plotly_figures():
    from compute.landscape import LandscapeSpec, landscape
    from compute.nets import TrainSpec, train
    from compute.sweep import SweepAxis, SweepSpec, run_sweep

    spec = TrainSpec(model="mlp", epochs=2)
    trained = train(spec)
    for mode in ("line", "plane", "pca"):
        result = landscape(LandscapeSpec(train=spec, mode=mode, resolution=5), trained)
        figures = [F.make_line_figure(result, True)] if mode == "line" else [
            F.make_plane_figure(result, True), F.make_landscape_surface(result)]
        for fig in figures:
            go.Figure(fig)
    go.Figure(F.make_training_figure(trained))
    sweep = run_sweep(SweepSpec(x=SweepAxis("lr", 0.01, 3, 6, True), y=SweepAxis("momentum", 0, 0.9, 4)))
    go.Figure(F.make_sweep_figure(sweep, "lr", "momentum", True, False, True))
    runs = {"1 · SGD": TRAJ, "2 · diverged": DIVERGED}
    go.Figure(F.make_compare_map_figure(GRID, runs, "MSELoss", True))
    go.Figure(F.make_compare_surface_figure(GRID, runs, "MSELoss"))


def test_the_default_sweep_shows_divergence_the_theory_line_and_honest_colours():
    """The default ranges reach past SGD's bound: diverged cells and the theory's line on the map.
    A converged cell's hover is its measure (the diverged layer has a gap there, and gaps hover
    nothing). Runs that blew up without overflowing (past the bound, not yet inf) do not stretch
    the colour scale: it ends at the start's loss, and the colour bar says what the top colour holds."""
    from compute.curvature import sweep_stability
    from compute.sweep import SweepSpec, run_sweep

    spec = SweepSpec()
    sweep, ratio = run_sweep(spec), sweep_stability(spec)
    diverged = sweep.diverged_at >= 0
    assert 0 < diverged.sum() < diverged.size and (ratio < 1).any() and (ratio > 1).any()
    assert not diverged[ratio < 0.97].any(), "nothing diverges well inside the theory's bound"
    figure = F.make_sweep_figure(sweep, "lr", "momentum", True, False, True, ratio)
    measure, red, line = figure["data"]
    assert measure["hoverongaps"] is False and red["hoverongaps"] is False and line["type"] == "contour"
    finite = np.isfinite(sweep.value)
    top = float(np.log10(np.nanmax(sweep.start)))
    if (sweep.value[finite] > np.nanmax(sweep.start)).any():  # runs past the bound that have not overflowed
        assert measure["zmax"] == pytest.approx(top) and "above the start" in measure["colorbar"]["title"]["text"]
    blown = dataclasses.replace(sweep, value=np.where(finite, sweep.value, 1e35))
    shown = F.make_sweep_figure(blown, "lr", "momentum", True, False, True)["data"][0]
    assert shown["zmax"] == pytest.approx(top) and shown["zmin"] == pytest.approx(np.log10(np.nanmin(blown.value)))
    calm = dataclasses.replace(sweep, value=np.where(sweep.value > np.nanmax(sweep.start), np.nan, sweep.value))
    assert "zmax" not in F.make_sweep_figure(calm, "lr", "momentum", True, False, True)["data"][0]


@pytest.mark.parametrize("module", ["toy", "compare", "sweep", "landscape"])
def test_no_figure_offers_to_upload_itself(module):
    """Plotly's "Share chart" button sends the figure to Plotly's cloud: no page shows it."""
    import importlib

    from dash import dcc

    page = importlib.import_module(f"dashboard.pages.{module}")

    def graphs(component):
        if isinstance(component, dcc.Graph):
            yield component
        children = getattr(component, "children", None)
        for child in children if isinstance(children, list) else [children] if children is not None else []:
            yield from graphs(child)

    found = list(graphs(page.layout()))
    assert found
    for g in found:
        assert g.config["showSendToCloud"] is False and "sendDataToCloud" in g.config["modeBarButtonsToRemove"]


def test_the_browser_code_names_the_components_as_dashboard_ids_does():
    """assets/descent.js addresses a few components by their IDs: they must be the ones ids.py types;
    a live drag's components it reads from the page (each page's badge names its page and its store)."""
    import re
    from pathlib import Path

    from compute import OPTIMIZERS
    from dashboard.controls import param_control
    from dashboard.ids import ID, PARAM_SLIDER, TOY, CompareID, param_part_id
    from dashboard.pages import compare, toy
    from dashboard.panels import preview_parts

    script = (Path(__file__).resolve().parents[2] / "assets" / "descent.js").read_text()
    named = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', script)) - {"aria-valuenow", "aria-hidden", "step-line", "descent-lab",
                                                                    "descent-fill-maps", "peek-top", "peek-foot",
                                                                    "descent-address", "descent-lesson-draft"}
    # the lesson bar's links by their classes (dashboard/player.py writes them)
    player = (Path(__file__).resolve().parents[2] / "dashboard" / "player.py").read_text()
    assert all(f'className="{name}"' in player for name in ("lesson-prev", "lesson-next"))
    assert named == {"nudge-up", ID.PRESENT_NEXT, ID.MAP_FILL, ID.LESSONS, ID.LESSON_DRAFT, "lesson-prev", "lesson-next"}
    for ids, page, badge, want in ((toy.PREVIEW, TOY, ID.ENGINE, ID.PREVIEW_WANT),
                                   (compare.PREVIEW, "compare", CompareID.ENGINE, CompareID.PREVIEW_WANT)):
        shown = preview_parts(ids, page)[0]
        assert (shown.id, shown.className, getattr(shown, "data-page"), getattr(shown, "data-want")) == (
            badge, "engine", page, want)
    assert "page.dataset.want" in script and ".engine[data-want][data-page=" in script
    # the room's script (assets/room.js): the top bar's button and bar, its sessionStorage key
    room = (Path(__file__).resolve().parents[2] / "assets" / "room.js").read_text()
    # (and Dash's own config block, for the app's base path)
    # (and the chart of a question's answers, an element the script makes itself)
    assert set(re.findall(r'getElementById\("([^"]+)"\)', room)) == {ID.ROOM, ID.ROOM_BAR, "_dash-config", "room-answers"}
    assert 'el("div", {class: "room-answers", id: "room-answers"})' in room
    assert f'closest("#{ID.ROOM}")' in room
    # the slider's ID: the control carries it (dashboard/ids.py param_part_id), the script reads it
    assert "sliderId: root.dataset.slider" in script
    compared = param_control("adam", OPTIMIZERS["adam"].params[0], 0.1, "compare", 2)
    assert getattr(compared, "data-slider") == param_part_id(PARAM_SLIDER, "adam", "lr", "compare", 2)
    assert compared.children[2].id == getattr(compared, "data-slider")
    control = param_control("sgd", OPTIMIZERS["sgd"].params[0], 0.1)
    up = control.children[1].children[2]
    assert up.className.split() == ["nudge", "nudge-up"] and control.children[1].children[0].className == "nudge nudge-down"
    assert getattr(control, "data-key") == "sgd.lr" and getattr(control, "data-page") == TOY


def _plane(**kw):
    """A small synthetic plane (no training): what the landscape's figures are drawn from."""
    from compute.landscape import Landscape

    rng = np.random.default_rng(0)
    coords = np.linspace(-1, 1, 5, dtype=np.float32)
    return Landscape(**{"mode": "plane", "coords": coords, "train_loss": rng.random((5, 5), np.float32) + 1e-3,
                        "train_acc": rng.random((5, 5), np.float32), "test_loss": None, "test_acc": None,
                        "description": "plane: two directions", **kw})


def test_the_sharpness_figures_read_cleanly_and_do_not_repeat_themselves():
    """The right-hand axes keep their own ticks and draw no zero line across the plot; without
    Hutchinson's probes the Hessian panel does not repeat the sharpness panel's λmax(H) (it says how
    to draw the trace), but beside Adam's preconditioned sharpness it still draws λmax(H)."""
    from compute.spectrum import Sharpening

    steps = np.arange(0, 30, 5)
    curve = np.linspace(0.6, 0.7, len(steps))
    result = Sharpening(steps, curve, curve, np.full(len(steps), np.nan), np.linspace(2.30, 2.25, len(steps)),
                        40.0, "2/lr", False)
    sharp = F.make_sharpening_figure(result, 0.05)
    assert sharp["layout"]["yaxis2"]["tickmode"] == "auto" and sharp["layout"]["yaxis2"]["zeroline"] is False
    alone = F.make_hessian_figure(result, 0)
    assert alone["data"] == [] and "set trace_samples" in alone["layout"]["annotations"][0]["text"]
    traced = F.make_hessian_figure(dataclasses.replace(result, trace=curve * 5), 3)
    assert [t["name"] for t in traced["data"]] == ["λmax(H)", "trace (Hutchinson, 3 probes)"]
    assert traced["layout"]["yaxis2"]["tickmode"] == "auto"
    adam = F.make_hessian_figure(dataclasses.replace(result, preconditioned=True, sharpness=curve * 30), 0)
    assert [t["name"] for t in adam["data"]] == ["λmax(H)"]
    for figure in (sharp, traced, adam):
        go.Figure(figure)


def test_a_vs_b_names_each_plane_in_lines_that_fit_its_half():
    """A vs B's planes are named on two short lines each (they ran into one jumble on one line), and
    the line between them has a short title with the details under it (a long one was cut at the left)."""
    plane = _plane()
    names = ("A: batch 64, λmax 123.4", "B: batch 1024, λmax 0.0001234")
    figure = F.make_plane_pair_figure(plane, plane, names)
    texts = [a["text"] for a in figure["layout"]["annotations"]]
    assert texts == ["<b>A: batch 64</b><br>λmax 123.4", "<b>B: batch 1024</b><br>λmax 0.0001234"]
    half = (figure["layout"]["xaxis"]["domain"][1] - figure["layout"]["xaxis"]["domain"][0]) * 390  # px on a phone
    for text in texts:  # each line within its half at about 7 px a character (12 px text)
        assert max(len(line.replace("<b>", "").replace("</b>", "")) for line in text.split("<br>")) * 7 <= half
    line = F.make_line_figure(plane, False, "1D: from A (α = 0) to B (α = 1)<br><sup>details</sup>")["layout"]
    assert line["margin"]["t"] >= 70  # room for the second line


@pytest.mark.parametrize("log", [False, True])
def test_every_loss_map_and_surface_is_drawn_alike(log):
    """Every page's loss maps: terrain colours, the same contour lines, z the loss or its log10, and
    the colour bar, the hover and a surface's z axis all saying which (the all-maps view: "log10" alone)."""
    label = "log10 loss" if log else "loss"
    plane, pca = _plane(), _plane(mode="pca", path=np.zeros((3, 2), np.float32), explained=np.array([0.6, 0.3]))
    runs = {"1 · SGD": TRAJ, "2 · diverged": DIVERGED}
    on_grid = [F.make_map_figure(GRID, TRAJ, "MSELoss", 5, log)["data"][0],
               F.make_compare_map_figure(GRID, runs, "MSELoss", log)["data"][0],
               *F.make_all_maps_figure(dict.fromkeys("ab", GRID), dict.fromkeys("ab", TRAJ), 5, log)["data"][::7]]
    on_plane = [F.make_plane_figure(plane, log)["data"][0], *F.make_plane_pair_figure(plane, pca, ("A", "B"), log)["data"]]
    maps = ([(t, GRID.loss, 25, "fill") for t in on_grid]
            + [(t, r.train_loss, 30, "heatmap") for t, r in zip(on_plane, (plane, plane, pca), strict=True)])
    for trace, loss, levels, coloring in maps:
        assert trace["type"] == "contour" and trace["colorscale"] == TERRAIN
        assert trace["line"] == {"color": "rgba(0,0,0,0.3)", "width": 1}
        assert (trace["ncontours"], trace["contours"]) == (levels, {"coloring": coloring})
        np.testing.assert_allclose(_decode(trace["z"]), (np.log10(loss) if log else loss).reshape(-1), rtol=1e-6)
        assert f"<br>{label} %{{z:" in trace["hovertemplate"]
    assert [t["colorbar"]["title"]["text"] for t, *_ in maps] == [label, label, *["log10" if log else ""] * 2,
                                                                  label, label, label]
    surfaces = [F.make_surface_figure(GRID, TRAJ, "MSELoss", 5, log), F.make_compare_surface_figure(GRID, runs, "MSELoss", log),
                F.make_landscape_surface(plane, log)]
    for fig, raw in zip(surfaces, (GRID.loss, GRID.loss, plane.train_loss)):
        surface = fig["data"][0]
        assert surface["type"] == "surface" and surface["colorscale"] == TERRAIN and surface["showscale"] is False
        np.testing.assert_allclose(_decode(surface["z"]), (np.log10(raw) if log else raw).reshape(-1), rtol=1e-6)
        assert fig["layout"]["scene"]["zaxis"]["title"]["text"] == label
        assert fig["layout"]["margin"] == {"l": 0, "r": 0, "t": 50, "b": 0}


def test_every_path_is_drawn_alike():
    """A path on a map: line 2, markers 4, in its run's colour; in 3D: line 5, markers 2.5, z its loss."""
    runs = {"1 · SGD": TRAJ, "2 · diverged": DIVERGED}
    flat = [F.make_map_figure(GRID, TRAJ, "MSELoss")["data"][1], *F.make_compare_map_figure(GRID, runs, "t")["data"][1:7:3]]
    assert [t["line"]["color"] for t in flat] == [F.PATH_COLOUR, *F.RUN_COLOURS[:2]]
    for trace in flat:
        assert trace["mode"] == "lines+markers" and trace["line"]["width"] == 2 and trace["marker"]["size"] == 4
        assert trace["marker"]["color"] == trace["line"]["color"] and "loss %{text:.5g}" in trace["hovertemplate"]
    np.testing.assert_array_equal(_decode(flat[2]["text"]), DIVERGED.loss[:DIVERGED.finite_steps])
    solid = [F.make_surface_figure(GRID, TRAJ, "t")["data"][1], *F.make_compare_surface_figure(GRID, runs, "t")["data"][1:]]
    for trace in solid:
        assert trace["type"] == "scatter3d" and trace["line"]["width"] == 5 and trace["marker"]["size"] == 2.5
    np.testing.assert_array_equal(_decode(solid[2]["z"]), DIVERGED.loss[:DIVERGED.finite_steps])
    trained = F.make_plane_figure(_plane(mode="pca", path=np.ones((3, 2), np.float32), explained=np.ones(2)))["data"][-1]
    assert trained["name"] == "training path" and trained["marker"]["size"] == 6 and trained["line"]["width"] == 2


def test_the_fit_draws_the_true_curve_the_data_is_drawn_from():
    fit = F.make_fit_figure(X, Y, {"a": TRAJ})["data"][1]
    smooth = np.linspace(float(X.min()), float(X.max()), 100)
    assert fit["name"] == "0.75x² + x + 2"
    np.testing.assert_array_equal(_decode(fit["y"]), 0.75 * smooth**2 + smooth + 2.0)
    boundary = F.make_fit_figure(X, (Y > 3).astype(np.float32), {"a": TRAJ}, problem="classification")["data"][1]
    assert boundary["x"] == [-0.5, -0.5] and boundary["name"] == "x = −0.5 (noise-free boundary)"


@pytest.mark.parametrize(("log", "what", "label"), [(False, "loss", "loss"), (True, "loss", "log10 loss"),
                                                    (True, "", "log10"), (False, "", ""),
                                                    (True, "final loss", "log10 final loss")])
def test_log_label(log, what, label):
    assert log_label(log, what) == label
