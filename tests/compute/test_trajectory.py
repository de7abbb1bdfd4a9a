"""Trajectories against an independent plain torch loop, step by step and bit for bit."""

import math

import numpy as np
import pytest
import torch

from compute import (
    LOSSES,
    DataSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    run_trajectory,
    toy_data,
)

SETTINGS = [
    {"lr": 0.1},
    {"lr": 0.1, "momentum": 0.9},
    {"lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 2.0},
    {"lr": 0.1, "momentum": 0.9, "dampening": 0.8},
    {"lr": 0.05, "maximize": True},
    {"lr": 0.3, "momentum": 0.5, "weight_decay": 0.1},
]
LOSS_PARAMS = {"mse": {}, "l1": {}, "huber": {"delta": 0.7}, "smoothl1": {"beta": 0.4}, "bce": {}}


def reference_loop(loss_fn, opt_kwargs, epochs, w0=6.0, b0=-3.0, optimizer=torch.optim.SGD, problem="regression",
                   watch=None):
    """The usual training loop, written out as a person would write it; ``watch(optimizer, model)``
    after each step."""
    x, y = toy_data(DataSpec(), problem)
    X = torch.tensor(x).reshape(-1, 1)
    Y = torch.tensor(y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[w0]]))
        model.bias.copy_(torch.tensor([b0]))
    optimizer = optimizer(model.parameters(), **opt_kwargs)
    rows = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        rows.append((model.weight.item(), model.bias.item(), loss.item()))
        loss.backward()
        optimizer.step()
        if watch is not None:
            watch(optimizer, model)
    rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))
    return np.array(rows, dtype=np.float32)


def test_default_run_prints_exactly_what_the_plain_loop_prints():
    traj = run_trajectory(RunSpec())
    expected = reference_loop(torch.nn.MSELoss(), {"lr": 0.1}, 100)
    assert len(traj.loss) == 101 and traj.diverged_at is None
    np.testing.assert_array_equal(traj.loss, expected[:, 2])
    np.testing.assert_array_equal(traj.weight, expected[:, 0])
    np.testing.assert_array_equal(traj.bias, expected[:, 1])
    assert traj.loss[0] == np.float32(53.07827)  # the classic first line


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_every_loss_and_setting_matches_the_reference_loop(loss, settings):
    params = LOSS_PARAMS[loss]
    spec = RunSpec(loss=LossSpec(loss, tuple(params.items())),
                   optimizer=OptimizerSpec("sgd", tuple(settings.items())), epochs=60,
                   init_weight=-2.5, init_bias=4.0)
    traj = run_trajectory(spec)
    loss_fn = LOSSES[loss].torch_cls(**params)
    expected = reference_loop(loss_fn, settings, 60, -2.5, 4.0, problem=LOSSES[loss].problem)
    n = traj.finite_steps
    np.testing.assert_array_equal(np.c_[traj.weight, traj.bias, traj.loss][:n], expected[:n])


def test_float64_reference_stays_close():
    """The float32 path tracks the same loop in float64 (no hidden precision loss)."""
    traj = run_trajectory(RunSpec(epochs=50))
    x, y = toy_data(DataSpec())
    w, b = 6.0, -3.0
    for k in range(51):
        pred = w * x.astype(np.float64) + b
        loss = np.mean((pred - y) ** 2)
        assert math.isclose(traj.loss[k], loss, rel_tol=1e-5)
        gw, gb = np.mean(2 * (pred - y) * x), np.mean(2 * (pred - y))
        w, b = w - 0.1 * gw, b - 0.1 * gb


def test_divergence_is_a_result_with_the_step_it_happened():
    traj = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 3.0),)), epochs=200))
    assert traj.diverged_at is not None and 0 < traj.diverged_at < 200
    assert traj.finite_steps == traj.diverged_at
    n = traj.finite_steps
    assert np.isfinite(traj.loss[:n]).all() and np.isfinite(traj.weight[:n]).all()
    last = (traj.weight[n], traj.bias[n], traj.loss[n])
    assert not all(map(math.isfinite, last))
    expected = reference_loop(torch.nn.MSELoss(), {"lr": 3.0}, n - 1)
    np.testing.assert_array_equal(traj.loss[:n], expected[:, 2])


