"""Curvature of the toy loss against the closed forms, and the stability thresholds against the
iteration's own eigenvalues and against torch.optim's runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from compute import run_trajectory
from compute.curvature import spectral_radius, stable_lr, toy_hessian
from compute.losses import loss_data
from compute.optimizers import OPTIMIZERS
from compute.specs import DataSpec, LossSpec, OptimizerSpec, RunSpec

POINTS = [(6.0, -3.0), (1.0, 2.0), (-0.5, 0.3), (2.2, 2.9)]


def _xy(loss: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = loss_data(DataSpec(), loss)
    return x.astype(np.float64), y.astype(np.float64)


def _outer(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.array([[np.sum(weights * x * x), np.sum(weights * x)], [np.sum(weights * x), np.sum(weights)]])


@pytest.mark.parametrize(("w", "b"), POINTS)
def test_mse_hessian_is_the_constant_closed_form(w, b):
    x, _ = _xy("mse")
    expected = (2 / len(x)) * _outer(np.ones_like(x), x)
    got = toy_hessian(DataSpec(), LossSpec("mse"), w, b)
    np.testing.assert_allclose(got.hessian, expected, rtol=1e-12)
    assert got.eigenvalues[0] >= got.eigenvalues[1] > 0
    np.testing.assert_allclose(got.hessian @ got.eigenvectors, got.eigenvectors * got.eigenvalues, atol=1e-12)


@pytest.mark.parametrize(("w", "b"), POINTS)
@pytest.mark.parametrize(("loss", "width"), [("huber", 1.0), ("huber", 0.3), ("smoothl1", 1.0), ("smoothl1", 2.5)])
def test_huber_and_smoothl1_count_the_points_in_the_quadratic_zone(w, b, loss, width):
    x, y = _xy(loss)
    inside = (np.abs(w * x + b - y) < width).astype(np.float64)
    scale = 1.0 if loss == "huber" else 1.0 / width
    expected = scale / len(x) * _outer(inside, x)
    name = "delta" if loss == "huber" else "beta"
    got = toy_hessian(DataSpec(), LossSpec(loss, ((name, width),)), w, b)
    np.testing.assert_allclose(got.hessian, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("w", "b"), POINTS)
def test_l1_has_no_curvature_and_bce_is_the_logistic_form(w, b):
    assert np.all(toy_hessian(DataSpec(), LossSpec("l1"), w, b).hessian == 0)
    assert stable_lr(0.0, OptimizerSpec("sgd", (("lr", 0.1),))) is None  # no curvature, no bound
    x, _ = _xy("bce")
    s = 1 / (1 + np.exp(-(w * x + b)))
    expected = _outer(s * (1 - s), x) / len(x)
    np.testing.assert_allclose(toy_hessian(DataSpec(), LossSpec("bce"), w, b).hessian, expected, rtol=1e-10)


@pytest.mark.parametrize(("mu", "tau", "nesterov"), [(0.0, 0.0, False), (0.5, 0.0, False), (0.9, 0.0, False),
                                                     (0.9, 0.5, False), (0.3, 0.0, True), (0.9, 0.0, True),
                                                     (0.99, 0.0, True)])
def test_each_threshold_is_where_the_iteration_s_spectral_radius_crosses_one(mu, tau, nesterov):
    sharpness = 3.7
    params = (("lr", 0.1), ("momentum", mu), ("dampening", tau), ("nesterov", nesterov))
    bound = stable_lr(sharpness, OptimizerSpec("sgd", params))
    assert spectral_radius(0.999 * bound * sharpness, mu, nesterov, tau) < 1 + 1e-9
    assert spectral_radius(1.001 * bound * sharpness, mu, nesterov, tau) > 1
    h = np.linspace(1e-3, 0.999 * bound * sharpness, 200)  # stable all the way from 0
    assert max(spectral_radius(v, mu, nesterov, tau) for v in h) < 1 + 1e-9


@pytest.mark.parametrize(("mu", "tau"), [(1.0, 0.0), (1.5, 0.0), (2.0, 0.5)])
def test_no_lr_is_stable_for_a_heavy_ball_with_momentum_of_one_or_more(mu, tau):
    """torch accepts momentum ≥ 1; the iteration's two eigenvalues multiply to μ, so no lr·λ makes
    both smaller than 1: the bound is 0 (none), and torch's runs never settle."""
    params = (("lr", 0.1), ("momentum", mu), ("dampening", tau))
    assert stable_lr(3.7, OptimizerSpec("sgd", params)) == 0
    assert min(spectral_radius(h, mu, False, tau) for h in np.linspace(1e-4, 10, 2000)) >= 1 - 1e-9
    run = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.01), *params[1:])), epochs=500))
    settled = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.01), ("momentum", 0.9))), epochs=500))
    assert run.diverged_at is not None or run.loss[-1] > 10 * settled.loss[-1], (run.diverged_at, run.loss[-1])
    assert OPTIMIZERS["sgd"].stability.label({}, 0.0).startswith("none: no lr is stable")


