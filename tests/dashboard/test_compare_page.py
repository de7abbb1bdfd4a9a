"""The compare page's callbacks as plain functions, and its state in links."""

import base64
import importlib
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qsl

import numpy as np
import pytest
from dash import no_update

from compute import OPTIMIZERS, OptimizerSpec, RunSpec, run_trajectory
from dashboard.controls import CHECKED
from dashboard.ids import COMPARE, CompareID, optimizer_group_id, param_id, param_msg_id, run_part_id
from dashboard.panels import NO_PREVIEW
from dashboard.state import COUNT, FIELDS, MAX_RUNS, default_state, from_query

from .conftest import blank, call_callback
from .grouping import grouped

compare = importlib.import_module("dashboard.pages.compare")
SHARED = list(FIELDS)
ADAM_LR = OPTIMIZERS["adam"].params[0]
RUN_CONTROLS = [(i, key, p) for i in range(MAX_RUNS) for key, row in OPTIMIZERS.items() for p in row.params]


def _control(value, kind):
    return ([CHECKED] if value else []) if kind is bool else value


def render(overrides=None, count=2, loss="mse", drawn=None, triggered=None, shown=(), step=None):
    """The render callback's outputs, by name."""
    state = {**default_state(COMPARE), **(overrides or {})}
    shared = [_control(state[f.key], f.param.kind) for f in SHARED]
    per_run = [_control(state[f"r{i}.{key}.{p.name}"], p.kind) for i, key, p in RUN_CONTROLS]
    optimizers = [state[f"r{i}.optimizer"] for i in range(MAX_RUNS)]
    inputs_list = [
        [{"id": param_id(f.group, f.param.name, COMPARE), "property": "value"} for f in SHARED],
        [{"id": param_id(key, p.name, COMPARE, i), "property": "value"} for i, key, p in RUN_CONTROLS],
        [{"id": run_part_id("optimizer", i), "property": "value"} for i in range(MAX_RUNS)],
    ]
    slots = grouped(compare.render,
                    shared_messages=[{"id": param_msg_id(f.group, f.param.name, COMPARE), "property": "children"}
                                     for f in SHARED],
                    run_messages=[{"id": param_msg_id(key, p.name, COMPARE, i), "property": "children"}
                                  for i, key, p in RUN_CONTROLS])
    out = call_callback(slots, shared, per_run, optimizers, count, loss, state.get("schedule", "none"), [],
                        state.get("surface", "none"), step, drawn,
                        list(shown),
                        inputs_list=inputs_list, triggered=triggered)
    assert list(out) == list(compare.RENDER_OUTPUTS), "every output, in the callback's order"
    return out


def test_default_comparison_draws_both_runs(server_context):
    out = render()
    run_msgs, status, map_fig, curve, store = (out[k] for k in ("run_messages", "status", "map", "curve", "view"))
    names = [t["name"] for t in map_fig["data"] if t.get("mode") == "lines+markers"]
    assert names == ["1 · SGD lr=0.1 momentum=0.9", "2 · Adam lr=0.1"]
    assert [t["name"] for t in curve["data"][::2]] == names
    sgd = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9),))))
    assert curve["data"][1]["y"] == [float(sgd.loss[-1])]
    query = dict(parse_qsl(store["query"][1:]))
    assert query == {}  # the default comparison: a short link holds what differs from the defaults
    query = dict(parse_qsl(render({"r1.adam.lr": 0.05, "r2.adam.lr": 0.3, "r0.adam.lr": 0.2})["view"]["query"][1:]))
    assert query == {"r1.adam.lr": "0.05"}  # only each shown run's chosen optimizer travels
    assert all(blank(m) for m in run_msgs) and status == []
    # each compared run's card opens it in the toy lab (a card not in use: the toy lab's own address)
    out = render({"r1.adam.lr": 0.05})
    assert [out[f"to_toy_{i}"] for i in range(MAX_RUNS)] == ["/?sgd.momentum=0.9", "/?adam.lr=0.05&optimizer=adam",
                                                             "/", "/"]


def test_a_bad_value_in_one_run_is_marked_by_its_control(server_context):
    out = render({"r1.adam.beta1": 1.5})
    marked = [(i, key, p.name) for (i, key, p), m in zip(RUN_CONTROLS, out["run_messages"]) if not blank(m)]
    assert marked == [(1, "adam", "beta1")] and out["map"] is no_update
    run_msgs = render({"r0.sgd.nesterov": True, "r0.sgd.momentum": 0.0})["run_messages"]
    assert any("nesterov needs momentum > 0" in m for m in run_msgs if not blank(m))


def test_four_runs_of_any_optimizer(server_context):
    out = render(count=4)
    names = [t["name"] for t in out["map"]["data"] if t.get("mode") == "lines+markers"]
    assert [n.split(" ")[2] for n in names] == ["SGD", "Adam", "RMSprop", "Adagrad"]