def test_zero_epochs_is_just_the_start():
    traj = run_trajectory(RunSpec(epochs=0))
    assert len(traj.loss) == 1 and traj.weight[0] == 6.0 and traj.bias[0] == -3.0


OPTIMIZER_SETTINGS = {
    "adam": [{"lr": 0.3}, {"lr": 0.2, "betas": (0.5, 0.9), "amsgrad": True, "weight_decay": 0.1},
             {"lr": 0.1, "eps": 0.5, "maximize": True}],
    "adamw": [{"lr": 0.3}, {"lr": 0.2, "weight_decay": 0.5, "amsgrad": True}],
    "rmsprop": [{"lr": 0.05}, {"lr": 0.02, "alpha": 0.9, "momentum": 0.8, "centered": True},
                {"lr": 0.01, "weight_decay": 0.3, "eps": 0.01}],
    "adagrad": [{"lr": 0.5}, {"lr": 0.8, "lr_decay": 0.05, "initial_accumulator_value": 0.3, "weight_decay": 0.2}],
}


def _registry_values(settings):
    values = dict(settings)
    if "betas" in values:
        values["beta1"], values["beta2"] = values.pop("betas")
    return tuple(values.items())


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize(("optimizer", "settings"),
                         [(k, s) for k, rows in OPTIMIZER_SETTINGS.items() for s in rows],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{a}={b}" for a, b in v.items()))
def test_every_optimizer_matches_the_reference_loop(loss, optimizer, settings):
    from compute import OPTIMIZERS

    params = LOSS_PARAMS[loss]
    spec = RunSpec(loss=LossSpec(loss, tuple(params.items())), epochs=40,
                   optimizer=OptimizerSpec(optimizer, _registry_values(settings)))
    traj = run_trajectory(spec)
    expected = reference_loop(LOSSES[loss].torch_cls(**params), settings, 40,
                              optimizer=OPTIMIZERS[optimizer].torch_cls, problem=LOSSES[loss].problem)
    n = traj.finite_steps
    np.testing.assert_array_equal(np.c_[traj.weight, traj.bias, traj.loss][:n], expected[:n])


def knob_loop(spec_kwargs, opt_kwargs, epochs, loss_fn=None):
    """The loop with every knob written out plainly: mini-batches, accumulation, clipping."""
    loss_fn = loss_fn or torch.nn.MSELoss()
    x, y = toy_data(DataSpec())
    X, Y = torch.tensor(x).reshape(-1, 1), torch.tensor(y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(6.0)
        model.bias.fill_(-3.0)
    optimizer = torch.optim.SGD(model.parameters(), **opt_kwargs)
    batch = spec_kwargs.get("batch_size") or len(x)
    generator = torch.Generator().manual_seed(spec_kwargs.get("batch_seed", 0))
    rows, clipped = [], []
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator) if batch < len(x) else torch.arange(len(x))
        for start in range(0, len(x), batch):
            index = order[start:start + batch]
            if spec_kwargs.get("zero_grad", True):
                optimizer.zero_grad()
            loss = loss_fn(model(X[index]), Y[index])
            with torch.no_grad():
                rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item(), loss.item()))
            loss.backward()
            if spec_kwargs.get("clip_grad_norm"):
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), spec_kwargs["max_norm"])
                clipped.append(float(norm) > spec_kwargs["max_norm"])
            optimizer.step()
    return np.array(rows, dtype=np.float32), clipped


@pytest.mark.parametrize("knobs", [
    {"zero_grad": False},
    {"clip_grad_norm": True, "max_norm": 2.0},
    {"batch_size": 8, "batch_seed": 3},
    {"batch_size": 10, "batch_seed": 1, "clip_grad_norm": True, "max_norm": 0.5, "zero_grad": False},
], ids=str)
@pytest.mark.parametrize("opt", [{"lr": 0.05}, {"lr": 0.02, "momentum": 0.9, "nesterov": True}], ids=str)
def test_loop_knobs_match_the_plain_loop(knobs, opt):
    spec = RunSpec(epochs=12, optimizer=OptimizerSpec("sgd", tuple(opt.items())), **knobs)
    traj = run_trajectory(spec)
    expected, clipped = knob_loop(knobs, opt, 12)
    n = min(traj.finite_steps, len(expected))
    assert len(traj.loss) == spec.steps + 1 or traj.diverged_at is not None
    np.testing.assert_array_equal(traj.weight[:n], expected[:n, 0])
    np.testing.assert_array_equal(traj.bias[:n], expected[:n, 1])
    np.testing.assert_allclose(traj.loss[:n], expected[:n, 2], rtol=1e-6)
    np.testing.assert_array_equal(traj.batch_loss[:n], expected[:n, 3])
    if knobs.get("clip_grad_norm"):
        assert list(traj.clipped[1:n + 1]) == clipped[:n] and any(clipped)
    else:
        assert not traj.clipped.any()


