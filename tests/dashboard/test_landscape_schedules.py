"""A schedule on the Landscapes page's trainings: the page's settings build it, and the sharpness
figure draws the threshold the schedule moves."""

from __future__ import annotations

import numpy as np

from compute.spectrum import Sharpening
from dashboard.figures import make_sharpening_figure
from dashboard.state import LANDSCAPE, check_state, from_query


def test_the_page_trains_with_the_chosen_schedule():
    checked = check_state({"schedule": "warmup", "schedule_warmup.warmup_steps": 30, "mode": "edge"}, LANDSCAPE)
    assert checked.ok, checked.blocking
    train = checked.specs["landscape"].train
    assert train.schedule.name == "warmup" and train.schedule.values["warmup_steps"] == 30
    assert checked.specs["sharpening"].train == train
    # a schedule's bad setting blocks only while that schedule is chosen
    assert not check_state({"schedule": "step", "schedule_step.gamma": 2}, LANDSCAPE).ok
    assert check_state({"schedule": "none", "schedule_step.gamma": 2}, LANDSCAPE).ok
    state, notes = from_query({"schedule": "cosine", "schedule_cosine.T_max": "50"}, LANDSCAPE)
    assert notes == [] and state["schedule"] == "cosine"


def test_the_sharpness_figure_draws_a_moving_threshold():
    steps = np.arange(0, 50, 5)
    curve = np.linspace(1.0, 30.0, len(steps))
    flat = Sharpening(steps, curve, curve, np.full(len(steps), np.nan), np.ones(len(steps)), 20.0, "2/lr", False)
    figure = make_sharpening_figure(flat, 0.1)
    assert len(figure["layout"]["shapes"]) == 1 and len(figure["data"]) == 2  # a flat line: a shape
    moving = Sharpening(steps, curve, curve, np.full(len(steps), np.nan), np.ones(len(steps)), 20.0, "2/lr", False,
                        np.linspace(200.0, 20.0, len(steps)))
    figure = make_sharpening_figure(moving, 0.1)
    threshold = figure["data"][-1]
    assert threshold["name"] == "stability threshold at the schedule's lr (and momentum)"
    assert figure["layout"]["shapes"] == []
    assert figure["layout"]["yaxis"]["range"][1] == 30.0 * 1.15  # the sharpness in view, not the warm-up's 200
