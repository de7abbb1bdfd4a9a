"""Learning-rate schedules against torch.optim.lr_scheduler: the toy lab's run bit-equal to a plain
loop that steps the scheduler after the optimizer, the batched engine within its tolerance (float64:
1e-7 relative, as for the optimizers), the per-run plateau equal to torch's, and every schedule's
argument checked by its control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from compute.batched import SCHEDULE_PREFIX, run_batched
from compute.schedules import MAX_SCHEDULE_WORK, SCHEDULES, Plateau, schedule_table, torch_scheduler
from compute.specs import ScheduleSpec
from compute.toy import batch_order

SCHEDULED = [k for k in SCHEDULES if k != "none"]
# arguments worth drawing (inside the registry's ranges; step counts within a 40-step run)
DRAWN = {
    "step_size": st.integers(1, 15), "gamma": st.floats(0.3, 1.0), "milestone1": st.integers(0, 30),
    "milestone2": st.integers(0, 30), "milestone3": st.integers(0, 30), "T_max": st.integers(1, 50),
    "eta_min": st.floats(0.0, 0.01), "T_0": st.integers(1, 20), "T_mult": st.integers(1, 3),
    "base_lr": st.floats(1e-3, 0.05), "max_lr": st.floats(0.05, 0.3), "step_size_up": st.integers(1, 15),
    "step_size_down": st.integers(0, 15), "base_momentum": st.floats(0.5, 0.85), "max_momentum": st.floats(0.85, 0.95),
    "total_steps": st.sampled_from([0, 60]), "pct_start": st.floats(0.1, 0.9), "div_factor": st.floats(2.0, 50.0),
    "final_div_factor": st.floats(2.0, 1e4), "start_factor": st.floats(0.05, 1.0), "end_factor": st.floats(0.0, 1.0),
    "total_iters": st.integers(1, 30), "factor": st.floats(0.05, 0.9), "power": st.floats(0.5, 3.0),
    "patience": st.integers(0, 5), "threshold": st.floats(1e-6, 0.05), "cooldown": st.integers(0, 3),
    "min_lr": st.floats(0.0, 1e-3), "eps": st.floats(1e-10, 1e-6), "warmup_steps": st.integers(1, 15),
}


@st.composite
def schedules(draw, name: str) -> ScheduleSpec:
    values = {}
    for p in SCHEDULES[name].params:
        if p.kind is bool:
            values[p.name] = draw(st.booleans()) if p.name != "per_epoch" else False
        else:
            values[p.name] = draw(DRAWN[p.name])
    if name == "linear" and values["start_factor"] == 0:
        values["start_factor"] = 0.1
    return ScheduleSpec(name, tuple(values.items()))


def plain_loop(spec: RunSpec, dtype=torch.float32) -> tuple[np.ndarray, np.ndarray]:
    """The loop torch's documentation writes: zero_grad, loss, backward, optimizer.step(), then
    scheduler.step() (scheduler.step(loss) on a plateau), the scheduler stepped after the epoch's
    last batch when per_epoch; rows of (weight, bias, loss) and each step's lr."""
    x, y = loss_data(spec.data, spec.loss.name)
    X, Y = torch.tensor(x, dtype=dtype).reshape(-1, 1), torch.tensor(y, dtype=dtype).reshape(-1, 1)
    model = torch.nn.Linear(1, 1).to(dtype)
    with torch.no_grad():
        model.weight.fill_(spec.init_weight)
        model.bias.fill_(spec.init_bias)
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    scheduler = torch_scheduler(optimizer, spec.schedule.name, spec.schedule.values, spec.schedule_steps)
    loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)
    batches = batch_order(spec, X, Y)
    rows, lrs = [], []
    for step in range(spec.steps):
        xb, yb = next(batches)
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        with torch.no_grad():
            rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))
        lrs.append(optimizer.param_groups[0]["lr"])
        loss.backward()
        optimizer.step()
        if spec.schedule.per_epoch and (step + 1) % spec.batches_per_epoch:
            continue
        if SCHEDULES[spec.schedule.name].plateau:
            scheduler.step(loss.item())
        elif scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))
    lrs.append(optimizer.param_groups[0]["lr"])
    return np.array(rows), np.array(lrs)


def _optimizer_for(name: str, draw_optimizer: str) -> OptimizerSpec:
    if draw_optimizer == "sgd":
        return OptimizerSpec("sgd", (("lr", 0.05), ("momentum", 0.5)))
    return OptimizerSpec(draw_optimizer, (("lr", 0.05),))


@pytest.mark.parametrize("name", SCHEDULED)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_toy_lab_run_is_the_plain_loop_with_its_scheduler(name, data):
    schedule = data.draw(schedules(name))
    optimizer = _optimizer_for(name, data.draw(st.sampled_from(["sgd", "adam", "rmsprop"])))
    spec = RunSpec(epochs=40, optimizer=optimizer, schedule=schedule)
    traj = run_trajectory(spec)
    rows, lrs = plain_loop(spec)
    n = traj.finite_steps
    np.testing.assert_array_equal(traj.weight[:n], rows[:n, 0].astype(np.float32))
    np.testing.assert_array_equal(traj.loss[:n], rows[:n, 2].astype(np.float32))
    np.testing.assert_array_equal(traj.lr[:n], lrs[:n])