def test_accumulating_gradients_grow_the_steps():
    plain = run_trajectory(RunSpec(epochs=3, optimizer=OptimizerSpec("sgd", (("lr", 0.01),))))
    summed = run_trajectory(RunSpec(epochs=3, zero_grad=False, optimizer=OptimizerSpec("sgd", (("lr", 0.01),))))
    assert plain.weight[1] == summed.weight[1]
    assert abs(summed.weight[2] - summed.weight[1]) > abs(plain.weight[2] - plain.weight[1])


def test_momentum_arrow_and_adam_step_sizes():
    sgd = run_trajectory(RunSpec(epochs=5, optimizer=OptimizerSpec("sgd", (("lr", 0.1), ("momentum", 0.9)))))
    assert np.isnan(sgd.arrow[0]).all() and np.isfinite(sgd.arrow[1:]).all()
    # after one step the buffer is the first gradient: the arrow is exactly the first step
    np.testing.assert_allclose(sgd.arrow[1], [sgd.bias[1] - sgd.bias[0], sgd.weight[1] - sgd.weight[0]], rtol=1e-5)
    adam = run_trajectory(RunSpec(epochs=5, optimizer=OptimizerSpec("adam", (("lr", 0.1),))))
    np.testing.assert_allclose(np.abs(adam.arrow[1]), [0.1, 0.1], rtol=1e-4)  # Adam's first step: lr·sign(g)
    assert (adam.step_size[1:] > 0).all()
    np.testing.assert_allclose(adam.arrow[1], [adam.bias[1] - adam.bias[0], adam.weight[1] - adam.weight[0]],
                               rtol=1e-4)


def test_step_cap_counts_batches():
    from compute import InvalidSpec

    with pytest.raises(InvalidSpec, match="at most 5000 optimizer steps"):
        RunSpec(epochs=2000, batch_size=1)
    assert RunSpec(epochs=100, batch_size=10).steps == 500


def _torch_view(optimizer, p):
    """The moment's step and the effective step size of parameter p, from torch.optim's own state
    after a step, by the updates torch documents: RMSprop θ ← θ − lr·g/(√v + eps) (v = square_avg,
    less grad_avg² when centered), with momentum buf ← μ·buf + g/(√v + eps), θ ← θ − lr·buf;
    Adagrad θ ← θ − lr/(1 + (t − 1)·lr_decay)·g/(√sum + eps); Adam θ ← θ − size·m̂, size =
    lr/(√v̂ + eps), m̂ = exp_avg/(1 − β₁ᵗ), v̂ = exp_avg_sq (or its max)/(1 − β₂ᵗ)."""
    hp, state = optimizer.param_groups[0], optimizer.state[p]
    lr, eps = np.float64(hp["lr"]), hp["eps"]
    if isinstance(optimizer, torch.optim.RMSprop):
        v = state["square_avg"].item() - (state["grad_avg"].item() ** 2 if hp["centered"] else 0.0)
        return (-lr * state["momentum_buffer"].item() if hp["momentum"] > 0 else math.nan), lr / (math.sqrt(v) + eps)
    t = state["step"].item()
    if isinstance(optimizer, torch.optim.Adagrad):
        return math.nan, lr / (1 + (t - 1) * hp["lr_decay"]) / (math.sqrt(state["sum"].item()) + eps)
    beta1, beta2 = hp["betas"]
    v = state["max_exp_avg_sq" if hp["amsgrad"] else "exp_avg_sq"].item() / (1 - beta2**t)
    size = lr / (math.sqrt(v) + eps)
    return -size * state["exp_avg"].item() / (1 - beta1**t), size


