"""The one settings layer, for every page: defaults, checks, what blocks a view, the URL round trip."""

from urllib.parse import parse_qsl

import pytest

from compute.nets import TRAIN_OPTIMIZER
from compute.specs import MAX_STEPS
from dashboard.state import COMPARE, LANDSCAPE, PAGES, SWEEP, TOY, check_state, from_query, to_query

# A changed value of each page's own kind, and a bad one for the view and one it does not use.
CHANGED = {TOY: {"sgd.lr": 0.037, "loss": "huber", "huber.delta": 0.25, "step": 17},
           COMPARE: {"r1.adam.lr": 0.02, "compare.runs": 3, "data.noise": 0.5},
           SWEEP: {"sweep.x_points": 40, "sweep.tolerance": 0.01, "sgd.momentum": 0.5},
           LANDSCAPE: {"net.epochs": 7, "landscape.resolution": 9, "mode": "line", "sgd.lr": 0.05}}
BAD_USED = {TOY: "sgd.lr", COMPARE: "r0.sgd.lr", SWEEP: "sweep.tolerance", LANDSCAPE: "net.epochs"}
BAD_UNUSED = {TOY: "huber.delta", COMPARE: "r3.sgd.lr", SWEEP: "adam.lr", LANDSCAPE: "pair.batch_size"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_valid_on_its_defaults(page):
    checked = check_state({}, page)
    assert checked.ok and checked.errors == {} and checked.specs


@pytest.mark.parametrize("page", PAGES)
def test_every_page_round_trips_its_url(page):
    state = check_state(CHANGED[page], page).state
    restored, notes = from_query(dict(parse_qsl(to_query(state)[1:])), page)
    assert notes == [] and restored == state
    for key, value in CHANGED[page].items():
        assert restored[key] == value


@pytest.mark.parametrize("page", PAGES)
def test_a_bad_value_blocks_only_views_that_use_it(page):
    used = check_state({BAD_USED[page]: -1}, page)
    assert not used.ok and BAD_USED[page] in used.blocking and not used.specs
    unused = check_state({BAD_UNUSED[page]: -1}, page)
    assert unused.ok and unused.specs, "shown by its control, blocks nothing"
    assert set(unused.errors) == {BAD_UNUSED[page]} and unused.blocking == {}


def test_huber_delta_blocks_the_view_once_huber_is_shown():
    assert not check_state({"huber.delta": 0, "loss": "huber"}).ok
    assert not check_state({"huber.delta": 0, "tab": "all"}).ok  # the 2 × 2 view shows HuberLoss


def test_playback_is_bounded_by_the_step_cap_not_the_epochs_cap():
    state, notes = from_query({"run.batch_size": "10", "run.epochs": "400", "step": "2100"})
    assert notes == [] and state["step"] == 2100
    _, notes = from_query({"step": str(MAX_STEPS + 1)})
    assert notes


def test_the_landscape_page_trains_with_computes_default_optimizer():
    spec = check_state({}, LANDSCAPE).specs["landscape"]
    assert spec.train.optimizer == TRAIN_OPTIMIZER


def test_the_landscape_view_range_follows_the_view_unless_given():
    assert check_state({"mode": "line"}, LANDSCAPE).specs["landscape"].lo == -0.5
    assert check_state({"mode": "line", "landscape.lo": -2.0}, LANDSCAPE).specs["landscape"].lo == -2.0