@pytest.mark.parametrize("name", SCHEDULED)
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_batched_engine_follows_torchs_scheduler(name, data):
    """Three runs at three base lrs (CyclicLR and OneCycleLR set their own), float64, against the
    float64 plain loop with torch's scheduler: 1e-7 relative, the engine's optimizer tolerance."""
    schedule = data.draw(schedules(name))
    optimizer = _optimizer_for(name, data.draw(st.sampled_from(["sgd", "adam", "adadelta", "rprop"])))
    if SCHEDULES[name].build is not None and "cycle_momentum" in schedule.values and optimizer.name in ("adadelta", "rprop"):
        schedule = ScheduleSpec(name, tuple({**schedule.values, "cycle_momentum": False}.items()))
    loss = data.draw(st.sampled_from(["mse", "bce"]))
    lrs = np.array([0.02, 0.05, 0.1])
    base = RunSpec(epochs=40, loss=LossSpec(loss), optimizer=optimizer, schedule=schedule)
    runs = run_batched(base, {"lr": lrs}, dtype=torch.float64, keep_params=True)
    for r, lr in enumerate(lrs):
        spec = RunSpec(epochs=40, loss=LossSpec(loss), schedule=schedule,
                       optimizer=OptimizerSpec(optimizer.name, tuple({**optimizer.values, "lr": float(lr)}.items())))
        rows, _ = plain_loop(spec, torch.float64)
        got = np.c_[runs.weight[:, r], runs.bias[:, r], runs.loss[:, r]]
        finite = np.isfinite(rows).all(axis=1)
        np.testing.assert_allclose(got[finite], rows[finite], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["warmup", "cosine", "step", "onecycle"])
def test_a_schedules_argument_can_vary_run_by_run(name):
    """A sweep's axis over a schedule argument: each run equal to its own run with that value."""
    argument = {"warmup": "warmup_steps", "cosine": "T_max", "step": "step_size", "onecycle": "pct_start"}[name]
    values = {"warmup": [1, 5, 12, 5], "cosine": [3, 10, 40, 10], "step": [2, 7, 9, 2],
              "onecycle": [0.1, 0.5, 0.8, 0.1]}[name]
    lrs = np.array([0.05, 0.05, 0.02, 0.1])
    base = RunSpec(epochs=30, optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), schedule=ScheduleSpec(name))
    runs = run_batched(base, {"lr": lrs, SCHEDULE_PREFIX + argument: np.array(values, float)}, dtype=torch.float64,
                       keep_params=True)
    for r, (lr, value) in enumerate(zip(lrs, values)):
        spec = RunSpec(epochs=30, optimizer=OptimizerSpec("sgd", (("momentum", 0.9), ("lr", float(lr)))),
                       schedule=ScheduleSpec(name, ((argument, value),)))
        rows, _ = plain_loop(spec, torch.float64)
        np.testing.assert_allclose(runs.weight[:, r], rows[:, 0], rtol=1e-7, atol=1e-9)


def test_the_table_is_torchs_own_lr_for_every_setting():
    lrs = np.array([0.1, 0.2, 0.1, 0.3, 0.2])
    t_max = np.array([5.0, 5.0, 9.0, 9.0, 5.0])
    table = schedule_table("cosine", ScheduleSpec("cosine").values, {"T_max": t_max}, "sgd", OptimizerSpec().values,
                           lrs, 20, 20)
    assert table.lr.shape == (21, 4)  # (0.1, 5), (0.2, 5), (0.1, 9), (0.3, 9): four distinct settings
    for r in range(len(lrs)):
        opt = torch.optim.SGD([torch.zeros(1)], lr=float(lrs[r]))
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(t_max[r]))
        expected = [opt.param_groups[0]["lr"]]
        for _ in range(20):
            opt.step()
            scheduler.step()
            expected.append(opt.param_groups[0]["lr"])
        np.testing.assert_array_equal(table.lr[:, table.column[r]], expected)


@settings(max_examples=40, deadline=None)
@given(losses=st.lists(st.one_of(st.floats(0.0, 10.0), st.just(math.nan)), min_size=1, max_size=60),
       factor=st.floats(0.05, 0.9), patience=st.integers(0, 4), threshold=st.floats(0.0, 0.2),
       absolute=st.booleans(), cooldown=st.integers(0, 3), min_lr=st.floats(0.0, 0.01), eps=st.floats(0.0, 1e-3))
