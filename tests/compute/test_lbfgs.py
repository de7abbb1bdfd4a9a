"""LBFGS: a step that calls its closure, against the loop torch's documentation writes; its runs in
sweeps through torch's own loop under a cap; what the page draws of its state."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from compute import (
    LOSSES,
    OPTIMIZERS,
    InvalidSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    loss_data,
    run_trajectory,
)
from compute.batched import run_batched
from compute.optimizers import LOOP_MAX_RUN_STEPS
from compute.specs import ScheduleSpec
from compute.sweep import SweepAxis, SweepSpec, run_sweep
from compute.toy import batch_order


def closure_loop(spec: RunSpec) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """optimizer.step(closure) with the closure torch's documentation writes (zero_grad, loss,
    backward, clip when on); rows of (weight, bias, loss) and each step's (t, d_w, d_b)."""
    x, y = loss_data(spec.data, spec.loss.name)
    X, Y = torch.tensor(x).reshape(-1, 1), torch.tensor(y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(spec.init_weight)
        model.bias.fill_(spec.init_bias)
    optimizer = OPTIMIZERS["lbfgs"].build(model.parameters(), spec.optimizer.values)
    loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)
    batches = batch_order(spec, X, Y)
    rows, steps = [], []
    for _ in range(spec.steps):
        xb, yb = next(batches)
        with torch.no_grad():
            rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))

        def closure(xb=xb, yb=yb):
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if spec.clip_grad_norm:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.max_norm)
            return loss

        optimizer.step(closure)
        state = optimizer.state[optimizer.param_groups[0]["params"][0]]
        steps.append((float(state["t"]), *state["d"].tolist()))
    with torch.no_grad():
        rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))
    return np.array(rows, dtype=np.float32), steps


@pytest.mark.parametrize("settings", [
    {}, {"lr": 0.1, "max_iter": 3, "history_size": 2}, {"strong_wolfe": True},
    {"strong_wolfe": True, "max_eval": 7, "tolerance_grad": 1e-4, "tolerance_change": 1e-5},
], ids=str)
@pytest.mark.parametrize(("knobs", "loss"), [({}, "mse"), ({"batch_size": 10, "batch_seed": 2}, "bce"),
                                             ({"clip_grad_norm": True, "max_norm": 0.5}, "mse")], ids=str)
def test_the_toy_lab_run_is_the_closure_loop(settings, knobs, loss):
    spec = RunSpec(loss=LossSpec(loss), epochs=12, optimizer=OptimizerSpec("lbfgs", tuple(settings.items())), **knobs)
    traj = run_trajectory(spec)
    rows, steps = closure_loop(spec)
    n = len(traj.loss)  # (a clipped gradient spoils LBFGS's curvature pairs: that run blows up, as torch's)
    assert n == len(rows) or traj.diverged_at == n - 1
    np.testing.assert_array_equal(traj.weight, rows[:n, 0])
    np.testing.assert_array_equal(traj.bias, rows[:n, 1])
    np.testing.assert_array_equal(traj.loss, rows[:n, 2])
    t, dw, db = np.array(steps[:n - 1], dtype=np.float32).T
    np.testing.assert_array_equal(traj.step_size[1:, 1], t)  # the last line search's t and step t·d
    np.testing.assert_allclose(traj.arrow[1:, 1], t * dw, rtol=1e-6)
    np.testing.assert_allclose(traj.arrow[1:, 0], t * db, rtol=1e-6)


def test_runs_of_one_view_do_not_share_an_lbfgs():
    """LBFGS flattens all its parameters into one vector: four losses in one loop each get their own."""
    from compute import run_trajectories

    specs = [RunSpec(loss=LossSpec(loss), epochs=8, optimizer=OptimizerSpec("lbfgs")) for loss in ("mse", "l1", "huber")]
    for joint, spec in zip(run_trajectories(specs), specs):
        np.testing.assert_array_equal(joint.weight, run_trajectory(spec).weight)


def test_sweeps_run_torchs_own_loop_under_a_cap():
    base = RunSpec(epochs=10, optimizer=OptimizerSpec("lbfgs"), schedule=ScheduleSpec("step", (("step_size", 3),)))
    spec = SweepSpec(run=base, x=SweepAxis("lr", 0.05, 1.0, 4, True), y=SweepAxis("max_iter", 1, 20, 3),
                     measure="final_loss")
    result = run_sweep(spec)
    for i, j in ((0, 0), (1, 2), (2, 3)):
        one = dataclasses.replace(base, optimizer=OptimizerSpec("lbfgs", (("lr", float(result.x[j])),
                                                                           ("max_iter", round(float(result.y[i]))))))
        assert result.value[i, j] == run_trajectory(one).loss[-1]
    runs = run_batched(base, {"lr": np.array([0.3, 0.6])}, keep_params=True)
    assert runs.weight.shape == (11, 2) and (runs.diverged_at == -1).all()
    too_many = LOOP_MAX_RUN_STEPS // 100 + 1
    with pytest.raises(InvalidSpec, match="no batched form") as err:
        SweepSpec(run=RunSpec(optimizer=OptimizerSpec("lbfgs")), x=SweepAxis("lr", 0.01, 1.0, too_many, True),
                  y=SweepAxis("max_iter", 1, 20, 2))
    assert err.value.field == "sweep.x_points"


def test_its_closure_needs_zero_grad():
    with pytest.raises(InvalidSpec, match="zero_grad stays on") as err:
        RunSpec(optimizer=OptimizerSpec("lbfgs"), zero_grad=False)
    assert err.value.field == "run.zero_grad"
