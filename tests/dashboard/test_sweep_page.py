"""The sweep page's callbacks as plain functions."""

import importlib
from urllib.parse import parse_qsl, urlparse

import numpy as np
import pytest
from dash import no_update

from compute import OPTIMIZERS
from compute.curvature import sweep_stability
from compute.sweep import run_sweep
from dashboard.callback_requests import control_values
from dashboard.controls import CHECKED
from dashboard.ids import SWEEP, SweepID, param_id, param_msg_id
from dashboard.state import FIELDS, build_sweep, default_state

from .conftest import blank, call_callback

sweep_page = importlib.import_module("dashboard.pages.sweep")
SWEEP_FIELDS = [f for f in FIELDS if f.group == "sweep"]


def check(overrides=None, loss="mse", optimizer="sgd", x="lr", y="momentum", measure="final_loss", shown=(),
          schedule="none", surface="none"):
    values = control_values(overrides)
    inputs_list = [[{"id": param_id(f.group, f.param.name, SWEEP), "property": "value", "value": v}
                    for f, v in zip(FIELDS, values)]]
    outputs_list = [[{"id": param_msg_id(f.group, f.param.name, SWEEP), "property": "children"} for f in FIELDS]]
    return call_callback(sweep_page.check_sweep, values, surface, loss, optimizer, schedule, x, y, measure, list(shown),
                         inputs_list=inputs_list, outputs_list=outputs_list)[:-1]


def test_valid_settings_become_a_request():
    messages, status, request = check({"sweep.x_points": 20})
    assert all(blank(m) for m in messages) and status == []
    assert request["state"]["sweep.x_points"] == 20 and "sweep.x_points=20" in request["query"]


@pytest.mark.parametrize(("overrides", "kwargs", "fragment"), [
    ({"sweep.x_points": 5000}, {}, "points must be"),
    ({"sweep.x_lo": 0.0}, {}, "log axis needs lo > 0"),
    ({"sweep.x_lo": "abc"}, {}, "needs a number"),
    ({}, {"y": "lr"}, "different hyperparameters"),
    ({}, {"x": "beta1"}, "no numeric hyperparameter"),
    ({"run.epochs": 2000, "sweep.x_points": 300, "sweep.y_points": 300}, {}, "run-steps"),
    ({"sgd.nesterov": True, "sgd.momentum": 0.5}, {}, "nesterov needs momentum > 0"),
])
def test_bad_sweeps_say_why_and_run_nothing(overrides, kwargs, fragment):
    messages, status, request = check(overrides, **kwargs)
    assert fragment in " ".join(map(str, messages)) + str(status)
    assert request is no_update


def test_sweep_runs_the_request_with_progress(server_context):
    _, _, request = check({"sweep.x_points": 12, "sweep.y_points": 5, "run.epochs": 30})
    reports = []
    figure, text = call_callback(sweep_page.sweep, reports.append, request, 0).values()
    expected = run_sweep(build_sweep(request["state"]))
    z = np.frombuffer(__import__("base64").b64decode(figure["data"][1]["z"]["bdata"]), dtype=np.float32)
    assert (np.isfinite(z) == (expected.diverged_at.ravel() >= 0)).all()
    assert "60 runs × 30 steps done" in text
    assert reports[0][0] == "0" and reports[-1][0] == reports[-1][1] == "30"
    theory = figure["data"][2]  # SGD on MSE, full batch: the theory's boundary, dashed
    assert theory["type"] == "contour" and theory["contours"]["start"] == 1 and "Dashed" in text
    z = np.frombuffer(__import__("base64").b64decode(theory["z"]["bdata"]), dtype=np.float32)
    np.testing.assert_allclose(z, sweep_stability(build_sweep(request["state"])).ravel(), rtol=1e-6)
    _, _, other = check({"sweep.x_points": 12, "sweep.y_points": 5, "run.epochs": 30}, loss="huber")
    figure, text = call_callback(sweep_page.sweep, reports.append, other, 0).values()
    assert len(figure["data"]) == 2 and "Dashed" not in text  # the theory is MSE's


@pytest.mark.parametrize("request_", [None, "x", {}, {"state": "x"}, {"state": {"sgd.lr": "bad"}}, {"state": {"sweep.x_lo": 0}}])
def test_sweep_refuses_a_bad_request(server_context, request_):
    figure, text = call_callback(sweep_page.sweep, lambda _: None, request_, 1).values()
    assert figure is no_update and text.startswith("No sweep")