def test_weight_decay_adds_to_the_curvature_and_adams_threshold_is_cohen_et_als():
    plain = stable_lr(2.0, OptimizerSpec("sgd", (("lr", 0.1),)))
    decayed = stable_lr(2.0, OptimizerSpec("sgd", (("lr", 0.1), ("weight_decay", 0.5))))
    assert plain == pytest.approx(1.0) and decayed == pytest.approx(2 / 2.5)
    assert OPTIMIZERS["adam"].stability.threshold({"lr": 0.01, "beta1": 0.9}) == pytest.approx(38 / 0.01)
    assert stable_lr(2.0, OptimizerSpec("adam", (("lr", 0.1),))) is None


@pytest.mark.parametrize(("mu", "nesterov"), [(0.0, False), (0.9, False), (0.9, True)])
def test_torch_optim_diverges_just_past_the_threshold_and_not_before(mu, nesterov):
    """Truth is torch: full-batch torch.optim.SGD on MSE converges at 0.97 × the bound and blows
    up at 1.03 × it."""
    sharpness = toy_hessian(DataSpec(), LossSpec("mse"), 6.0, -3.0).sharpness
    params = (("momentum", mu), ("nesterov", nesterov))
    bound = stable_lr(sharpness, OptimizerSpec("sgd", (("lr", 0.1), *params)))
    below = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.97 * bound), *params)), epochs=2000))
    above = run_trajectory(RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 1.03 * bound), *params)), epochs=2000))
    assert below.diverged_at is None and below.loss[-1] < below.loss[0]
    assert above.diverged_at is not None


def test_the_cli_prints_the_eigenvalues_at_a_step(capsys):
    from compute.cli import main

    assert main(["curvature", "--loss", "huber", "--step", "20"]) == 0
    out, err = capsys.readouterr()
    rows = out.strip().splitlines()
    assert rows[0] == "index,eigenvalue" and len(rows) == 3
    traj = run_trajectory(RunSpec(loss=LossSpec("huber")))
    expected = toy_hessian(DataSpec(), LossSpec("huber"), float(traj.weight[20]), float(traj.bias[20]))
    assert [float(r.split(",")[1]) for r in rows[1:]] == expected.eigenvalues.tolist()
    assert "stable while lr <" in err
    assert main(["curvature", "--lr", "3", "--step", "50"]) == 2
    assert "diverged at step" in capsys.readouterr().err
    assert main(["curvature", "--step", "x"]) == 2


