"""Validation and cache keys of the frozen specs, over the whole parameter tables."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compute import (
    DATA_PARAMS,
    GRID_PARAMS,
    LOSSES,
    OPTIMIZERS,
    RUN_PARAMS,
    DataSpec,
    GridSpec,
    InvalidSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
)

NUMERIC = [p for p in DATA_PARAMS + RUN_PARAMS + GRID_PARAMS if p.kind is not bool]
REGISTRY_NUMERIC = [(key, p) for reg in (LOSSES, OPTIMIZERS) for key, row in reg.items()
                    for p in row.params if p.kind is not bool]


def _spec_with(name, value):
    if name in {p.name for p in DATA_PARAMS}:
        return DataSpec(**{name: value})
    if name in {p.name for p in RUN_PARAMS}:
        return RunSpec(**{name: value})
    return GridSpec(**{name: value})


@pytest.mark.parametrize("param", NUMERIC, ids=lambda p: p.name)
@settings(deadline=None)  # the first RunSpec builds a torch optimizer: torch imports dynamo then (about 1 s)
@given(junk=st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf), st.none(),
                      st.text(max_size=5).filter(lambda s: not _is_number(s)), st.lists(st.integers()),
                      st.booleans()))
def test_every_field_rejects_junk_with_its_name(param, junk):
    with pytest.raises(InvalidSpec) as err:
        _spec_with(param.name, junk)
    assert err.value.field.endswith(param.name)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("param", NUMERIC, ids=lambda p: p.name)
@given(data=st.data())
def test_every_field_rejects_out_of_range_values(param, data):
    low = data.draw(st.floats(max_value=param.lo, exclude_max=not param.lo_open, allow_nan=False,
                              allow_infinity=False, min_value=-1e12))
    high = data.draw(st.floats(min_value=param.hi, exclude_min=True, allow_nan=False,
                               allow_infinity=False, max_value=1e12))
    for value in (low, high):
        with pytest.raises(InvalidSpec, match=param.name):
            _spec_with(param.name, value)


@pytest.mark.parametrize(("key", "param"), REGISTRY_NUMERIC, ids=lambda v: getattr(v, "name", v))
@settings(max_examples=25)  # a hundred parameters: 25 draws each
@given(data=st.data())
def test_registry_params_accept_their_range_and_reject_outside(key, param, data):
    if param.kind is int:  # a whole number inside, the next one past the top outside
        inside = data.draw(st.integers(int(param.lo), int(param.hi)))
        outside = data.draw(st.integers(int(param.hi) + 1, 10**9))
    else:
        inside = data.draw(st.floats(min_value=param.lo, max_value=param.hi, exclude_min=param.lo_open,
                                     exclude_max=param.hi_open))
        outside = data.draw(st.floats(min_value=param.hi, exclude_min=not param.hi_open, max_value=1e9))
    make = LossSpec if key in LOSSES else OptimizerSpec
    assert dict(make(key, ((param.name, inside),)).params)[param.name] == inside
    with pytest.raises(InvalidSpec) as err:
        make(key, ((param.name, outside),))
    assert err.value.field == f"{key}.{param.name}"


def test_torch_rejections_become_clear_messages():
    with pytest.raises(InvalidSpec, match="nesterov needs momentum > 0") as err:
        OptimizerSpec("sgd", (("nesterov", True),))
    assert err.value.field == "sgd.nesterov"
    with pytest.raises(InvalidSpec, match="dampening = 0"):
        OptimizerSpec("sgd", (("nesterov", True), ("momentum", 0.9), ("dampening", 0.5)))
    OptimizerSpec("sgd", (("nesterov", True), ("momentum", 0.9)))  # what torch accepts


def test_unknown_choices_and_arguments_are_rejected():
    with pytest.raises(InvalidSpec, match="unknown loss"):
        LossSpec("hinge")
    with pytest.raises(InvalidSpec, match="takes no argument 'delta'"):
        LossSpec("mse", (("delta", 1.0),))
    with pytest.raises(InvalidSpec, match="b_min must be below b_max"):
        GridSpec(b_min=3, b_max=3)


def test_cache_key_is_canonical_and_sensitive():
    assert RunSpec().cache_key() == RunSpec(epochs=100.0, init_weight=6).cache_key()
    a = RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9), ("lr", 0.1))))
    b = RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.1), ("momentum", 0.9))))
    assert a == b and a.cache_key() == b.cache_key()
    assert RunSpec().cache_key() != RunSpec(data=DataSpec(seed=1)).cache_key()
    assert GridSpec().cache_key() != RunSpec().cache_key()
    assert len({GridSpec(resolution=r).cache_key() for r in (11, 12, 13)}) == 3


def test_specs_are_frozen_and_hashable():
    spec = RunSpec()
    with pytest.raises(AttributeError):
        spec.epochs = 5
    assert hash(spec) == hash(RunSpec())