def test_the_per_run_plateau_is_torchs(losses, factor, patience, threshold, absolute, cooldown, min_lr, eps):
    values = {"factor": factor, "patience": patience, "threshold": threshold, "threshold_abs": absolute,
              "cooldown": cooldown, "min_lr": min_lr, "eps": eps}
    opt = torch.optim.SGD([torch.zeros(1)], lr=0.5)
    torch_plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=factor, patience=patience, threshold=threshold, threshold_mode="abs" if absolute else "rel",
        cooldown=cooldown, min_lr=min_lr, eps=eps)
    ours = Plateau(values, np.array([0.5, 0.5]))
    for loss in losses:
        torch_plateau.step(loss)
        got = ours.step(np.array([loss, loss]))
        assert got[0] == got[1] == opt.param_groups[0]["lr"]


def test_a_schedule_per_epoch_steps_at_each_epochs_end():
    spec = RunSpec(epochs=6, batch_size=10, optimizer=OptimizerSpec("sgd", (("lr", 0.05),)),
                   schedule=ScheduleSpec("exponential", (("gamma", 0.5), ("per_epoch", True))))
    traj = run_trajectory(spec)
    rows, _ = plain_loop(spec)
    np.testing.assert_array_equal(traj.weight, rows[:, 0].astype(np.float32))
    assert spec.batches_per_epoch == 5 and list(traj.lr[:11]) == [0.05] * 5 + [0.025] * 5 + [0.0125]
    runs = run_batched(spec, {"lr": np.array([0.05])}, dtype=torch.float32, keep_params=True)
    np.testing.assert_allclose(runs.weight[:, 0], traj.weight, rtol=2e-4)


def test_what_torch_rejects_is_said_by_the_control():
    with pytest.raises(InvalidSpec, match="cycle_momentum") as err:
        RunSpec(optimizer=OptimizerSpec("adagrad"), schedule=ScheduleSpec("onecycle"))
    assert err.value.field == "schedule_onecycle.cycle_momentum"
    RunSpec(optimizer=OptimizerSpec("adagrad"), schedule=ScheduleSpec("onecycle", (("cycle_momentum", False),)))
    with pytest.raises(InvalidSpec) as err:
        ScheduleSpec("cyclic", (("base_momentum", 0.95), ("max_momentum", 0.9)))
        RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)),
                schedule=ScheduleSpec("cyclic", (("base_momentum", 0.95), ("max_momentum", 0.9))))
    assert err.value.field == "schedule_cyclic.base_momentum"
    with pytest.raises(InvalidSpec, match="takes no argument"):
        ScheduleSpec("cosine", (("gamma", 0.5),))
    with pytest.raises(InvalidSpec, match="unknown schedule"):
        ScheduleSpec("warmup_restarts")


def test_a_tables_work_is_capped_before_it_is_done():
    lrs = np.geomspace(1e-3, 1.0, 3000)
    with pytest.raises(InvalidSpec, match="at most"):
        schedule_table("cosine", ScheduleSpec("cosine").values, {"T_max": np.arange(3000.0) + 1}, "sgd",
                       OptimizerSpec().values, lrs, 1000, 1000)
    assert MAX_SCHEDULE_WORK < 3000 * 1001


def test_a_sweep_can_take_a_schedules_argument_as_an_axis():
    from compute.sweep import SweepAxis, SweepSpec, run_sweep

    run = RunSpec(epochs=30, optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), schedule=ScheduleSpec("warmup"))
    spec = SweepSpec(run=run, x=SweepAxis("lr", 0.01, 0.5, 4, True), y=SweepAxis("schedule.warmup_steps", 1, 20, 5),
                     measure="final_loss")
    result = run_sweep(spec)
    assert list(result.y) == [1, 6, 10, 15, 20]  # a step count's axis takes whole numbers
    for i, j in ((0, 0), (2, 1), (4, 3)):
        one = RunSpec(epochs=30, optimizer=OptimizerSpec("sgd", (("momentum", 0.9), ("lr", float(result.x[j])))),
                      schedule=ScheduleSpec("warmup", (("warmup_steps", int(result.y[i])),)))
        traj = run_trajectory(one)
        if traj.diverged_at is None:
            np.testing.assert_allclose(result.value[i, j], traj.loss[-1], rtol=2e-3)
        else:
            assert np.isnan(result.value[i, j])
    with pytest.raises(InvalidSpec, match=r"no numeric hyperparameter 'schedule\.gamma'"):
        SweepSpec(run=run, x=SweepAxis("lr", 0.01, 0.5, 4, True), y=SweepAxis("schedule.gamma", 0.1, 0.9, 5))
    one_cycle = RunSpec(epochs=30, optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), schedule=ScheduleSpec("onecycle"))
    with pytest.raises(InvalidSpec, match=r"divides by zero.*at lr"):  # pct_start × 30 steps = 1 at the axis's end
        SweepSpec(run=one_cycle, x=SweepAxis("lr", 0.01, 0.5, 4, True), y=SweepAxis("schedule.pct_start", 1 / 30, 0.5, 5))
