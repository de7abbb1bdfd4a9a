"""The batched engine against torch.optim, step by step, for random configurations.

Tolerances (the engine's documented agreement): float64 runs agree with a float64 torch.optim loop to 1e-7 (relative; 1e-9 absolute near
zero; typically 1e-13, but lr 0.5 with centered RMSprop amplifies the last bits); float32
runs agree with the toy lab's float32 torch loop to 2e-4 (relative, loss 1e-3) over 20 steps
with lr ≤ 0.2, on the way to the minimum: float32 reductions run in another order over a
(runs × points) tensor than over one run's points. Near the minimum, sign-like updates (Adam
with beta1 = 0, RMSprop) hop across it by ~lr each step and which side they land on depends on
the last bit, so float32 runs there agree in where they settle, not step by step.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compute import (
    LOSSES,
    OPTIMIZERS,
    DataSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    loss_data,
    run_trajectory,
    toy_data,
)
from compute.batched import BATCHED_UPDATES, run_batched

STEPS = 40
RANGES = {  # sensible ranges for random configurations (inside the registry's)
    "lr": (1e-3, 0.5), "momentum": (0.0, 0.95), "dampening": (0.0, 0.9), "weight_decay": (0.0, 1.0),
    "beta1": (0.0, 0.95), "beta2": (0.5, 0.999), "eps": (1e-8, 0.1), "alpha": (0.5, 0.99),
    "lr_decay": (0.0, 0.5), "initial_accumulator_value": (0.0, 1.0),
    "momentum_decay": (0.0, 0.5), "rho": (0.3, 0.99), "lambd": (0.0, 0.5), "t0": (0.0, 30.0),
    "etaminus": (0.1, 0.9), "etaplus": (1.05, 2.5), "step_size_min": (1e-6, 1e-2), "step_size_max": (0.05, 50.0),
    "beta2_decay": (-1.0, 0.0), "eps1": (0.0, 1e-3), "eps2": (1e-4, 0.1), "d": (1.0, 3.0),
    # Muon's polynomial at torch's coefficients: others may blow up (3, −5, 2 twice makes ±1 into ±1288)
    "ns_a": (3.4445, 3.4445), "ns_b": (-4.775, -4.775), "ns_c": (2.0315, 2.0315), "ns_steps": (1, 8),
    "adamw_lr": (1e-3, 0.5),
    "adamw_beta1": (0.0, 0.95), "adamw_beta2": (0.5, 0.999), "adamw_eps": (1e-8, 0.1), "adamw_weight_decay": (0.0, 1.0),
}
LOSS_PARAMS = {"mse": {}, "l1": {}, "huber": {"delta": 0.8}, "smoothl1": {"beta": 0.6}, "bce": {}}


def reference(spec: RunSpec, dtype=torch.float64) -> np.ndarray:
    """The plain torch.optim loop in ``dtype``: rows of (weight, bias, loss)."""
    x, y = loss_data(spec.data, spec.loss.name)
    X, Y = torch.tensor(x, dtype=dtype).reshape(-1, 1), torch.tensor(y, dtype=dtype).reshape(-1, 1)
    model = torch.nn.Linear(1, 1).to(dtype)
    with torch.no_grad():
        model.weight.fill_(spec.init_weight)
        model.bias.fill_(spec.init_bias)
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)
    rows = []
    for _ in range(spec.epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), Y)
        rows.append((model.weight.item(), model.bias.item(), loss.item()))
        loss.backward()
        optimizer.step()
    rows.append((model.weight.item(), model.bias.item(), loss_fn(model(X), Y).item()))
    return np.array(rows)


@st.composite
def configurations(draw, optimizer: str, count: int = 3, max_lr: float = 0.5):
    """``count`` random hyperparameter settings of one optimizer that torch accepts."""
    row = OPTIMIZERS[optimizer]
    flags = {p.name: draw(st.booleans()) for p in row.params if p.kind is bool}
    if optimizer == "sgd" and flags["nesterov"]:
        flags["dampening_zero"] = True
    if optimizer == "muon":
        flags["match_rms_adamw"] = False  # 0.2·lr: drawn lrs stay as they are (the flag is tested apart)
    numeric = [p for p in row.params if p.kind is not bool]
    settings_ = []
    for _ in range(count):
        values = {}
        for p in numeric:
            lo, hi = RANGES[p.name]
            values[p.name] = (draw(st.integers(lo, hi)) if p.kind is int else
                              draw(st.floats(lo, min(hi, max_lr) if p.name in ("lr", "adamw_lr") else hi)))
        if optimizer == "sgd" and flags.get("nesterov"):
            values["dampening"] = 0.0
            values["momentum"] = max(values["momentum"], 0.05)
        settings_.append(values)
    flags.pop("dampening_zero", None)
    if "maximize" in flags:
        flags["maximize"] = False  # ascent diverges on every loss: tested separately
    return flags, settings_


def _batched_against_reference(optimizer, loss, flags, settings_, dtype, steps=STEPS):
    names = list(settings_[0])
    base = RunSpec(loss=LossSpec(loss, tuple(LOSS_PARAMS[loss].items())), epochs=steps,
                   optimizer=OptimizerSpec(optimizer, tuple({**settings_[0], **flags}.items())))
    runs = run_batched(base, {n: np.array([s[n] for s in settings_]) for n in names}, dtype=dtype,
                       keep_params=True)
    for r, values in enumerate(settings_):
        spec = RunSpec(loss=base.loss, epochs=steps,
                       optimizer=OptimizerSpec(optimizer, tuple({**values, **flags}.items())))
        yield spec, runs, r


BATCHED = [k for k, row in OPTIMIZERS.items() if row.batched]  # LBFGS has no batched form: its own test


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("optimizer", BATCHED)
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_float64_matches_torch_optim_step_by_step(optimizer, loss, data):
    flags, settings_ = data.draw(configurations(optimizer))
    for spec, runs, r in _batched_against_reference(optimizer, loss, flags, settings_, torch.float64):
        expected = reference(spec)
        got = np.c_[runs.weight[:, r], runs.bias[:, r], runs.loss[:, r]]
        finite = np.isfinite(expected).all(axis=1)
        # Rounding, amplified: a chaotic run (centered RMSprop on BCE at lr 0.5, say) grows float64's
        # last-bit differences to 1e-7 in 40 steps. torch.optim's own run, started one ulp away,
        # measures that amplification; the engine may differ from torch by rounding plus 100× it.
        nudged = reference(dataclasses.replace(spec, init_weight=float(np.nextafter(spec.init_weight, np.inf))))
        allowed = 1e-7 * np.abs(expected) + 1e-9 + 100 * np.abs(nudged - expected)
        assert (np.abs(got - expected)[finite] <= allowed[finite]).all(), \
            np.max((np.abs(got - expected) - allowed)[finite])


@pytest.mark.parametrize("optimizer", BATCHED)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_float32_matches_the_toy_lab_run(optimizer, data):
    """Every drawn run is compared, none skipped: with lr ≤ 0.2 on MSE no run explodes (the worst
    corner, SGD at lr 0.2 with momentum 0.95 and weight_decay 1, peaks near loss 170 from the start's 53)."""
    flags, settings_ = data.draw(configurations(optimizer, max_lr=0.2))
    compared = 0
    for spec, runs, r in _batched_against_reference(optimizer, "mse", flags, settings_, torch.float32, 20):
        traj = run_trajectory(spec)
        assert traj.diverged_at is None and traj.loss.max() < 1e4, "a bounded run, as lr ≤ 0.2 on MSE gives"
        np.testing.assert_allclose(runs.weight[:, r], traj.weight, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(runs.bias[:, r], traj.bias, rtol=2e-4, atol=2e-5)
        np.testing.assert_allclose(runs.loss[:, r], traj.loss, rtol=1e-3, atol=1e-5)
        compared += 1
    assert compared == len(settings_) == 3


@pytest.mark.parametrize("knobs", [
    {"zero_grad": False}, {"clip_grad_norm": True, "max_norm": 1.5}, {"batch_size": 7, "batch_seed": 4},
    {"batch_size": 16, "clip_grad_norm": True, "max_norm": 0.7, "zero_grad": False},
], ids=str)
@pytest.mark.parametrize("maximize", [False, True])
def test_loop_knobs_match_the_toy_lab_run(knobs, maximize):
    lrs = np.array([0.01, 0.03, 0.05])
    base = RunSpec(epochs=8, optimizer=OptimizerSpec("sgd", (("momentum", 0.5), ("maximize", maximize))), **knobs)
    runs = run_batched(base, {"lr": lrs}, dtype=torch.float64, keep_params=True)
    for r, lr in enumerate(lrs):
        spec = RunSpec(epochs=8, optimizer=OptimizerSpec("sgd", (("lr", lr), ("momentum", 0.5),
                                                                 ("maximize", maximize))), **knobs)
        traj = run_trajectory(spec)
        n = traj.finite_steps
        np.testing.assert_allclose(runs.weight[:n, r], traj.weight[:n], rtol=1e-5)
        np.testing.assert_allclose(runs.loss[:n, r], traj.loss[:n], rtol=1e-5)


def test_diverged_runs_stay_apart():
    base = RunSpec(epochs=100)
    runs = run_batched(base, {"lr": np.array([0.1, 5.0, 0.05])})
    assert list(runs.diverged_at >= 0) == [False, True, False]
    alone = run_batched(base, {"lr": np.array([0.1, 0.05])})
    np.testing.assert_array_equal(runs.loss[:, [0, 2]], alone.loss)


@pytest.mark.parametrize("loss", list(LOSSES))
def test_loss_derivatives_equal_autograd(loss):
    row = LOSSES[loss]
    values = dict(LossSpec(loss, tuple(LOSS_PARAMS[loss].items())).params)
    pred = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    target = (torch.arange(601) % 2).to(torch.float64) if row.problem == "classification" else \
        torch.linspace(-1, 2, 601, dtype=torch.float64)
    (auto,) = torch.autograd.grad(row.module(values, reduction="sum")(pred, target), pred)
    np.testing.assert_allclose(row.derivative(pred.detach(), target, values).numpy(), auto.numpy(), rtol=1e-12)


def test_every_optimizer_has_a_batched_update():
    assert set(BATCHED_UPDATES) == set(BATCHED)


def test_data_is_shared():
    assert toy_data(DataSpec()) is toy_data(DataSpec())


def test_tiny_hyperparameters_switch_branches_as_torch_does():
    """momentum 1e-119 is 0 in float32, yet torch (testing the Python float) uses its buffer."""
    base = RunSpec(epochs=5, optimizer=OptimizerSpec("sgd", (("lr", 0.1), ("dampening", 0.5))))
    runs = run_batched(base, {"momentum": np.array([0.0, 1e-119])}, dtype=torch.float32, keep_params=True)
    for r, momentum in enumerate((0.0, 1e-119)):
        traj = run_trajectory(RunSpec(epochs=5, optimizer=OptimizerSpec(
            "sgd", (("lr", 0.1), ("dampening", 0.5), ("momentum", momentum)))))
        np.testing.assert_allclose(runs.weight[:, r], traj.weight, rtol=1e-6)


@pytest.mark.parametrize("batch", [0, 7])
def test_blocks_of_runs_give_the_runs_of_one_block(monkeypatch, batch):
    """A big sweep runs in blocks of runs (bounded memory): the same runs, in order, to rounding
    (a matrix-vector product's summation order may follow the number of rows), the same divergence,
    and a progress that climbs to the last step once."""
    from compute import batched

    base = RunSpec(epochs=400 if batch == 0 else 100, batch_size=batch, optimizer=OptimizerSpec("sgd", (("lr", 0.05),)))
    overrides = {"lr": np.geomspace(1e-3, 10.0, 23), "momentum": np.linspace(0.0, 0.95, 23)}
    whole = run_batched(base, overrides, dtype=torch.float64, keep_params=True)
    monkeypatch.setattr(batched, "BLOCK_ELEMENTS", 5 * base.data.n)  # blocks of 5 runs: 5 blocks
    seen = []
    blocks = run_batched(base, overrides, dtype=torch.float64, keep_params=True,
                         progress=lambda done, steps: seen.append((done, steps)))
    np.testing.assert_array_equal(blocks.diverged_at, whole.diverged_at)
    assert (whole.diverged_at >= 0).any() and (whole.diverged_at < 0).any()
    # rtol 1e-9: a run exploding towards 1e175 carries the last bit of a product's order along
    # (measured 3.5e-12 on an AMD EPYC, whose BLAS orders a 5-row product apart from a 23-row one)
    for name in ("loss", "weight", "bias"):
        np.testing.assert_allclose(getattr(blocks, name), getattr(whole, name), rtol=1e-9, atol=1e-300)
    assert seen == sorted(seen) and seen[-1] == (base.steps, base.steps)
    assert all(steps == base.steps for _, steps in seen)


def test_muon_follows_torch_with_any_polynomial_and_gradients_under_its_floor():
    """Muon on the 1 × 1 weight: ±K from torch's own iteration, gradients under eps through torch's
    step itself; another polynomial (one that grows ±1 into ±1288) and a large eps (most updates
    under it) exactly as torch.optim.Muon with AdamW on the bias."""
    settings_ = [{"lr": 0.01, "ns_a": 3.0, "ns_b": -5.0, "ns_c": 2.0, "ns_steps": 2, "eps": 1e-7},
                 {"lr": 0.05, "ns_a": 3.4445, "ns_b": -4.775, "ns_c": 2.0315, "ns_steps": 5, "eps": 1.0},
                 {"lr": 0.2, "ns_a": 3.4445, "ns_b": -4.775, "ns_c": 2.0315, "ns_steps": 7, "eps": 0.3}]
    flags = {"nesterov": True, "match_rms_adamw": True}
    for spec, runs, r in _batched_against_reference("muon", "mse", flags, settings_, torch.float64, steps=30):
        expected = reference(spec)
        got = np.c_[runs.weight[:, r], runs.bias[:, r], runs.loss[:, r]]
        finite = np.isfinite(expected).all(axis=1)
        np.testing.assert_allclose(got[finite], expected[finite], rtol=1e-9, atol=1e-12)