def test_a_run_change_over_the_map_on_screen_sends_no_map(server_context):
    changed = [(param_id("adam", "lr", COMPARE, 1), "value")]
    store = render()["view"]
    out = render({"r1.adam.lr": 0.05}, drawn=store, triggered=changed)
    assert out["map"] is no_update and out["traces"]["figure"] == CompareID.MAP
    assert 0 not in out["traces"]["traces"], "the contour (trace 0) stays as drawn"
    for out in (render(count=3, drawn=store, triggered=changed), render({"grid.resolution": 51}, drawn=store,
                                                                           triggered=changed)):
        assert isinstance(out["map"], dict) and out["traces"] is no_update, "a new run or a new map: all sent"


def _edit(trigger, count=2, optimizers=("sgd", "adam", "sgd", "sgd"), changes=None):
    items = [{"id": param_id(key, p.name, COMPARE, i), "property": "value"} for i, key, p in RUN_CONTROLS]
    state = {**default_state(COMPARE), **(changes or {})}
    values = [_control(state[f"r{i}.{key}.{p.name}"], p.kind) for i, key, p in RUN_CONTROLS]
    groups = [{"id": optimizer_group_id(key, COMPARE, i), "property": "children"}
              for i in range(MAX_RUNS) for key in OPTIMIZERS]
    return call_callback(compare.edit_runs, [0] * 4, [0] * 4, values, list(optimizers), count,
                         inputs_list=[], outputs_list=[groups, groups], triggered=[(trigger, "n_clicks")],
                         states_list=[items])


def _boxes(children, classes) -> dict:
    """Each built card group's number boxes: (run, optimizer, setting) → value."""
    found = {}
    for (i, key), group, name in zip([(i, k) for i in range(MAX_RUNS) for k in OPTIMIZERS], children, classes):
        assert (name == compare.GROUP_FULL) == bool(group), "a chosen optimizer's group holds controls, the others none"
        for p in OPTIMIZERS[key].params:
            value = _value_of(group, p.name)
            if value is not None:
                found[(i, key, p.name)] = value
    return found


def _value_of(group: list, name: str):
    """The value of the control named ``name`` among a group's components."""
    stack = list(group)
    while stack:
        props = stack.pop().to_plotly_json()["props"]
        ident = props.get("id")
        if isinstance(ident, dict) and ident.get("type") == "param" and ident.get("name") == name:
            return props.get("value")
        children = props.get("children")
        stack += [c for c in (children if isinstance(children, list) else [children]) if hasattr(c, "to_plotly_json")]
    return None


def test_duplicate_copies_a_run_into_the_next_slot():
    children, classes, optimizers, count = _edit(run_part_id("duplicate", 1), changes={"r1.adam.lr": 0.25})
    got = _boxes(children, classes)
    assert count == 3 and optimizers[2] == "adam" and got[(2, "adam", "lr")] == 0.25
    assert got[(1, "adam", "lr")] == 0.25 and (2, "rmsprop", "lr") not in got


def test_remove_moves_the_later_runs_up():
    children, classes, optimizers, count = _edit(run_part_id("remove", 0), changes={"r1.adam.lr": 0.25})
    got = _boxes(children, classes)
    assert count == 1 and optimizers[0] == "adam" and got[(0, "adam", "lr")] == 0.25


def test_edits_past_the_limits_change_nothing():
    *_, count = _edit(run_part_id("duplicate", 0), count=MAX_RUNS)
    assert count is no_update
    *_, count = _edit(run_part_id("remove", 0), count=1)
    assert count is no_update


def test_at_the_most_runs_duplicate_is_off_and_says_why():
    """A fifth duplicate did nothing, silently: at MAX_RUNS each duplicate button is off with a title
    that says why, and the Runs section says it too."""
    cards = [[{"id": run_part_id(part, i), "property": prop} for i in range(MAX_RUNS)]
             for part, prop in (("card", "style"), ("duplicate", "disabled"), ("duplicate", "title"))]
    for count, full in ((2, False), (MAX_RUNS, True)):
        styles, disabled, titles, note = call_callback(compare.show_cards, count,
                                                       outputs_list=[*cards, {"id": CompareID.RUNS_NOTE}])
        assert [s.get("display") != "none" for s in styles] == [i < count for i in range(MAX_RUNS)]
        assert disabled == [full] * MAX_RUNS and (note == compare.FULL) == full
        assert all(("remove one" in title) == full for title in titles)


def test_links_keep_the_runs():
    state, notes = from_query({"compare.runs": "3", "r2.optimizer": "rmsprop", "r2.rmsprop.centered": "true",
                               "r1.adam.lr": "0.02"}, COMPARE)
    assert notes == [] and state[COUNT.key] == 3 and state["r2.rmsprop.centered"] is True
    state, notes = from_query({"compare.runs": "9", "r1.adam.beta1": "2"}, COMPARE)
    assert len(notes) == 2 and state[COUNT.key] == 2