def test_clicking_a_cell_opens_that_run():
    state = {**default_state(), "sweep.y": "momentum"}
    href = sweep_page.open_run({"points": [{"x": 0.0316, "y": 0.45}]}, {"state": state, "query": ""})
    query = dict(parse_qsl(urlparse(href).query))
    assert urlparse(href).path == "/" and query["sgd.lr"] == "0.0316" and query["sgd.momentum"] == "0.45"
    for junk in (None, {}, {"points": [{"x": "a", "y": 1}]}):
        assert sweep_page.open_run(junk, {"state": state}) is no_update
    assert sweep_page.open_run({"points": [{"x": 1e9, "y": 0.4}]}, {"state": state}) is no_update


def test_a_cell_opens_at_the_values_its_hover_shows():
    """A log axis's cells sit at values like 0.031622776601683794; the hover shows 0.03162."""
    state = {**default_state(), "sweep.y": "momentum"}
    href = sweep_page.open_run({"points": [{"x": 0.031622776601683794, "y": 0.45454545454545453}]},
                               {"state": state, "query": ""})
    query = dict(parse_qsl(urlparse(href).query))
    assert query["sgd.lr"] == "0.03162" and query["sgd.momentum"] == "0.4545"


def test_choosing_an_optimizer_offers_its_axes():
    outputs_list = [None, None, None, None,
                    [{"id": param_id("sweep", f.param.name, SWEEP), "property": "value"} for f in SWEEP_FIELDS]]
    out = call_callback(sweep_page.choose_axes, "adam", "none", "lr", "momentum", outputs_list=outputs_list,
                        triggered=[(SweepID.OPTIMIZER, "value")])
    x_options, x, _, y, values = out
    assert [o["value"] for o in x_options] == [p.name for p in OPTIMIZERS["adam"].params if p.kind is not bool]
    assert (x, y) == ("lr", "beta1")
    new = {f.param.name: v for f, v in zip(SWEEP_FIELDS, values) if v is not no_update}
    assert new == {"y_lo": 0.0, "y_hi": 0.99, "y_log": []}


def test_a_schedule_offers_its_arguments_as_axes_and_a_cell_opens_its_run():
    outputs_list = [None, None, None, None,
                    [{"id": param_id("sweep", f.param.name, SWEEP), "property": "value"} for f in SWEEP_FIELDS]]
    out = call_callback(sweep_page.choose_axes, "sgd", "warmup", "lr", "schedule.warmup_steps",
                        outputs_list=outputs_list, triggered=[(SweepID.Y, "value")])
    options = {o["value"]: o["label"] for o in out[0]}
    assert options["schedule.warmup_steps"] == "SequentialLR: warmup_steps" and "schedule.T_max" in options
    assert out[3] == "schedule.warmup_steps"
    new = {f.param.name: v for f, v in zip(SWEEP_FIELDS, out[4]) if v is not no_update}
    assert new == {"y_lo": 1, "y_hi": 1000, "y_log": [CHECKED]}
    state = {**default_state(SWEEP), "schedule": "warmup", "sweep.x": "lr", "sweep.y": "schedule.warmup_steps",
             "sweep.y_lo": 1, "sweep.y_hi": 20, "sweep.y_log": False}
    href = call_callback(sweep_page.open_run, {"points": [{"x": 0.05, "y": 6}]}, {"state": state, "query": ""})
    query = dict(parse_qsl(urlparse(href).query))
    assert query["schedule"] == "warmup" and query["schedule_warmup.warmup_steps"] == "6" and query["sgd.lr"] == "0.05"


def test_choosing_a_log_axis_sets_its_span():
    outputs_list = [None, None, None, None,
                    [{"id": param_id("sweep", f.param.name, SWEEP), "property": "value"} for f in SWEEP_FIELDS]]
    out = call_callback(sweep_page.choose_axes, "sgd", "none", "lr", "weight_decay", outputs_list=outputs_list,
                        triggered=[(SweepID.Y, "value")])
    new = {f.param.name: v for f, v in zip(SWEEP_FIELDS, out[4]) if v is not no_update}
    assert new == {"y_lo": 1e-4, "y_hi": 2.0, "y_log": ["on"]}  # weight_decay lives in decades
    out = call_callback(sweep_page.choose_axes, "sgd", "none", "momentum", "lr", outputs_list=outputs_list,
                        triggered=[(SweepID.Y, "value")])
    new = {f.param.name: v for f, v in zip(SWEEP_FIELDS, out[4]) if v is not no_update}
    assert new == {"y_lo": 0.001, "y_hi": 1.0, "y_log": [CHECKED]}
