"""Lookups by name in the parameter tables and the specs' defaults."""

import pytest

from compute.landscape import LANDSCAPE_PARAMS, LandscapeSpec
from compute.lookup import field_default, param
from compute.nets import TrainSpec


def test_lookups_by_name():
    assert param(LANDSCAPE_PARAMS, "resolution").default == LandscapeSpec().resolution
    assert param(LANDSCAPE_PARAMS, "seed").name == "seed"
    assert field_default(LandscapeSpec, "norm") == LandscapeSpec().norm == "filter"
    assert field_default(TrainSpec, "dataset") == TrainSpec().dataset and field_default(TrainSpec, "model") == "cnn"
    with pytest.raises(KeyError):
        param(LANDSCAPE_PARAMS, "bogus")
    with pytest.raises(KeyError):
        field_default(LandscapeSpec, "bogus")
