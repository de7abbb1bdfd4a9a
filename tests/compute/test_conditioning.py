"""The feature's scale, offset and standardizing: MSE's Hessian against its closed form, the runs
against a plain torch loop on the transformed data, and the map that follows the optimum."""

import math

import numpy as np
import pytest
import torch

from compute import DataSpec, InvalidSpec, LossSpec, OptimizerSpec, RunSpec, toy_data
from compute.cli import main
from compute.curvature import toy_hessian
from compute.data import feature_map
from compute.sweep import SweepAxis, SweepSpec, run_sweep
from compute.toy import follow_extent, least_squares, run_trajectory

TRANSFORMS = [(1.0, 0.0), (10.0, 0.0), (100.0, 0.0), (0.01, 0.0), (1.0, 3.0), (2.0, 4.0), (0.5, -20.0)]


def raw_x(data: DataSpec) -> np.ndarray:
    """The drawn x, independently of compute: the classic script's first draw."""
    np.random.seed(data.seed)
    return np.array(np.random.randn(data.n), dtype=np.float32).astype(np.float64)


def closed_form(data: DataSpec) -> tuple[float, float]:
    """MSE's Hessian eigenvalues from the raw sample's moments: x' = s·x + o has mean s·m1 + o and
    mean square s²·m2 + 2·s·o·m1 + o², H = 2·[[E x'², E x'], [E x', 1]], and a symmetric 2 × 2
    [[a, c], [c, d]] has eigenvalues (a + d)/2 ± √(((a − d)/2)² + c²)."""
    x = raw_x(data)
    s, o = data.x_scale, data.x_offset
    m1, m2 = x.mean(), (x * x).mean()
    a, c, d = 2 * (s * s * m2 + 2 * s * o * m1 + o * o), 2 * (s * m1 + o), 2.0
    mid, half = (a + d) / 2, math.hypot((a - d) / 2, c)
    return mid + half, mid - half


@pytest.mark.parametrize(("scale", "offset"), TRANSFORMS)
def test_the_hessian_and_its_condition_number_equal_the_closed_form(scale, offset):
    data = DataSpec(x_scale=scale, x_offset=offset)
    top, low = closed_form(data)
    found = toy_hessian(data, LossSpec(), 0.3, -1.0)  # MSE's Hessian is the same everywhere
    # the feature is rounded to float32 once: relative 6e-8 per value, more on λmin where it is a
    # small difference of large numbers (det = 4·s²·var x, λmin = det/λmax)
    assert found.eigenvalues[0] == pytest.approx(top, rel=1e-6)
    assert found.eigenvalues[1] == pytest.approx(low, rel=1e-4)
    assert found.condition == pytest.approx(top / low, rel=1e-4)


def test_the_condition_number_spans_one_to_ten_thousand_and_beyond():
    assert toy_hessian(DataSpec(standardize=True), LossSpec(), 0.0, 0.0).condition == pytest.approx(1.0, abs=1e-6)
    assert toy_hessian(DataSpec(), LossSpec(), 0.0, 0.0).condition < 2
    assert toy_hessian(DataSpec(x_scale=100.0), LossSpec(), 0.0, 0.0).condition > 5e3
    assert toy_hessian(DataSpec(x_scale=1000.0), LossSpec(), 0.0, 0.0).condition > 5e5
    assert toy_hessian(DataSpec(x_offset=100.0), LossSpec(), 0.0, 0.0).condition > 1e4


@pytest.mark.parametrize(("scale", "offset"), [(1.0, 0.0), (37.0, -4.0), (0.02, 900.0)])
def test_standardizing_gives_zero_mean_unit_variance_whatever_the_scale_and_offset(scale, offset):
    x, y = toy_data(DataSpec(x_scale=scale, x_offset=offset, standardize=True))
    plain_x, plain_y = toy_data(DataSpec(standardize=True))
    np.testing.assert_array_equal(y, plain_y)  # the labels never change
    np.testing.assert_allclose(x, plain_x, atol=2e-6)  # the scale and offset cancel (up to rounding)
    assert abs(x.astype(np.float64).mean()) < 1e-6
    assert x.astype(np.float64).std() == pytest.approx(1.0, abs=1e-6)
    a, b = feature_map(DataSpec(x_scale=scale, x_offset=offset, standardize=True))
    np.testing.assert_allclose(a * raw_x(DataSpec()) + b, x, atol=2e-6)


def test_the_default_feature_is_the_drawn_x_bit_for_bit():
    x, _ = toy_data(DataSpec())
    np.testing.assert_array_equal(x, raw_x(DataSpec()).astype(np.float32))
    assert feature_map(DataSpec(x_scale=3.0, x_offset=-1.0)) == (3.0, -1.0)


def transformed(data: DataSpec) -> np.ndarray:
    """The feature as a person would compute it from the raw x (the Code tab's lines)."""
    x = raw_x(data)
    if data.standardize:
        return np.array((x - x.mean()) / x.std(), dtype=np.float32)
    return np.array(data.x_scale * x + data.x_offset, dtype=np.float32)


