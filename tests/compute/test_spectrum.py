"""Networks' curvature: Hessian-vector products, Lanczos, Hutchinson and the sharpness during
training, each against the dense Hessian of a model small enough to form it, or against torch.optim."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch
from torch import nn

from compute.api import load_landscape
from compute.cli import main
from compute.errors import InvalidSpec
from compute.landscape import LandscapeSpec, landscape, plan
from compute.nets import DatasetSpec, SmallCNN, TrainSpec, build_model, load_split, train
from compute.specs import OptimizerSpec
from compute.spectrum import (
    LossHessian,
    SharpeningSpec,
    SpectrumSpec,
    adam_scale,
    dense_hessian,
    hutchinson_trace,
    sharpening,
    spectrum,
    subset,
    threshold,
    top_eigen,
    trained_hessian,
)

SMALL = DatasetSpec("digits", train_size=300, test_size=100)


def _digits(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(SMALL)
    return split.x_train[:n], split.y_train[:n]


class ConvBN(nn.Module):
    """conv, BatchNorm, ReLU, linear: a model with buffers (eval mode uses them)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4 * 8 * 8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def _conv_bn() -> nn.Module:
    torch.manual_seed(3)
    model = ConvBN()
    model.train()
    with torch.no_grad():
        for _ in range(3):  # running statistics away from their initial 0 and 1
            model(_digits()[0] * 2 + 0.5)
    return model


@pytest.mark.parametrize("make", [lambda: SmallCNN(True), _conv_bn], ids=["cnn-skip", "conv-bn"])
def test_a_hessian_vector_product_equals_the_dense_hessian_times_the_vector(make):
    torch.manual_seed(0)
    model = make()
    data = _digits(20)
    dense = dense_hessian(model, data)
    for method in ("forward", "reverse"):
        hessian = LossHessian(model, data, method=method, chunk=8)  # several chunks, weighted
        for seed in range(3):
            v = torch.randn(hessian.size, generator=torch.Generator().manual_seed(seed))
            expected = dense @ v.double()
            got = hessian.hvp(v).double()
            assert torch.allclose(got, expected, atol=2e-6 * float(expected.abs().max()) + 1e-7), method
        assert hessian.count == 3


def test_products_leave_the_model_as_it_was():
    model = _conv_bn()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hessian = LossHessian(model, _digits())
    hessian.hvp(torch.ones(hessian.size))
    hessian.gradient()
    assert model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def _trained_mlp() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """The MLP trained 3 epochs on SMALL, and SMALL's whole training set (300 images)."""
    spec = TrainSpec(model="mlp", dataset=SMALL, epochs=3)
    model = spec.build(0)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(train(spec).final), model.parameters())
    return model, _digits(300)


@functools.cache
def _trained_dense() -> torch.Tensor:
    """The dense Hessian of ``_trained_mlp`` (formed once: a few seconds)."""
    return dense_hessian(*_trained_mlp())


def test_lanczos_finds_the_dense_hessians_top_eigenvalues_and_eigenvectors():
    model, data = _trained_mlp()
    dense = _trained_dense()
    values, vectors = torch.linalg.eigh(dense)
    hessian = LossHessian(model, data)
    found = top_eigen(hessian, 6, seed=1)
    assert found.converged
    np.testing.assert_allclose(found.eigenvalues, values.flip(0)[:6].numpy(), rtol=1e-4)
    for i in range(6):  # each vector is an eigenvector: up to sign, the dense one (distinct eigenvalues)
        v = torch.from_numpy(found.eigenvectors[i]).double()
        assert abs(float(v.norm()) - 1) < 1e-4
        assert abs(float(v @ vectors[:, -1 - i])) > 0.999
    assert found.matvecs == hessian.count
    again = top_eigen(LossHessian(model, data), 6, seed=1)  # the seed fixes the start vector
    np.testing.assert_array_equal(found.eigenvalues, again.eigenvalues)


def test_lanczos_within_its_cap_and_bad_k_are_messages():
    model, data = _trained_mlp()
    hessian = LossHessian(model, data)
    with pytest.raises(InvalidSpec, match="k must be"):
        top_eigen(hessian, 0)
    capped = LossHessian(model, data)
    try:
        found = top_eigen(capped, 8, max_matvecs=30, tol=1e-12)
        assert not found.converged
    except InvalidSpec as err:
        assert "max_matvecs" in str(err)
    assert capped.count <= 30 + 20