def test_playback_marks_each_run_at_the_step(server_context):
    """The compare page plays back too: a link's step on the first load, each run's marker there."""
    out = render({"run.epochs": 30}, step=12, triggered=())
    map_fig, curve, store, steps, step = (out[k] for k in ("map", "curve", "view", "step_max", "step"))
    assert (steps, step) == (30, 12)
    sgd = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), epochs=30))
    marker = next(t for t in map_fig["data"] if t.get("name") == "1 · SGD lr=0.1 momentum=0.9 step")
    assert marker["x"] == [float(sgd.bias[12])] and marker["y"] == [float(sgd.weight[12])]
    assert curve["data"][1]["x"] == [12]
    play = store["play"]
    assert play["step"] == 12 and play["traces"]["arrow"] is None and len(play["runs"]) == 2
    index = [i for i, t in enumerate(map_fig["data"]) if t.get("name", "").endswith(" step")]
    per, current = play["traces"]["perPanel"], play["traces"]["current"]
    assert index == [per * i + current for i in range(2)], "the browser moves these traces"
    later = render({"run.epochs": 30}, step=12,  # a change: playback goes to the end
                   triggered=[(param_id("run", "epochs", COMPARE), "value")])
    assert later["step"] == 30


def _decoded(typed):
    return np.frombuffer(base64.b64decode(typed["bdata"]), dtype=typed["dtype"])


def test_dragging_a_runs_slider_previews_that_run_only(server_context):
    """One preview a drag, of the dragged run: its stops on the batched engine, at its place among the
    runs (its map traces, curve and fitted line); at the value on screen it is that run's torch run."""
    view = render(count=4)["view"]
    data = call_callback(compare.preview, {"key": "r1.adam.lr"}, view)
    assert data["key"] == "r1.adam.lr" and data["query"] == view["query"]
    assert data["values"] == list(ADAM_LR.stops) and [run["panel"] for run in data["runs"]] == [1]
    adam = run_trajectory(RunSpec(optimizer=OptimizerSpec("adam", (("lr", 0.1),))))  # run 2
    at = data["values"].index(0.1)
    steps = _decoded(data["runs"][0]["steps"])
    weight = _decoded(data["runs"][0]["w"]).reshape(len(steps), -1)[:, at]
    np.testing.assert_allclose(weight, adam.weight[steps], rtol=2e-4, atol=2e-5)  # compute/preview.py's bound
    last = call_callback(compare.preview, {"key": "r3.adagrad.initial_accumulator_value"}, view)
    assert [run["panel"] for run in last["runs"]] == [3]


@pytest.mark.parametrize("key", ["run.init_weight", "run.epochs", "grid.resolution", "data.noise", "mse.x"])
def test_a_shared_slider_has_no_preview_and_says_release(server_context, key):
    assert call_callback(compare.preview, {"key": key}, render()["view"])["note"] == NO_PREVIEW


@pytest.mark.parametrize(("key", "says"), [
    ("r3.sgd.lr", "no preview: run 4 is not on screen (the comparison has 2); release it"),
    ("r1.sgd.lr", "no preview: run 2 runs Adam, not 'sgd'; release it"),
    ("r0.sgd.nesterov", "'nesterov' cannot be previewed on the batched engine; these can: lr, momentum,"),
])
def test_a_key_the_page_cannot_preview_gets_a_clear_message(server_context, key, says):
    data = call_callback(compare.preview, {"key": key}, render()["view"])
    assert set(data) == {"key", "query", "note"} and says in data["note"]


@pytest.mark.parametrize(("want", "view"), [(None, None), ({"key": 3}, {}), ({"key": "r0.sgd.lr"}, {"state": "x"}),
                                            ({"key": "r0.sgd.lr" + "x" * 200}, None)])
def test_a_tampered_compare_preview_request_is_ignored(server_context, want, view):
    view = view if view is not None else render()["view"]
    assert call_callback(compare.preview, want, view) is no_update


def test_previews_of_several_runs_at_once_are_each_their_own(dash_app):
    """Eight requests at once (two for each of four runs): each gets its own run's preview."""
    with dash_app.server.app_context():
        view = render(count=4)["view"]
    keys = ["r0.sgd.lr", "r1.adam.lr", "r2.rmsprop.lr", "r3.adagrad.lr"] * 2

    def ask(key):
        with dash_app.server.app_context():
            return call_callback(compare.preview, {"key": key}, view)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, keys))
    for key, data in zip(keys, got, strict=True):
        assert data["key"] == key and [run["panel"] for run in data["runs"]] == [int(key[1])]
    assert got[:4] == got[4:]
