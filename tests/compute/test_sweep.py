"""Sweeps: checks of the spec, the measures, and agreement with single runs."""

import numpy as np
import pytest

from compute import InvalidSpec, OptimizerSpec, RunSpec, run_trajectory
from compute.sweep import MEASURES, SweepAxis, SweepSpec, run_sweep

SGD = RunSpec(epochs=60, optimizer=OptimizerSpec("sgd", (("lr", 0.1),)))


def small(measure="final_loss", **kwargs):
    return SweepSpec(run=SGD, x=SweepAxis("lr", 0.01, 3.0, 7, True), y=SweepAxis("momentum", 0.0, 0.9, 4),
                     measure=measure, **kwargs)


def test_cells_are_the_runs_they_name():
    result = run_sweep(small())
    assert result.value.shape == (4, 7)
    for i, j in [(0, 0), (2, 3), (3, 5)]:
        spec = RunSpec(epochs=60, optimizer=OptimizerSpec(
            "sgd", (("lr", float(result.x[j])), ("momentum", float(result.y[i])))))
        traj = run_trajectory(spec)
        if traj.diverged_at is None:
            assert result.value[i, j] == pytest.approx(float(traj.loss[-1]), rel=1e-3)
        else:
            assert np.isnan(result.value[i, j]) and result.diverged_at[i, j] >= 0


def test_diverged_cells_are_marked_and_never_reach_the_colour_scale():
    result = run_sweep(small())
    diverged = result.diverged_at >= 0
    assert diverged.any() and (~diverged).any()
    assert np.isnan(result.value[diverged]).all()
    assert np.isfinite(result.value[~diverged]).all()
    steps = run_sweep(small("diverged"))
    np.testing.assert_array_equal(steps.value[diverged], result.diverged_at[diverged])
    assert np.isnan(steps.value[~diverged]).all()


def test_best_loss_and_steps_to_tolerance():
    final, best = run_sweep(small()), run_sweep(small("best_loss"))
    ok = np.isfinite(final.value)
    assert (best.value[ok] <= final.value[ok] + 1e-7).all()
    steps = run_sweep(small("steps_to_tol", tolerance=0.6))
    reached = np.isfinite(steps.value)
    assert reached.any() and (steps.value[reached] <= 60).all()
    never = run_sweep(small("steps_to_tol", tolerance=1e-9))
    assert np.isnan(never.value).all()


@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"x": SweepAxis("nesterov", 0, 1, 3)}, "no numeric hyperparameter"),
    ({"x": SweepAxis("lr", 0.0, 1.0, 5, True)}, "log axis needs lo > 0"),
    ({"x": SweepAxis("lr", 1.0, 0.1, 5)}, "lo below hi"),
    ({"x": SweepAxis("lr", 0.1, 1e9, 5)}, "lr must be"),
    ({"x": SweepAxis("momentum", 0.1, 0.5, 5)}, "different hyperparameters"),
    ({"x": SweepAxis("lr", 0.1, 1.0, 1000)}, "points must be"),
    ({"measure": "accuracy"}, "measure must be"),
])
def test_bad_sweeps_are_rejected(kwargs, fragment):
    with pytest.raises(InvalidSpec, match=fragment):
        SweepSpec(run=SGD, **{"x": SweepAxis("lr", 0.01, 1.0, 5, True), "y": SweepAxis("momentum", 0, 0.9, 5),
                              **kwargs})


def test_torch_rules_hold_across_the_grid():
    nesterov = RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5), ("nesterov", True))))
    with pytest.raises(InvalidSpec, match="nesterov needs momentum > 0"):
        SweepSpec(run=nesterov, y=SweepAxis("momentum", 0.0, 0.9, 10))
    SweepSpec(run=nesterov, y=SweepAxis("momentum", 0.01, 0.9, 10))


def test_work_is_capped():
    with pytest.raises(InvalidSpec, match="run-steps"):
        SweepSpec(run=RunSpec(epochs=2000), x=SweepAxis("lr", 0.01, 1, 300, True),
                  y=SweepAxis("momentum", 0, 0.9, 300))


def test_every_measure_is_named():
    assert set(MEASURES) == {"final_loss", "best_loss", "steps_to_tol", "diverged"}