def test_hutchinson_uses_seeded_rademacher_probes_and_estimates_the_trace():
    model, data = _trained_mlp()
    dense = _trained_dense()
    hessian = LossHessian(model, data)
    estimate = hutchinson_trace(hessian, 300, seed=4)
    generator = torch.Generator().manual_seed(4)
    for value in estimate.values[:5]:  # each probe's value is zᵀHz for the seed's z
        z = (torch.randint(0, 2, (hessian.size,), generator=generator) * 2 - 1).double()
        assert value == pytest.approx(float(z @ dense @ z), rel=1e-4, abs=1e-5)
    assert abs(estimate.mean - float(dense.trace())) < 4 * estimate.stderr
    assert estimate.stderr < 0.2 * abs(float(dense.trace()))


def test_l2_adds_to_the_hessian():
    model, data = _trained_mlp()
    v = torch.randn(2410, generator=torch.Generator().manual_seed(0))
    plain, decayed = LossHessian(model, data).hvp(v), LossHessian(model, data, l2=0.01).hvp(v)
    assert torch.allclose(decayed - plain, 0.01 * v, atol=1e-6)


def test_a_trained_networks_spectrum_is_its_training_sets_hessians():
    spec = SpectrumSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=3), k=3, trace_samples=5, seed=2)
    trained = train(spec.train)
    seen = []
    found, trace = spectrum(spec, trained, progress=lambda done, total: seen.append((done, total)))
    dense = _trained_dense()  # over SMALL's whole training set
    np.testing.assert_allclose(found.eigenvalues, torch.linalg.eigvalsh(dense).flip(0)[:3].numpy(), rtol=1e-4)
    assert trace is not None and len(trace.values) == 5
    assert seen[-1] == (spec.max_matvecs + 5, spec.max_matvecs + 5)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(InvalidSpec):
        SpectrumSpec(k=0)
    with pytest.raises(InvalidSpec):
        SpectrumSpec(hvp="sideways")


def test_a_subset_is_seeded_and_all_when_zero():
    x, y = torch.arange(50.0)[:, None], torch.arange(50)
    a, b = subset(x, y, 10, 3), subset(x, y, 10, 3)
    assert torch.equal(a[1], b[1]) and len(a[1]) == 10
    assert len(subset(x, y, 0, 3)[1]) == 50


# ---- the plane of the top two eigenvectors ----------------------------------------------------

def test_the_hessian_plane_lies_along_the_top_two_eigenvectors():
    """The plane's directions are the unit eigenvectors of λ₁ and λ₂ (0 on the buffers), and the
    curvature along each, vᵀHv by double backward, is its eigenvalue. (A second difference of the
    plane's loss is not: a ReLU net's loss has kinks, which a finite step crosses.)"""
    train_spec = TrainSpec(model="mlp", dataset=SMALL, epochs=3)
    trained = train(train_spec)
    spec = LandscapeSpec(train=train_spec, mode="hessian", resolution=5, lo=-0.5, hi=0.5, seed=5)
    planned = plan(spec, trained)
    found, _ = spectrum(SpectrumSpec(train_spec, k=2, seed=5), trained)
    np.testing.assert_allclose(planned.eigenvalues, found.eigenvalues, rtol=1e-6)
    assert planned.eigenvalues[0] >= planned.eigenvalues[1] > 0
    hessian = trained_hessian(train_spec, trained.final_state, method="reverse")
    for d, lam in zip((planned.d1, planned.d2), planned.eigenvalues):
        assert float(d.norm()) == pytest.approx(1.0, abs=1e-5)
        assert float(d @ hessian.hvp(d)) == pytest.approx(lam, rel=1e-4)
    assert abs(float(planned.d1 @ planned.d2)) < 1e-4
    result = landscape(spec, trained, found=found)
    assert result.mode == "hessian" and "λ₁" in result.description
    np.testing.assert_array_equal(result.eigenvalues, planned.eigenvalues)
    model = train_spec.build(0)  # a plane point is the model at θ* + a·v₁ + b·v₂
    a, b = 0.25, -0.25  # coords -0.5, -0.25, 0, 0.25, 0.5: [b index 1, a index 3]
    torch.nn.utils.vector_to_parameters(torch.from_numpy(trained.final) + a * planned.d1 + b * planned.d2,
                                        model.parameters())
    split = load_split(SMALL)
    with torch.no_grad():
        expected = float(nn.functional.cross_entropy(model(split.x_train), split.y_train))
    assert result.train_loss[1, 3] == pytest.approx(expected, rel=1e-5)


