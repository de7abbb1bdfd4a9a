"""Figure builders are pure and every property they set is one Plotly knows."""

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


def test_playback_indices_point_at_step_traces():
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
    """assets/descent.js addresses a few components by their IDs: they must be the ones ids.py types."""
    import re
    from pathlib import Path

    from compute import OPTIMIZERS
    from dashboard.controls import param_control
    from dashboard.ids import ID, PARAM_SLIDER, TOY, param_part_id

    script = (Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "descent.js").read_text()
    named = set(re.findall(r'"([a-z]+(?:-[a-z]+)+)"', script)) - {"aria-valuenow", "step-line", "descent-lab"}
    assert named == {ID.ENGINE, ID.PREVIEW_WANT, ID.PREVIEW, "nudge-up"}
    # the room's script (assets/room.js): the top bar's button and bar, its sessionStorage key
    room = (Path(__file__).resolve().parents[2] / "dashboard" / "assets" / "room.js").read_text()
    assert set(re.findall(r'getElementById\("([^"]+)"\)', room)) == {ID.ROOM, ID.ROOM_BAR}
    assert f'closest("#{ID.ROOM}")' in room
    assert f'dataset.page === "{TOY}"' in script
    # the slider's ID: the control carries it (dashboard/ids.py param_part_id), the script reads it
    assert "sliderId: root.dataset.slider" in script
    compared = param_control("adam", OPTIMIZERS["adam"].params[0], 0.1, "compare", 2)
    assert getattr(compared, "data-slider") == param_part_id(PARAM_SLIDER, "adam", "lr", "compare", 2)
    assert compared.children[2].id == getattr(compared, "data-slider")
    control = param_control("sgd", OPTIMIZERS["sgd"].params[0], 0.1)
    up = control.children[1].children[2]
    assert up.className.split() == ["nudge", "nudge-up"] and control.children[1].children[0].className == "nudge nudge-down"
    assert getattr(control, "data-key") == "sgd.lr" and getattr(control, "data-page") == TOY
