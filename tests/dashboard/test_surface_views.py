"""The classic surfaces on the pages: the toy lab's figures, the Problem panel's switch, Compare,
the sweep's check, and links that carry the choice."""

from __future__ import annotations

import importlib
from urllib.parse import parse_qsl

from compute.surfaces import SURFACES, surface_extent, surface_start
from dashboard.ids import ID, TOY, problem_part_id, surface_group_id
from dashboard.state import COMPARE, check_state, default_state, from_query, to_query

from .conftest import blank, call_callback
from .test_callbacks import render

toy = importlib.import_module("dashboard.pages.toy")
ROSENBROCK = {"run.init_bias": -1.5, "run.init_weight": 2.0, "grid.b_min": -2.0, "grid.b_max": 2.0,
              "grid.w_min": -1.0, "grid.w_max": 3.0, "sgd.lr": 0.001, "run.epochs": 50}


def test_a_surface_replaces_the_neuron_on_the_toy_lab(server_context):
    out = render(ROSENBROCK, surface="rosenbrock")
    map_figure = out[ID.MAP]
    assert map_figure["layout"]["title"]["text"] == "Rosenbrock"
    assert (map_figure["layout"]["xaxis"]["title"]["text"], map_figure["layout"]["yaxis"]["title"]["text"]) == ("x", "y")
    rings = map_figure["layout"]["shapes"]
    assert [(r["xanchor"], r["yanchor"]) for r in rings] == [(1.0, 1.0)]  # the minimum (a, a²)
    assert out[ID.FIT]["layout"]["title"]["text"] == "the point (x, y) at each step"
    play = out["view"]["play"]
    assert play["surface"] is True and "fit" not in play["figures"]  # the coordinates are drawn whole
    assert out["view"]["state"]["surface"] == "rosenbrock"


def test_a_refused_formula_is_said_by_its_control_and_nothing_runs(server_context):
    out = render({"expression.text": "__import__('os').system('ls')"}, surface="expression")
    said = [m for m in out["messages"] if not blank(m)]
    assert said == ["only these functions may be called: sin, cos, tan, exp, log, sqrt, abs, tanh, sinh, cosh, "
                    "atan, sigmoid, softplus"]
    assert ID.MAP not in out or blank(out[ID.MAP])


def test_the_neurons_settings_do_not_block_a_surface():
    checked = check_state({"surface": "saddle", "data.n": 1, "huber.delta": -1})
    assert checked.ok and set(checked.errors) == {"data.n", "huber.delta"}
    assert not check_state({"surface": "none", "data.n": 1}).ok


def test_choosing_a_surface_moves_the_map_and_the_start():
    """The start, the map's square, SGD's lr (while SGD is chosen) and the colour scale; back on the
    neuron, its defaults."""
    from dashboard.ids import param_id
    from dashboard.state import FIELDS

    groups = [{"id": surface_group_id(key, TOY), "property": "style"} for key in SURFACES]
    parts = [{"id": problem_part_id(part, TOY), "property": "style"} for part in ("loss", "data")]
    params = [{"id": param_id(f.group, f.param.name), "property": "value"} for f in FIELDS]
    outputs = [groups, parts, params]
    keys = [f.key for f in FIELDS]
    styles, hidden, values, log = call_callback(toy.show_surface, "rosenbrock", "sgd", outputs_list=outputs)
    assert [s == {} for s in styles] == [key == "rosenbrock" for key in SURFACES]
    assert hidden == [{"display": "none"}] * 2
    set_ = {k: v for k, v in zip(keys, values, strict=True) if not blank(v)}
    assert set_ == {**{f"run.{k}": v for k, v in surface_start("rosenbrock").items()},
                    **{f"grid.{k}": v for k, v in surface_extent("rosenbrock").items()},
                    "sgd.lr": SURFACES["rosenbrock"].sgd_lr}
    assert log == ["on"]
    _, _, values, log = call_callback(toy.show_surface, "rastrigin", "adam", outputs_list=outputs)
    assert "sgd.lr" not in {k for k, v in zip(keys, values, strict=True) if not blank(v)} and log == []
    _, shown, values, _ = call_callback(toy.show_surface, "none", "sgd", outputs_list=outputs)
    defaults = default_state(TOY)
    assert shown == [{}, {}]
    assert {k: v for k, v in zip(keys, values, strict=True) if not blank(v)} == {
        key: defaults[key] for key in ("run.init_bias", "run.init_weight", "grid.b_min", "grid.b_max", "grid.w_min",
                                       "grid.w_max", "sgd.lr")}


def test_compare_runs_on_a_surface(server_context):
    from .test_compare_page import render as compare_render

    out = compare_render({"surface": "himmelblau", "run.init_bias": 0.0, "run.init_weight": 0.0,
                          **{f"grid.{k}": v for k, v in surface_extent("himmelblau").items()}})
    assert out["map"]["layout"]["title"]["text"] == "Himmelblau"
    assert len(out["map"]["layout"]["shapes"]) == 4  # its four minima
    assert out["fit"]["layout"]["title"]["text"] == "the point (x, y) at each step"
    assert out["view"]["play"]["surface"] is True


def test_the_sweep_takes_a_surface():
    from .test_sweep_page import check

    _messages, _status, request = check({"sweep.x_points": 20, "run.init_bias": -1.5, "run.init_weight": 2.0},
                                      surface="rosenbrock")
    assert request["state"]["surface"] == "rosenbrock"
    sweep = check_state(request["state"], "sweep").specs["sweep"]
    assert sweep.run.surface.name == "rosenbrock"


def test_a_link_to_a_surface_opens_at_its_start_and_square():
    opened, notes = from_query({"surface": "rosenbrock", "rosenbrock.b": "50"})
    assert notes == [] and (opened["run.init_bias"], opened["run.init_weight"]) == (-1.5, 2.0)
    assert opened["grid.w_max"] == 3.0 and opened["sgd.lr"] == SURFACES["rosenbrock"].sgd_lr and opened["log"]
    opened, _ = from_query({"surface": "rosenbrock", "run.init_bias": "6", "sgd.lr": "0.1"})
    assert opened["run.init_bias"] == 6.0 and opened["run.init_weight"] == 2.0 and opened["sgd.lr"] == 0.1
    # a surface's view names its start even at the neuron's default values: it reopens there
    back, _ = from_query(dict(parse_qsl(to_query({**opened, "run.init_weight": 6.0, "run.init_bias": -3.0})[1:])))
    assert (back["run.init_weight"], back["run.init_bias"]) == (6.0, -3.0)


def test_links_carry_the_surface_and_the_formula():
    state = {**default_state(TOY), "surface": "expression", "expression.text": "x^2 + 3*y² − cos(pi*x)",
             "quadratic.kappa": 50.0}
    query = to_query(state)
    opened, notes = from_query(dict(parse_qsl(query[1:])))
    assert notes == [] and opened["surface"] == "expression"
    assert opened["expression.text"] == "x^2 + 3*y² − cos(pi*x)" and opened["quadratic.kappa"] == 50.0
    # a hostile formula in a link: the note says why, the page opens on its defaults
    opened, notes = from_query({"surface": "expression", "expression.text": "x.__class__"})
    assert opened["surface"] == "none" and any("attributes" in note for note in notes)
    opened, notes = from_query({"surface": "nope"}, COMPARE)
    assert opened["surface"] == "none" and notes == ["surface: surface must be one of " + ", ".join(SURFACES)
                                                     + " (got 'nope')"]