def torch_loop(spec: RunSpec) -> list[tuple[float, float, float]]:
    """A plain full-batch torch.optim loop on the transformed feature: (w, b, loss) per step."""
    _, y = toy_data(spec.data)
    inputs, targets = torch.tensor(transformed(spec.data)).reshape(-1, 1), torch.tensor(y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(spec.init_weight)
        model.bias.fill_(spec.init_bias)
    values = spec.optimizer.values
    kwargs = {k: v for k, v in values.items() if k in ("lr", "momentum", "nesterov", "weight_decay", "dampening")}
    optimizer = torch.optim.SGD(model.parameters(), **kwargs)
    rows = []
    for _ in range(spec.epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        rows.append((model.weight.item(), model.bias.item(), loss.item()))
        loss.backward()
        optimizer.step()
    return rows


@pytest.mark.parametrize("data", [DataSpec(x_scale=10.0), DataSpec(x_offset=3.0), DataSpec(x_scale=2.0, x_offset=4.0),
                                  DataSpec(x_scale=2.0, x_offset=4.0, standardize=True)])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_runs_equal_torch_optim_on_the_transformed_data(data, momentum):
    spec = RunSpec(data=data, optimizer=OptimizerSpec("sgd", (("lr", 0.004), ("momentum", momentum))), epochs=40,
                   init_weight=1.0, init_bias=-2.0)
    traj = run_trajectory(spec)
    expected = np.array(torch_loop(spec), dtype=np.float32)
    np.testing.assert_array_equal(traj.weight[:40], expected[:, 0])
    np.testing.assert_array_equal(traj.bias[:40], expected[:, 1])
    np.testing.assert_array_equal(traj.loss[:40], expected[:, 2])


def test_the_sweep_takes_the_same_feature():
    """The batched engine on the transformed feature agrees with the toy lab's run (its documented rtol)."""
    data = DataSpec(x_offset=3.0)
    base = RunSpec(data=data, epochs=60, optimizer=OptimizerSpec("sgd", (("lr", 0.05),)))
    spec = SweepSpec(run=base, x=SweepAxis("lr", 0.01, 0.09, 3), y=SweepAxis("momentum", 0.0, 0.9, 2),
                     measure="final_loss")
    result = run_sweep(spec)
    for j, momentum in enumerate((0.0, 0.9)):
        for i, lr in enumerate((0.01, 0.05, 0.09)):
            run = RunSpec(data=data, epochs=60, optimizer=OptimizerSpec("sgd", (("lr", lr), ("momentum", momentum))))
            assert result.value[j, i] == pytest.approx(float(run_trajectory(run).loss[-1]), rel=2e-4)


def test_least_squares_and_the_followed_map():
    for data in (DataSpec(), DataSpec(x_scale=100.0), DataSpec(x_offset=-7.0, x_scale=0.5), DataSpec(standardize=True)):
        x, y = (torch.tensor(a, dtype=torch.float64) for a in toy_data(data))
        design = torch.stack([x, torch.ones_like(x)], 1)
        w, b = torch.linalg.lstsq(design, y.unsqueeze(1)).solution.squeeze(1).tolist()
        assert least_squares(data) == pytest.approx((w, b), rel=1e-9, abs=1e-12)
        extent = follow_extent(data, "mse", 6.0, -3.0)
        assert extent["w_min"] < w < extent["w_max"] and extent["b_min"] < b < extent["b_max"]
        assert extent["w_min"] < 6.0 < extent["w_max"] and extent["b_min"] < -3.0 < extent["b_max"]
        # square: the same span both ways, so that an equal-scale map shows a narrow valley as narrow
        assert extent["w_max"] - extent["w_min"] == pytest.approx(extent["b_max"] - extent["b_min"], rel=0.02)


def test_bad_settings_are_refused_by_name():
    for bad, field in (({"x_scale": 0.0}, "data.x_scale"), ({"x_scale": -1.0}, "data.x_scale"),
                       ({"x_offset": float("nan")}, "data.x_offset"), ({"standardize": "maybe"}, "data.standardize")):
        with pytest.raises(InvalidSpec) as err:
            DataSpec(**bad)
        assert err.value.field == field


def test_the_cli_takes_the_feature_settings(capsys):
    assert main(["run", "--x-scale", "10", "--x-offset", "1.5", "--lr", "0.004", "--epochs", "20"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    traj = run_trajectory(RunSpec(data=DataSpec(x_scale=10.0, x_offset=1.5), epochs=20,
                                  optimizer=OptimizerSpec("sgd", (("lr", 0.004),))))
    assert [float(r.split(",")[3]) for r in rows] == traj.loss.tolist()
    assert main(["curvature", "--standardize"]) == 0
    out = capsys.readouterr()
    assert [float(r.split(",")[1]) for r in out.out.splitlines()[1:]] == pytest.approx([2.0, 2.0], rel=1e-6)
    assert "κ = λmax/λmin = 1" in out.err
    assert main(["grid", "--x-offset", "3", "--resolution", "5"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 26
    assert main(["sweep", "--x-scale", "10", "--x", "lr:0.001:0.02:3", "--y", "momentum:0:0.9:2",
                 "--epochs", "10"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 7
    assert main(["run", "--x-scale", "0"]) == 2
    assert "x_scale" in capsys.readouterr().err
