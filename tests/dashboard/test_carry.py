"""Carrying a run between the toy lab and Compare (dashboard/carry.py), as plain functions: the
run Compare draws is the toy lab's run, spec for spec, and the way back keeps every setting."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from compute import OPTIMIZERS, InvalidSpec, Param
from dashboard.carry import carry_query
from dashboard.ids import CompareID
from dashboard.state import (
    COMPARE,
    COUNT,
    PAGES,
    TOY,
    build_specs,
    check_state,
    compare_runs,
    default_state,
    from_query,
)


def _other(p: Param):
    """A valid value of ``p`` that is not its default: the next stop of its slider, or one more."""
    if p.kind is bool:
        return not p.default
    if p.kind is str:  # a formula
        return p.default + " + x"
    if p.stops:
        above = [s for s in p.stops if s > p.default]
        return p.kind(above[0] if above else max(s for s in p.stops if s < p.default))
    return p.coerce(p.default + 1 if p.hi is None or p.default + 1 <= p.hi else p.default - 1)


# Values the generic change would make clash (the test names them; each is still changed in a case):
# 51 points in batches of 1 is past the step cap; nesterov needs dampening 0.
CLASHES = {"run.batch_size": 10, "sgd.dampening": 0.0}
# (LBFGS's closure zeroes the gradients: zero_grad stays on with it)
CASES = [(name, {"run.zero_grad": True} if row.closure else {}) for name, row in OPTIMIZERS.items()] + [
    ("sgd", {"sgd.nesterov": False, "sgd.dampening": 0.5})]


def _toy_state(optimizer: str, extra: dict) -> dict:
    """The toy lab with every setting it shares with Compare changed, and ``optimizer``'s."""
    state = default_state(TOY)
    for f in PAGES[TOY].fields:
        if f.group not in OPTIMIZERS or f.group == optimizer:
            state[f.key] = _other(f.param)
    state.update(CLASHES, optimizer=optimizer, loss="huber", tab="all", log=True, step=7)
    state.update(extra)
    checked = check_state(state, TOY)
    assert checked.errors == {}, checked.errors
    return checked.state


def _open(query: str, page: str) -> dict:
    """The state a page builds from a query, as it opens a link (no note: nothing was ignored)."""
    assert query.startswith("?")
    state, notes = from_query(dict(parse_qsl(query[1:])), page)
    assert notes == []
    return state


@pytest.mark.parametrize(("optimizer", "extra"), CASES, ids=[f"{n}{'-' + '-'.join(e) if e else ''}" for n, e in CASES])
def test_the_toy_labs_run_is_compares_run_and_comes_back_whole(optimizer, extra):
    toy = _toy_state(optimizer, extra)
    compare = _open(carry_query(toy, TOY), COMPARE)
    assert compare[COUNT.key] == 1
    run, grid = build_specs(toy, toy["loss"])
    assert compare_runs(compare) == [run], "Compare runs the toy lab's run, spec for spec"
    assert build_specs(compare, compare["loss"])[1] == grid, "over the same map"
    assert compare["log"] and compare["step"] == 7
    back = _open(carry_query(compare, COMPARE, 0), TOY)
    assert back == toy, "every setting both pages have comes back"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_a_compared_run_opens_in_the_toy_lab(optimizer):
    """Run 3 of a comparison (its other runs stay behind) as the toy lab's run."""
    compare = default_state(COMPARE)
    row = OPTIMIZERS[optimizer]
    compare.update({COUNT.key: 3, "r2.optimizer": optimizer, "loss": "smoothl1", "data.n": 30,
                    **{f"r2.{optimizer}.{p.name}": _other(p) for p in row.params}})
    if optimizer == "sgd":
        compare["r2.sgd.dampening"] = 0.0  # (nesterov)
    compare = check_state(compare, COMPARE).state
    toy = _open(carry_query(compare, COMPARE, 2), TOY)
    assert build_specs(toy, toy["loss"])[0] == compare_runs(compare)[2]
    assert toy["optimizer"] == optimizer and toy["data.n"] == 30
    others = {k for k in toy if k.split(".")[0] in OPTIMIZERS and k.split(".")[0] != optimizer}
    assert all(toy[k] == default_state(TOY)[k] for k in others), "the other optimizers stay at their defaults"


def test_defaults_carry_as_a_short_link():
    assert carry_query({}, TOY) == "?r0.sgd.momentum=0.0&compare.runs=1"  # Compare's run 1 has momentum 0.9
    assert carry_query({}, COMPARE, 0) == "?sgd.momentum=0.9"
    assert carry_query({}, COMPARE, 1) == "?adam.lr=0.1&optimizer=adam"


def test_a_bad_setting_gets_the_pages_own_message():
    with pytest.raises(InvalidSpec) as err:
        carry_query({"sgd.lr": "fast"}, TOY)
    assert err.value.field == "sgd.lr"
    assert err.value.message == check_state({"sgd.lr": "fast"}, TOY).errors["sgd.lr"]
    with pytest.raises(InvalidSpec, match="nesterov needs momentum > 0"):
        carry_query({"sgd.nesterov": True}, TOY)
    with pytest.raises(InvalidSpec, match="run must be 0 to 1") as err:
        carry_query({}, COMPARE, 2)
    assert err.value.field == COUNT.key
    with pytest.raises(InvalidSpec, match="between toy and compare"):
        carry_query({}, "sweep")


def test_a_bad_value_in_a_carried_link_is_noted_as_any_link(server_context):
    """A carried link edited by hand opens as any link does: the page's defaults stand for what it
    cannot use, and the note by the link says what was ignored."""
    import importlib

    compare = importlib.import_module("dashboard.pages.compare")
    query = dict(parse_qsl(carry_query({"sgd.lr": 0.05}, TOY)[1:]), **{"r0.sgd.lr": "fast"})
    page = compare.layout(**query)
    note = _find(page, CompareID.QUERY_NOTE)
    assert note.children == "Ignored from the link: r0.sgd.lr: lr needs a number, ≥ 0 and ≤ 100 (got 'fast')"
    assert _find(page, compare.to_toy_id(0)).href == "/?"  # the run the page draws: lr and momentum at their defaults


def _find(component, component_id):
    """The component of a layout with ``component_id``."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = _find(child, component_id)
            if found is not None:
                return found
    return None
