"""Sliders' stops and spec defaults, from the parameter tables (each written once)."""

import dataclasses
import itertools
import math

import pytest

from compute import DATA_PARAMS, GRID_PARAMS, LOSSES, OPTIMIZERS, RUN_PARAMS, DataSpec, GridSpec, RunSpec
from compute.landscape import LANDSCAPE_PARAMS, LandscapeSpec
from compute.nets import DATA_SPLIT_PARAMS, TRAIN_PARAMS, DatasetSpec, TrainSpec
from compute.params import E24, Param, nearest_stop
from compute.sweep import AXIS_PARAMS, SWEEP_PARAMS, SweepAxis, SweepSpec

TABLES = {"data": DATA_PARAMS, "run": RUN_PARAMS, "grid": GRID_PARAMS, "landscape": LANDSCAPE_PARAMS,
          "split": DATA_SPLIT_PARAMS, "train": TRAIN_PARAMS, "sweep": SWEEP_PARAMS, "axis": AXIS_PARAMS,
          **{key: row.params for key, row in (*LOSSES.items(), *OPTIMIZERS.items())}}
EVERY = [pytest.param(p, id=f"{table}.{p.name}") for table, params in TABLES.items() for p in params]
SLIDING = [case for case in EVERY if case.values[0].stops]


@pytest.mark.parametrize("param", SLIDING)
def test_every_stop_is_a_valid_value_in_order_and_the_default_is_one(param: Param):
    stops = param.stops
    assert list(stops) == sorted(set(stops)) and len(stops) >= 10
    for value in stops:
        assert param.coerce(value) == value
    assert param.default in stops
    assert stops[-1] == param.sweep_range[1], "the span's end is a stop (batch_size 1348, not 1300)"


@pytest.mark.parametrize("param", SLIDING)
def test_stops_are_even_in_the_scale_people_think_in(param: Param):
    stops = [v for v in param.stops if v != 0 or not param.log]  # a log slider's 0 sits below its decades
    if param.log:  # no gap wider than one E24 step (rounded: a little more) in log10
        gaps = [math.log10(b / a) for a, b in itertools.pairwise(stops)]
        assert max(gaps) <= math.log10(E24[1] / E24[0]) + 0.06 or param.kind is int
    elif param.kind is float:
        gaps = [b - a for a, b in itertools.pairwise(stops)]
        assert max(gaps) <= 1.0001 * sorted(gaps)[len(gaps) // 2], "even, but for a span's end"


def test_settings_that_live_in_decades_slide_in_log_and_fractions_slide_linearly():
    log = {"lr", "eps", "weight_decay", "max_norm", "lr_decay", "noise"}
    linear = {"momentum", "beta1", "beta2", "dampening", "alpha"}
    for case in SLIDING:
        param = case.values[0]
        assert (param.name not in log or param.log) and (param.name not in linear or not param.log), param.name
    sgd_lr = OPTIMIZERS["sgd"].params[0]
    assert {1e-3, 0.01, 0.03, 0.1, 0.3, 1.0} <= set(sgd_lr.stops)
    assert OPTIMIZERS["sgd"].params[1].stops[:3] == (0.0, 0.01, 0.02)  # momentum: steps of 0.01
    assert OPTIMIZERS["adam"].params[3].stops[0] == 0.0, "eps may be 0: a stop below the decades"


def test_seeds_and_switches_have_no_slider():
    assert DATA_PARAMS[2].stops == () and RUN_PARAMS[7].stops == () and RUN_PARAMS[3].stops == ()


@pytest.mark.parametrize(("value", "expected"), [(0.1, 0.1), (0.104, 0.1), (0.105, 0.11), (0.0475, 0.047), (1e-9, 0.0),
                                                  (0.0, 0.0), (50.0, 1.0), (-3.0, 0.0)])
def test_the_nearest_stop_is_nearest_in_log_scale(value, expected):
    stops = OPTIMIZERS["sgd"].params[0].stops
    assert stops[nearest_stop(stops, value, log=True)] == expected


def test_the_nearest_stop_in_linear_scale():
    stops = OPTIMIZERS["sgd"].params[1].stops
    assert stops[nearest_stop(stops, 0.904, log=False)] == 0.9


@pytest.mark.parametrize(("spec", "params"), [
    (DataSpec, DATA_PARAMS), (RunSpec, RUN_PARAMS), (GridSpec, GRID_PARAMS), (LandscapeSpec, LANDSCAPE_PARAMS),
    (DatasetSpec, DATA_SPLIT_PARAMS), (TrainSpec, TRAIN_PARAMS), (SweepSpec, SWEEP_PARAMS)])
def test_spec_fields_default_to_their_params(spec, params):
    made = spec()
    for p in params:
        assert getattr(made, p.name) == p.default
    assert {f.name for f in dataclasses.fields(spec)} >= {p.name for p in params}


def test_an_axis_defaults_to_its_params():
    axis = SweepAxis("lr", 0.1, 1.0)
    assert (axis.points, axis.log) == tuple(p.default for p in AXIS_PARAMS)