VIEW_SETTINGS = {
    "rmsprop": [{"lr": 0.05}, {"lr": 0.02, "alpha": 0.9, "momentum": 0.8, "centered": True, "eps": 0.0},
                {"lr": 0.01, "weight_decay": 0.3, "eps": 0.01, "centered": True}],
    "adagrad": [{"lr": 0.5, "eps": 0.0},
                {"lr": 0.8, "lr_decay": 0.05, "initial_accumulator_value": 0.3, "weight_decay": 0.2}],
    "adam": [{"lr": 0.05, "eps": 0.0, "amsgrad": True, "betas": (0.9, 0.5)}],  # v falls: its max differs
}


@pytest.mark.parametrize(("optimizer", "settings"), [(k, s) for k, rows in VIEW_SETTINGS.items() for s in rows],
                         ids=lambda v: v if isinstance(v, str) else ",".join(f"{a}={b}" for a, b in v.items()))
def test_the_arrow_and_step_sizes_are_torch_optims_state(optimizer, settings):
    """What the toy lab draws after each step (the moment's arrow, the effective step sizes) against
    the same quantities read from torch.optim's state in the plain loop, and against the step taken:
    with a moment the arrow is the step; without one the step is −size·(g + weight_decay·θ). eps 0
    is a slider stop: Adagrad's state exists before its first step, but no step size does."""
    from compute import OPTIMIZERS

    traj = run_trajectory(RunSpec(epochs=25, optimizer=OptimizerSpec(optimizer, _registry_values(settings))))
    views, grads = [], []

    def watch(opt, model):
        views.append([_torch_view(opt, p) for p in (model.bias, model.weight)])
        grads.append([model.bias.grad.item(), model.weight.grad.item()])

    rows = reference_loop(torch.nn.MSELoss(), settings, 25, optimizer=OPTIMIZERS[optimizer].torch_cls, watch=watch)
    expected = np.array(views)  # (steps, (bias, weight), (arrow, size))
    assert traj.finite_steps == 26 and np.isfinite(expected[:, :, 1]).all() and np.isnan(traj.arrow[0]).all()
    assert np.isnan(traj.step_size[0]).all(), "no step size before the first step (Adagrad's state exists already)"
    np.testing.assert_allclose(traj.step_size[1:], expected[:, :, 1], rtol=1e-6)
    np.testing.assert_allclose(traj.arrow[1:], expected[:, :, 0], rtol=1e-6)  # NaN where there is no moment
    params = rows[:, [1, 0]].astype(np.float64)  # (bias, weight) before each step, then the last
    taken = np.diff(params, axis=0)
    if np.isfinite(expected[:, :, 0]).all():
        np.testing.assert_allclose(traj.arrow[1:], taken, rtol=1e-3, atol=1e-6)
    else:
        assert np.isnan(traj.arrow).all()
        g = np.array(grads) + settings.get("weight_decay", 0.0) * params[:-1]
        np.testing.assert_allclose(taken, -traj.step_size[1:] * g, rtol=1e-3, atol=1e-6)