@pytest.mark.parametrize("loss", ["mse", "huber", "smoothl1", "l1", "bce"])
def test_a_runs_hessians_at_every_step_equal_each_points_own(loss):
    from compute.curvature import toy_hessians

    traj = run_trajectory(RunSpec(loss=LossSpec(loss), epochs=30))
    path = toy_hessians(DataSpec(), LossSpec(loss), traj.weight, traj.bias)
    assert path.eigenvalues.shape == (31, 2) and path.eigenvectors.shape == (31, 2, 2)
    for k in (0, 7, 30):
        one = toy_hessian(DataSpec(), LossSpec(loss), float(traj.weight[k]), float(traj.bias[k]))
        np.testing.assert_array_equal(path.hessians[k], one.hessian)
        np.testing.assert_allclose(path.eigenvalues[k], one.eigenvalues, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_the_batched_engines_divergence_agrees_with_the_theory_on_a_fine_grid(nesterov):
    """Full-batch SGD on MSE over lr × momentum (60 × 40 runs of 1,500 steps on the batched
    engine): every run below the bound stays finite, and every run whose growth factor along the
    sharpest direction, ρ, is at least exp(90/steps) (it must overflow float32 within the run)
    diverges. The band between, where ρ > 1 but too little to overflow in time, is thin: under 5%
    of the cells."""
    from compute.curvature import sweep_stability
    from compute.sweep import SweepAxis, SweepSpec, run_sweep

    steps = 1500
    params = (("lr", 0.1), ("momentum", 0.5), ("nesterov", nesterov))
    spec = SweepSpec(run=RunSpec(optimizer=OptimizerSpec("sgd", params), epochs=steps),
                     x=SweepAxis("lr", 0.05, 5.0, 60, True), y=SweepAxis("momentum", 0.01, 0.99, 40),
                     measure="diverged")
    diverged = run_sweep(spec).diverged_at >= 0
    ratio = sweep_stability(spec)
    sharpness = toy_hessian(DataSpec(), LossSpec("mse"), 6.0, -3.0).sharpness
    xs, ys = np.meshgrid(spec.x.values(), spec.y.values())
    rho = np.vectorize(lambda lr, mu: spectral_radius(lr * sharpness, mu, nesterov))(xs, ys)
    below, above = ratio < 1, rho >= np.exp(90 / steps)
    assert not diverged[below].any(), "a run below the bound diverged"
    assert diverged[above].all(), "a run well past the bound stayed finite"
    assert below.sum() > 300 and above.sum() > 300
    assert (~below & ~above).mean() < 0.05
    np.testing.assert_array_equal(ratio < 1, rho < 1)  # the ratio's boundary is the spectral radius's


# ---- the theory on the optimizer registry's rows -------------------------------------------------

# What each registry row states, checked against the closed forms above: SGD's bound is where the
# iteration's spectral radius crosses 1 (and 2/lr, 38/lr at momentum 0.9, 2·1.9/(2.8·lr) Nesterov);
# Adam's is Cohen et al.'s 38/lr at β1 = 0.9, heavy ball with dampening β1 on P⁻¹H. A new row must
# say here what its theory is (None: none known), so that every row is tested.
ROW_THEORY = {"sgd": "lr", "adam": "preconditioned", "adamw": "preconditioned", "rmsprop": None, "adagrad": None,
              "adamax": "preconditioned", "nadam": None, "radam": None, "adadelta": None, "asgd": "decaying",
              "rprop": None, "adafactor": None, "muon": None, "lbfgs": None}
SGD_CASES = [(0.0, 0.0, False), (0.5, 0.0, False), (0.9, 0.0, False), (0.9, 0.5, False), (0.3, 0.0, True),
             (0.9, 0.0, True), (0.99, 0.0, True)]


def test_every_optimizer_row_says_what_its_theory_is():
    assert set(ROW_THEORY) == set(OPTIMIZERS)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_the_theory_on_each_row_is_the_closed_form(name):
    from compute.optimizers import adam_scale
    from compute.spectrum import threshold

    row, kind = OPTIMIZERS[name], ROW_THEORY.get(name, "missing")
    values = OptimizerSpec(name, (("lr", 0.1),)).values
    if kind is None:
        assert row.stability is None and threshold(OptimizerSpec(name, (("lr", 0.1),))) == (None, "", False)
        assert stable_lr(2.0, OptimizerSpec(name, (("lr", 0.1),))) is None
        return
    theory = row.stability
    if kind == "lr":
        assert not theory.preconditioned
        for mu, tau, nesterov in SGD_CASES:
            values = {**values, "momentum": mu, "dampening": tau, "nesterov": nesterov}
            k = theory.bound(values)
            assert spectral_radius(0.999 * k, mu, nesterov, tau) < 1 + 1e-9 < spectral_radius(1.001 * k, mu, nesterov, tau)
            assert stable_lr(3.7, OptimizerSpec(name, tuple(values.items()))) == pytest.approx(k / 3.7)
        heavy = {**values, "momentum": 0.9, "dampening": 0.0, "nesterov": False}
        assert theory.threshold(heavy) == pytest.approx(38.0)  # TrainSpec's SGD: lr 0.1, momentum 0.9
        assert theory.threshold({**heavy, "nesterov": True}) == pytest.approx(2 * 1.9 / 2.8 / 0.1)
        plain = {**heavy, "momentum": 0.0, "lr": 0.5}
        assert theory.threshold(plain) == pytest.approx(4.0) and theory.label(plain, theory.bound(plain)) == "2/lr"
        assert theory.bound({**heavy, "dampening": 1.0}) is None  # no gradient enters the velocity
    elif kind == "decaying":  # ASGD: SGD with L2 lambd and a step η ≤ lr: 2/lr from the first step
        assert not theory.preconditioned and theory.bound(values) == 2.0
        assert stable_lr(3.7, OptimizerSpec(name, (("lambd", 0.3),))) == pytest.approx(2 / 4.0)
        assert theory.threshold({**values, "lr": 0.5}) == 4.0
    else:
        from compute.optimizers import adamax_scale
        scale = adamax_scale if name == "adamax" else adam_scale
        assert kind == "preconditioned" and theory.preconditioned and theory.preconditioner is scale
        assert theory.threshold({**values, "lr": 0.01, "beta1": 0.9}) == pytest.approx(38 / 0.01)
        for beta1 in (0.0, 0.5, 0.9, 0.99):  # heavy ball with dampening β1 (the module's note)
            k = theory.bound({**values, "beta1": beta1})
            assert spectral_radius(0.999 * k, beta1, False, beta1) < 1 + 1e-9 < spectral_radius(1.001 * k, beta1, False, beta1)
        assert stable_lr(2.0, OptimizerSpec(name, (("lr", 0.1),))) is None  # its bound is not on H's own λmax
        limit, label, preconditioned = threshold(OptimizerSpec(name, (("lr", 0.01),)))
        assert limit == pytest.approx(3800.0) and preconditioned and label == "(2 + 2β1)/((1 − β1)·lr) = 3.8/(0.1·lr)"


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_weight_decay_adds_to_the_hessian_unless_decoupled(name):
    values = {**OptimizerSpec(name).values, "weight_decay": 0.25}
    decoupled = {"adamw", "adafactor", "muon"}  # their decay is decoupled; ASGD's lambd adds to it
    expected = 0.0 if name in decoupled else 0.25 + (1e-4 if name == "asgd" else 0.0)
    assert OPTIMIZERS[name].l2(values) == pytest.approx(expected)
    if "decoupled_weight_decay" in values:
        assert OPTIMIZERS[name].l2({**values, "decoupled_weight_decay": True}) == 0.0


@pytest.mark.parametrize("name", ["adam", "adamw", "adamax"])
def test_the_preconditioner_is_the_one_torch_steps_with(name):
    """P^(-1/2) from the optimizer's state after a step is the one its next step divides by: the
    step θ ← θ − lr·P⁻¹m (m the first moment, P = (1 − β1ᵗ)(√v̂ + eps) or (1 − β1ᵗ)·u)."""
    torch.manual_seed(0)
    theta = torch.randn(5, dtype=torch.float64, requires_grad=True)
    optimizer = OPTIMIZERS[name].build([theta], {**OptimizerSpec(name).values, "lr": 0.05, "weight_decay": 0.0})
    for _ in range(3):
        optimizer.zero_grad()
        ((theta**4).sum() + (theta[:2] * theta[3:]).sum()).backward()
        before = theta.detach().clone()
        optimizer.step()
        scale = OPTIMIZERS[name].stability.preconditioner(optimizer)
        moved = theta.detach() - before
        torch.testing.assert_close(moved, -0.05 * scale**2 * optimizer.state[theta]["exp_avg"], rtol=1e-10, atol=0)


def test_a_new_row_with_known_theory_is_one_row(monkeypatch):
    """Rows copied from SGD's and Adam's under new names get their theory everywhere: the stable
    learning rate, the sweep's stability ratio, the sharpness's threshold and its products."""
    import dataclasses

    from compute.nets import TrainSpec
    from compute.optimizers import ADAM, SGD
    from compute.spectrum import SharpeningSpec, threshold
    from compute.sweep import SweepAxis, SweepSpec

    monkeypatch.setitem(OPTIMIZERS, "sgd2", dataclasses.replace(SGD, key="sgd2"))
    monkeypatch.setitem(OPTIMIZERS, "adam2", dataclasses.replace(ADAM, key="adam2"))
    for new, old, params in (("sgd2", "sgd", (("lr", 0.1), ("momentum", 0.9))), ("adam2", "adam", (("lr", 0.01),))):
        assert stable_lr(3.0, OptimizerSpec(new, params)) == stable_lr(3.0, OptimizerSpec(old, params))
        assert threshold(OptimizerSpec(new, params)) == threshold(OptimizerSpec(old, params))
        train = TrainSpec(model="mlp", epochs=1)
        assert (SharpeningSpec(dataclasses.replace(train, optimizer=OptimizerSpec(new, params))).products ==
                SharpeningSpec(dataclasses.replace(train, optimizer=OptimizerSpec(old, params))).products)
    products = {name: SharpeningSpec(TrainSpec(model="mlp", epochs=1, optimizer=OptimizerSpec(name))).products
                for name in ("sgd2", "adam2")}
    assert products["adam2"] == 2 * products["sgd2"]  # Lanczos on H, then on P⁻¹H
    from compute.curvature import sweep_stability

    axes = {"x": SweepAxis("lr", 0.05, 5.0, 4, True), "y": SweepAxis("momentum", 0.0, 0.9, 3)}
    np.testing.assert_array_equal(
        sweep_stability(SweepSpec(run=RunSpec(optimizer=OptimizerSpec("sgd2"), epochs=10), **axes)),
        sweep_stability(SweepSpec(run=RunSpec(optimizer=OptimizerSpec("sgd"), epochs=10), **axes)))