# ---- sharpness during training -----------------------------------------------------------------

def test_thresholds_are_the_optimizers_stability_limits():
    sgd = TrainSpec().optimizer  # lr 0.1, momentum 0.9: heavy ball
    assert threshold(sgd)[0] == pytest.approx(38.0)
    assert threshold(OptimizerSpec("sgd", (("lr", 0.5),)))[0:2] == (pytest.approx(4.0), "2/lr")
    nesterov = OptimizerSpec("sgd", (("lr", 0.1), ("momentum", 0.9), ("nesterov", True)))
    assert threshold(nesterov)[0] == pytest.approx(2 * 1.9 / 2.8 / 0.1)
    adam = threshold(OptimizerSpec("adam", (("lr", 0.01),)))
    assert adam[0] == pytest.approx(3800.0) and adam[2]
    assert threshold(OptimizerSpec("rmsprop", (("lr", 0.01),)))[0] is None


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adams_preconditioner_is_torchs_update(name):
    """After each step, torch's update is θ' − θ = −lr·P⁻¹m: adam_scale² is P⁻¹."""
    model = build_model("mlp", 0)
    x, y = _digits(64)
    optimizer = getattr(torch.optim, {"adam": "Adam", "adamw": "AdamW"}[name])(
        model.parameters(), lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.0)
    assert adam_scale(optimizer) is None
    for _ in range(4):
        before = torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        step = torch.nn.utils.parameters_to_vector(model.parameters()).detach() - before
        m = torch.cat([optimizer.state[p]["exp_avg"].reshape(-1) for p in model.parameters()])
        assert torch.allclose(step, -0.01 * adam_scale(optimizer) ** 2 * m, rtol=1e-4, atol=1e-9)


def test_sharpening_trains_as_train_does_and_measures_each_steps_hessian():
    per_epoch = -(-300 // 64)
    spec = SharpeningSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=3), every=per_epoch, samples=100,
                          trace_samples=2, seed=1)
    result, trained = sharpening(spec)
    reference = train(spec.train)
    np.testing.assert_array_equal(trained.path, reference.path)
    assert list(result.steps) == [0, per_epoch, 2 * per_epoch, 3 * per_epoch]
    assert spec.measurements == 4
    np.testing.assert_array_equal(result.sharpness, result.hessian_max)  # SGD: H itself
    assert result.threshold == pytest.approx(38.0) and not result.preconditioned
    split = load_split(SMALL)
    data = subset(split.x_train, split.y_train, 100, 1)
    for k, step in enumerate(result.steps):
        model = spec.train.build(0)
        torch.nn.utils.vector_to_parameters(torch.from_numpy(reference.path[k]), model.parameters())
        if k in (1, len(result.steps) - 1):  # two of them against the dense Hessian (seconds each)
            dense = dense_hessian(model, data)
            assert result.hessian_max[k] == pytest.approx(float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-3)
        hessian = LossHessian(model, data)
        assert result.hessian_max[k] == pytest.approx(top_eigen(hessian, 1, seed=9).sharpness, rel=1e-3)
        assert result.trace[k] == pytest.approx(hutchinson_trace(hessian, 2, 1 + int(step)).mean, rel=1e-4)
        assert result.loss[k] == pytest.approx(hessian.loss_value(), rel=1e-5)


def test_adams_sharpening_is_the_preconditioned_hessians():
    adam = OptimizerSpec("adam", (("lr", 0.003),))
    spec = SharpeningSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=1, optimizer=adam), every=5, samples=150)
    result, _ = sharpening(spec)
    assert result.preconditioned and result.threshold == pytest.approx(38 / 0.003)
    assert result.sharpness[0] == result.hessian_max[0]  # no preconditioner before the first step
    captured = {}
    split = load_split(SMALL)
    data = subset(split.x_train, split.y_train, 150, 0)

    def watch(step, model, optimizer):
        if step == 5:
            captured["H"] = dense_hessian(model, data)
            captured["s"] = adam_scale(optimizer).double()

    train(spec.train, watch=watch)
    s = captured["s"]
    expected = float(torch.linalg.eigvalsh(s[:, None] * captured["H"] * s[None, :])[-1])
    assert result.sharpness[1] == pytest.approx(expected, rel=1e-3)
    assert result.sharpness[1] != pytest.approx(result.hessian_max[1], rel=0.1)