def _same(a, b) -> None:
    for field in ("weight", "bias", "loss", "batch_loss", "clipped", "arrow", "step_size"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert a.diverged_at == b.diverged_at and a.steps_per_epoch == b.steps_per_epoch


JOINT = {
    "2x2 default": [RunSpec(loss=LossSpec(name)) for name in ("mse", "l1", "huber", "smoothl1")],
    "adam, clipped mini-batches": [
        RunSpec(loss=LossSpec(name), optimizer=OptimizerSpec("adam", (("lr", 0.3), ("amsgrad", True))),
                epochs=7, batch_size=8, batch_seed=3, clip_grad_norm=True, max_norm=0.5)
        for name in ("mse", "l1", "huber", "smoothl1")],
    "one diverges, the rest go on": [
        RunSpec(loss=LossSpec(name), optimizer=OptimizerSpec("sgd", (("lr", 3.0),)), epochs=200)
        for name in ("mse", "l1", "huber", "smoothl1")],
    "mixed optimizers, lengths, zero_grad and bce": [
        RunSpec(optimizer=OptimizerSpec("rmsprop", (("lr", 0.05), ("centered", True), ("momentum", 0.3)))),
        RunSpec(optimizer=OptimizerSpec("adagrad", (("lr", 0.5),)), epochs=13, zero_grad=False),
        RunSpec(loss=LossSpec("bce"), optimizer=OptimizerSpec("adamw", (("lr", 0.2),)), epochs=0),
        RunSpec(loss=LossSpec("bce"), optimizer=OptimizerSpec("sgd", (("lr", 2.0), ("nesterov", True),
                                                                          ("momentum", 0.9))), epochs=40),
        RunSpec(optimizer=OptimizerSpec("rmsprop", (("lr", 0.05), ("centered", True), ("momentum", 0.3))),
                epochs=31, init_weight=-2.0),  # shares the first run's optimizer, stops earlier
        RunSpec(loss=LossSpec("l1"), optimizer=OptimizerSpec("adagrad", (("lr", 0.5),)), epochs=20, zero_grad=False),
    ],
}


@pytest.mark.parametrize("name", JOINT)
def test_runs_in_one_loop_equal_their_own_loops_bit_for_bit(name):
    """The 2×2 view trains its four losses in one loop (one backward, one optimizer.step per step);
    every number equals the run's own loop, which the reference loops above check against torch."""
    from compute.toy import run_trajectories

    specs = JOINT[name]
    joint = run_trajectories(specs)
    alone = [run_trajectory(spec) for spec in specs]
    for a, b in zip(joint, alone, strict=True):
        _same(a, b)
    if name == "one diverges, the rest go on":
        assert any(t.diverged_at is not None for t in joint) and any(t.diverged_at is None for t in joint)


@pytest.mark.parametrize(("optimizer", "settings"), [
    ("adamax", {"lr": 0.2, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("radam", {"lr": 0.2, "betas": (0.9, 0.9)}),  # ρₜ > 5 from step 6: both of RAdam's steps
    ("asgd", {"lr": 0.05, "lambd": 0.2, "alpha": 1.0, "t0": 3.0, "weight_decay": 0.1}),
    ("rprop", {"lr": 0.05, "etas": (0.4, 1.5)}),
], ids=lambda v: v if isinstance(v, str) else "")
def test_the_new_optimizers_draw_the_step_they_take(optimizer, settings):
    """Adamax's and RAdam's arrow is the step taken (their moment's step); ASGD's step is
    −η·(g + (weight_decay + lambd)·θ) with η its size, and its arrow reaches torch's averaged
    iterate ax; Rprop moves each parameter by its step size (or not at all where the sign flipped)."""
    from compute import OPTIMIZERS

    packed = dict(settings)
    if "etas" in packed:
        packed["etaminus"], packed["etaplus"] = packed.pop("etas")
    traj = run_trajectory(RunSpec(epochs=25, optimizer=OptimizerSpec(optimizer, _registry_values(packed))))
    grads, averaged = [], []

    def watch(opt, model):
        grads.append([model.bias.grad.item(), model.weight.grad.item()])
        if optimizer == "asgd":
            averaged.append([opt.state[p]["ax"].item() for p in (model.bias, model.weight)])

    kwargs = OPTIMIZERS[optimizer].torch_kwargs(dict(OptimizerSpec(optimizer, _registry_values(packed)).values))
    rows = reference_loop(torch.nn.MSELoss(), kwargs, 25, optimizer=OPTIMIZERS[optimizer].torch_cls, watch=watch)
    params = rows[:, [1, 0]].astype(np.float64)  # (bias, weight) before each step, then the last
    taken = np.diff(params, axis=0)
    assert traj.finite_steps == 26 and np.isfinite(traj.step_size[1:]).all()
    if optimizer in ("adamax", "radam"):
        np.testing.assert_allclose(traj.arrow[1:], taken, rtol=1e-4, atol=1e-6)  # float32 positions
    elif optimizer == "asgd":
        g = np.array(grads) + (settings["weight_decay"] + settings["lambd"]) * params[:-1]
        np.testing.assert_allclose(taken, -traj.step_size[1:] * g, rtol=1e-3, atol=1e-7)
        assert traj.step_size[1, 0] == np.float32(0.05) > traj.step_size[-1, 0]  # η decays from lr
        np.testing.assert_allclose(traj.arrow[1:] + params[1:], averaged, rtol=1e-5, atol=1e-6)
    else:
        moved = np.abs(taken) > 0
        assert moved.sum() > 30 and (~moved).any(), "steps taken, and skipped where the sign flipped"
        np.testing.assert_allclose(np.abs(taken)[moved], traj.step_size[1:][moved], rtol=1e-4)
