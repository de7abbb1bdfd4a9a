from urllib.parse import parse_qsl

import pytest

from dashboard.state import (
    check_state,
    default_state,
    from_query,
    to_query,
)


def test_query_round_trip_reproduces_every_setting():
    state = {**default_state(), "sgd.lr": 0.037, "sgd.nesterov": True, "sgd.momentum": 0.8,
             "loss": "huber", "huber.delta": 0.25, "tab": "all", "log": True, "step": 17,
             "data.seed": 7, "grid.resolution": 55}
    query = to_query(state)
    restored, notes = from_query(dict(parse_qsl(query[1:])))
    assert notes == [] and restored == state
    changed = {"sgd.lr", "sgd.nesterov", "sgd.momentum", "loss", "huber.delta", "tab", "log", "step",
               "data.seed", "grid.resolution"}
    assert {key for key, _ in parse_qsl(query[1:])} == changed  # a short link: what differs from the defaults
    assert "r0." not in query  # the compare page's runs stay on the compare page
    assert to_query(default_state()) == "?" and from_query({})[0] == default_state()


@pytest.mark.parametrize(("query", "fragment"), [
    ({"sgd.lr": "abc"}, "sgd.lr: lr needs a number"),
    ({"sgd.lr": "nan"}, "finite"),
    ({"run.epochs": "100000"}, "epochs must be"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"nonsense": "1"}, "unknown setting"),
    ({"grid.b_min": "9"}, "b_min must be below b_max"),
    ({"sgd.nesterov": "true"}, "nesterov needs momentum"),
])
def test_bad_query_opens_the_default_view_with_a_note(query, fragment):
    state, notes = from_query(query)
    assert any(fragment in note for note in notes)
    assert state["sgd.lr"] == 0.1 and state["run.epochs"] == 100


def test_good_parts_of_a_query_survive_a_bad_part():
    state, notes = from_query({"sgd.lr": "0.2", "sgd.momentum": "lots"})
    assert state["sgd.lr"] == 0.2 and state["sgd.momentum"] == 0.0 and len(notes) == 1


@pytest.mark.parametrize("value", [None, "x", [1], {"a": 1}, float("inf"), -5, 10**30, True])
def test_check_state_never_raises_and_names_the_field(value):
    checked = check_state({"sgd.lr": value})
    assert not checked.ok and set(checked.errors) == {"sgd.lr"}


@pytest.mark.parametrize("mode", ["line", "plane", "pca", "hessian", "sharpness", "three", "edge"])
def test_a_views_models_decide_which_pair_settings_block_it(mode):
    """Model B's setting (pair.batch_size) matters to views of two models or more, C's (pair.seed)
    to views of three: a bad value blocks only those (the rows' ``models``)."""
    from compute.landscape import VIEWS
    from dashboard.state import LANDSCAPE

    models = VIEWS[mode].models
    for key, model in (("pair.batch_size", 1), ("pair.seed", 2)):
        checked = check_state({"mode": mode, key: -1}, LANDSCAPE)
        assert key in checked.errors and checked.ok == (models <= model)
    assert ("curvature.every" in check_state({"mode": mode, "curvature.every": 0}, LANDSCAPE).blocking) == \
        (mode == "edge")
    assert ("landscape.resolution" in check_state({"mode": mode, "landscape.resolution": 0}, LANDSCAPE).blocking) \
        != (mode == "edge")


def test_the_pair_settings_are_the_trainings_own_with_their_page_defaults():
    from compute.lookup import param
    from compute.nets import TRAIN_PARAMS
    from dashboard.state import PAIR_PARAMS

    batch, seed = PAIR_PARAMS
    assert (batch.name, batch.default, batch.lo, batch.hi, batch.log, batch.span, batch.label) == \
        ("batch_size", 256, 1, 60000, True, None, "B batch_size")
    assert (seed.name, seed.default, seed.lo, seed.hi, seed.slider, seed.label) == ("seed", 1, 0, 2**32 - 1, False, "C seed")
    assert (batch.lo, batch.hi) == (param(TRAIN_PARAMS, "batch_size").lo, param(TRAIN_PARAMS, "batch_size").hi)

