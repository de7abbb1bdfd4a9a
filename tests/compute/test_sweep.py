"""Sweeps: checks of the spec, the measures, and agreement with single runs."""

import numpy as np
import pytest

from compute import InvalidSpec, OptimizerSpec, RunSpec, run_trajectory
from compute.sweep import MEASURES, SweepAxis, SweepSpec, run_sweep

SGD = RunSpec(epochs=60, optimizer=OptimizerSpec("sgd", (("lr", 0.1),)))


def small(measure="final_loss", **kwargs):
    return SweepSpec(run=SGD, x=SweepAxis("lr", 0.01, 3.0, 7, True), y=SweepAxis("momentum", 0.0, 0.9, 4),
                     measure=measure, **kwargs)


# Cells of small(): (y index, x index) and what their run does, so that each measure meets each case.
CELLS = {(0, 0): "never reaches 0.6", (0, 2): "reaches 0.6 at step 26", (1, 1): "reaches it late, at step 47",
         (0, 5): "grows to 2e18 without overflowing: best is the start", (3, 3): "oscillates: best below final",
         (2, 6): "diverges at step 28"}


def test_each_measure_of_a_cell_is_that_of_its_own_run():
    """Every measure of a cell against run_trajectory (the toy lab's torch.optim loop) with the
    cell's lr and momentum: its last loss, its smallest loss, the first step whose loss is at most
    the tolerance (NaN if none), the step at which it diverged (NaN if it did not)."""
    results = {measure: run_sweep(small(measure, tolerance=0.6)) for measure in MEASURES}
    kinds: set[str] = set()
    for (i, j), what in CELLS.items():
        lr, momentum = float(results["final_loss"].x[j]), float(results["final_loss"].y[i])
        traj = run_trajectory(RunSpec(epochs=60, optimizer=OptimizerSpec("sgd", (("lr", lr), ("momentum", momentum)))))
        got = {measure: result.value[i, j] for measure, result in results.items()}
        if traj.diverged_at is not None:
            expected = {"final_loss": np.nan, "best_loss": np.nan, "steps_to_tol": np.nan,
                        "diverged": traj.diverged_at}
            kinds.add("diverged")
        else:
            reached = np.flatnonzero(traj.loss <= 0.6)
            expected = {"final_loss": traj.loss[-1], "best_loss": traj.loss.min(),
                        "steps_to_tol": reached[0] if len(reached) else np.nan, "diverged": np.nan}
            kinds.add("reached" if len(reached) else "never reached")
            if traj.loss.min() < 0.99 * traj.loss[-1]:
                kinds.add("best below final")
        for measure, value in expected.items():
            np.testing.assert_allclose(got[measure], value, rtol=1e-4, err_msg=f"{measure} at {what}")
    assert kinds == {"diverged", "never reached", "reached", "best below final"}  # the cells cover each case


def test_diverged_cells_are_marked_and_never_reach_the_colour_scale():
    result = run_sweep(small())
    diverged = result.diverged_at >= 0
    assert diverged.any() and (~diverged).any()
    assert np.isnan(result.value[diverged]).all()
    assert np.isfinite(result.value[~diverged]).all()
    steps = run_sweep(small("diverged"))
    np.testing.assert_array_equal(steps.value[diverged], result.diverged_at[diverged])
    assert np.isnan(steps.value[~diverged]).all()


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