def test_too_many_measurements_are_refused_with_the_way_out():
    with pytest.raises(InvalidSpec, match="raise every"):
        SharpeningSpec(dataclasses.replace(TrainSpec(), epochs=200, batch_size=1), every=1)


def test_a_trained_hessian_holds_the_trained_state_with_batchnorm():
    spec = TrainSpec(model="resnet8", dataset=SMALL, epochs=1, width=1)
    trained = train(spec)
    hessian = trained_hessian(spec, trained.final_state, samples=64)
    n = hessian.size
    np.testing.assert_array_equal(hessian.theta.numpy(), trained.final)
    buffers = torch.cat([b.reshape(-1) for b in hessian.model.buffers() if b.is_floating_point()])
    np.testing.assert_array_equal(buffers.numpy(), trained.final_state[n:])


# ---- the CLI -----------------------------------------------------------------------------------

NET = ["--model", "mlp", "--train-size", "300", "--test-size", "100", "--epochs", "3"]


def test_the_cli_prints_a_trained_networks_top_eigenvalues(capsys):
    assert main(["curvature", *NET, "--k", "3", "--seed", "2", "--trace-samples", "4"]) == 0
    out, err = capsys.readouterr()
    rows = out.strip().splitlines()
    assert rows[0] == "index,eigenvalue"
    printed = [float(r.split(",")[1]) for r in rows[1:]]
    spec = SpectrumSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=3), k=3, seed=2, trace_samples=4)
    found, trace = spectrum(spec, train(spec.train))
    assert printed == found.eigenvalues.tolist()
    assert f"trace ≈ {trace.mean:.6g}" in err
    assert main(["curvature", *NET, "--k", "0"]) == 2
    assert "curvature --model: error: k must be" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stopped:  # argparse's one line
        main(["curvature", *NET, "--k", "2", "--hvp", "sideways"])
    assert stopped.value.code == 2


def test_the_cli_prints_the_sharpness_during_training(capsys):
    assert main(["curvature", *NET, "--every", "5", "--samples", "200", "--seed", "1"]) == 0
    out, err = capsys.readouterr()
    rows = [r.split(",") for r in out.strip().splitlines()]
    assert rows[0] == ["step", "sharpness", "hessian_max", "trace", "loss", "threshold"]
    result, _ = sharpening(SharpeningSpec(TrainSpec(model="mlp", dataset=SMALL, epochs=3), every=5, samples=200,
                                          seed=1))
    assert [int(r[0]) for r in rows[1:]] == result.steps.tolist()
    assert [float(r[1]) for r in rows[1:]] == result.sharpness.tolist()
    assert float(rows[1][5]) == pytest.approx(38.0)
    assert "3.8/lr" in err


def test_the_cli_writes_the_hessian_plane(tmp_path, capsys):
    out = tmp_path / "hessian.npz"
    assert main(["landscape", *NET, "--mode", "hessian", "--resolution", "5", "--range", "-0.5", "0.5",
                 "--seed", "5", "--out", str(out)]) == 0
    result = load_landscape(out.read_bytes())
    assert result.mode == "hessian"
    train_spec = TrainSpec(model="mlp", dataset=SMALL, epochs=3)
    found, _ = spectrum(SpectrumSpec(train_spec, k=2, seed=5), train(train_spec))
    np.testing.assert_allclose(result.eigenvalues, found.eigenvalues)
    page = landscape(LandscapeSpec(train=train_spec, mode="hessian", resolution=5, lo=-0.5, hi=0.5, seed=5),
                     train(train_spec))
    np.testing.assert_allclose(result.train_loss, page.train_loss, rtol=1e-6)


def test_your_own_model_and_loader_give_the_tensors_products():
    """The API's use: any module, any loss taking reduction="sum", a DataLoader of batches."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    v = torch.randn(sum(p.numel() for p in model.parameters()))
    from_tensors = LossHessian(model, (x, y)).hvp(v)
    from_loader = LossHessian(model, loader).hvp(v)
    assert torch.allclose(from_loader, from_tensors, atol=1e-6)
    dense = dense_hessian(model, (x, y))
    assert torch.allclose(from_tensors.double(), dense @ v.double(), atol=1e-5)
    assert top_eigen(LossHessian(model, loader), 2).eigenvalues[0] == pytest.approx(
        float(torch.linalg.eigvalsh(dense)[-1]), rel=1e-4)
