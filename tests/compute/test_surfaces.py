"""The classic surfaces and the typed expression: maps point by point, the Hessian against its closed
form, runs against a plain torch.optim loop, the batched engine against torch, and hostile text."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from compute import OPTIMIZERS, GridSpec, InvalidSpec, OptimizerSpec, RunSpec, loss_grid, run_trajectory
from compute.batched import BATCHED_UPDATES, run_batched
from compute.cli import main
from compute.curvature import sweep_stability, toy_hessian
from compute.expression import MAX_EXPONENT, MAX_LENGTH, parse
from compute.specs import SurfaceSpec
from compute.surfaces import SURFACES, surface_extent
from compute.sweep import SweepAxis, SweepSpec, run_sweep

EXPRESSION = "sin(x)*y^2 + exp(x*y)/2"


def by_hand(name: str, v: dict, x, y, lib):
    """Each surface's formula written out again, on numpy (float64) or torch."""
    cos, sin, exp, pi = lib.cos, lib.sin, lib.exp, math.pi
    if name == "rosenbrock":
        return (v["a"] - x) ** 2 + v["b"] * (y - x**2) ** 2
    if name == "rastrigin":
        return 2 * v["A"] + x**2 - v["A"] * cos(2 * pi * x) + y**2 - v["A"] * cos(2 * pi * y)
    if name == "beale":
        return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2
    if name == "himmelblau":
        return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2
    if name == "saddle":
        return x**2 - y**2
    if name == "quadratic":
        return (x**2 + v["kappa"] * y**2) / 2
    return sin(x) * y**2 + exp(x * y) / 2


def hessian_by_hand(name: str, v: dict, x: float, y: float) -> np.ndarray:
    """The closed-form Hessian [[f_xx, f_xy], [f_xy, f_yy]]."""
    if name == "rosenbrock":
        b = v["b"]
        return np.array([[2 - 4 * b * y + 12 * b * x * x, -4 * b * x], [-4 * b * x, 2 * b]])
    if name == "rastrigin":
        a = v["A"]
        return np.diag([2 + a * (2 * math.pi) ** 2 * math.cos(2 * math.pi * x),
                        2 + a * (2 * math.pi) ** 2 * math.cos(2 * math.pi * y)])
    if name == "beale":
        c = (1.5, 2.25, 2.625)
        u = [c[i - 1] - x + x * y**i for i in (1, 2, 3)]
        fxx = 2 * sum((y**i - 1) ** 2 for i in (1, 2, 3))
        fyy = 2 * sum((i * x * y ** (i - 1)) ** 2 + u[i - 1] * i * (i - 1) * x * y ** (i - 2) for i in (1, 2, 3))
        fxy = 2 * sum((y**i - 1) * i * x * y ** (i - 1) + u[i - 1] * i * y ** (i - 1) for i in (1, 2, 3))
        return np.array([[fxx, fxy], [fxy, fyy]])
    if name == "himmelblau":
        g, h = x * x + y - 11, x + y * y - 7
        return np.array([[4 * g + 8 * x * x + 2, 4 * x + 4 * y], [4 * x + 4 * y, 2 + 4 * h + 8 * y * y]])
    if name == "saddle":
        return np.diag([2.0, -2.0])
    if name == "quadratic":
        return np.diag([1.0, v["kappa"]])
    e = math.exp(x * y)
    return np.array([[-math.sin(x) * y * y + y * y * e / 2, 2 * y * math.cos(x) + (e + x * y * e) / 2],
                     [2 * y * math.cos(x) + (e + x * y * e) / 2, 2 * math.sin(x) + x * x * e / 2]])


NAMED = [key for key in SURFACES if key != "none"]


def surface(name: str, **given) -> SurfaceSpec:
    if name == "expression":
        return SurfaceSpec(name, (("text", EXPRESSION),))
    return SurfaceSpec(name, tuple(given.items()))


@pytest.mark.parametrize("name", NAMED)
def test_each_map_is_the_formula_point_by_point(name):
    spec = surface(name)
    grid = loss_grid(GridSpec(surface=spec, resolution=41, **surface_extent(name)))
    x64, y64 = np.meshgrid(grid.biases.astype(np.float64), grid.weights.astype(np.float64))
    expected = by_hand(name, spec.values, x64, y64, np)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(grid.loss, expected, rtol=1e-5, atol=1e-6 * scale)
    f = SURFACES[name].function(spec.values)
    for i in range(0, 41, 7):  # and one point at a time, as a run evaluates it
        for j in range(0, 41, 9):
            one = f(torch.tensor([grid.biases[j]]), torch.tensor([[grid.weights[i]]])).item()
            assert one == pytest.approx(float(grid.loss[i, j]), rel=1e-6, abs=1e-6 * scale)


@pytest.mark.parametrize("name", NAMED)
def test_the_hessian_is_its_closed_form(name):
    spec = surface(name)
    rng = np.random.default_rng(7)
    x_min, x_max, y_min, y_max = SURFACES[name].extent
    for x, y in zip(rng.uniform(x_min, x_max, 6), rng.uniform(y_min, y_max, 6), strict=True):
        found = toy_hessian(None, None, float(y), float(x), spec)  # (w, b) = (y, x); no data is read
        expected = hessian_by_hand(name, spec.values, float(x), float(y))
        in_wb = expected[::-1, ::-1]  # (y, x) order
        np.testing.assert_allclose(found.hessian, in_wb, rtol=1e-10, atol=1e-9 * np.abs(in_wb).max())
        values = np.linalg.eigvalsh(expected)[::-1]
        np.testing.assert_allclose(found.eigenvalues, values, rtol=1e-9, atol=1e-9 * np.abs(values).max())


def torch_loop(spec: RunSpec, dtype=torch.float32) -> np.ndarray:
    """A plain torch.optim loop on the surface written by hand: rows of (x, y, f)."""
    y = torch.nn.Parameter(torch.full((1, 1), spec.init_weight, dtype=dtype))
    x = torch.nn.Parameter(torch.full((1,), spec.init_bias, dtype=dtype))
    optimizer = OPTIMIZERS[spec.optimizer.name].build([y, x], spec.optimizer.values)
    values = spec.surface.values

    def f() -> torch.Tensor:
        return by_hand(spec.surface.name, values, x, y, torch).sum()

    rows = []
    for _ in range(spec.epochs):
        optimizer.zero_grad()
        loss = f()
        rows.append((x.item(), y.item(), loss.item()))
        if OPTIMIZERS[spec.optimizer.name].closure:
            def closure() -> torch.Tensor:
                optimizer.zero_grad()
                loss = f()
                loss.backward()
                return loss
            optimizer.step(closure)
        else:
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        rows.append((x.item(), y.item(), f().item()))
    return np.array(rows)


LR = {"sgd": 1e-3, "asgd": 1e-3, "lbfgs": 0.1, "adadelta": 1.0, "rprop": 0.01}


@pytest.mark.parametrize("optimizer", [k for k in OPTIMIZERS if not k.startswith("cls_")])
@pytest.mark.parametrize("name", ["rosenbrock", "rastrigin", "himmelblau", "expression"])
def test_runs_are_torch_optims_loop(name, optimizer):
    """The toy lab's run on a surface is the plain loop on the formula written by hand, bit for bit."""
    start = SURFACES[name].start
    spec = RunSpec(surface=surface(name), optimizer=OptimizerSpec(optimizer, (("lr", LR.get(optimizer, 0.01)),)),
                   epochs=12, init_bias=start[0], init_weight=start[1])
    traj = run_trajectory(spec)
    rows = torch_loop(spec)[:len(traj.loss)]  # (LBFGS's line search leaves the typed formula's bowl: it has none)
    np.testing.assert_array_equal(np.stack([traj.bias, traj.weight, traj.loss], 1), rows.astype(np.float32))


@pytest.mark.parametrize("optimizer", list(BATCHED_UPDATES))
@pytest.mark.parametrize("name", NAMED)
def test_the_batched_engine_follows_torch_on_every_surface(name, optimizer):
    """float64: the engine's runs against the float64 torch.optim loop, to 1e-7 relative; float32: against
    the toy lab's run to 2e-4 (the engine's documented tolerances)."""
    start = SURFACES[name].start
    spec = RunSpec(surface=surface(name), optimizer=OptimizerSpec(optimizer, (("lr", LR.get(optimizer, 0.01)),)),
                   epochs=20, init_bias=start[0], init_weight=start[1])
    lrs = np.array([LR.get(optimizer, 0.01), LR.get(optimizer, 0.01) / 2])
    found = run_batched(spec, {"lr": lrs}, dtype=torch.float64, keep_params=True)
    for r, lr in enumerate(lrs):
        one = dataclasses.replace(spec, optimizer=OptimizerSpec(optimizer, (("lr", float(lr)),)))
        rows = torch_loop(one, torch.float64)
        got = np.stack([found.bias[:, r], found.weight[:, r], found.loss[:, r]], 1)
        np.testing.assert_allclose(got, rows, rtol=1e-7, atol=1e-9)
    in32 = run_batched(spec, {"lr": lrs[:1]}, keep_params=True)
    traj = run_trajectory(spec)
    np.testing.assert_allclose(in32.loss[:, 0], traj.loss, rtol=2e-4, atol=1e-3)


def test_the_quadratics_stability_line_is_where_sgd_stops_converging():
    """lr·κ/2 on the quadratic (λmax = κ), and at Rosenbrock's minimum (1, 1) its λmax there."""
    run = RunSpec(surface=SurfaceSpec("quadratic", (("kappa", 20.0),)), epochs=60, init_bias=-1.8, init_weight=1.2)
    sweep = SweepSpec(run=run, x=SweepAxis("lr", 0.01, 0.2, 20), y=SweepAxis("momentum", 0.0, 0.5, 2),
                      measure="final_loss")
    ratio = sweep_stability(sweep)
    np.testing.assert_allclose(ratio[0], sweep.x.values() * 20 / 2)
    result = run_sweep(sweep)
    start = float(by_hand("quadratic", {"kappa": 20.0}, -1.8, 1.2, np))
    below, above = ratio[0] < 0.98, ratio[0] > 1.02
    assert (result.value[0][below] < start).all() and not (result.value[0][above] <= start).any()  # nan: overflowed
    rosen = SweepSpec(run=RunSpec(surface=SurfaceSpec("rosenbrock"), init_bias=-1.5, init_weight=2.0),
                      x=SweepAxis("lr", 1e-4, 1e-2, 3, True), y=SweepAxis("momentum", 0.0, 0.5, 2))
    lam = np.linalg.eigvalsh(hessian_by_hand("rosenbrock", {"a": 1.0, "b": 100.0}, 1.0, 1.0)).max()
    np.testing.assert_allclose(sweep_stability(rosen)[0], rosen.x.values() * lam / 2, rtol=1e-9)
    typed = SweepSpec(run=RunSpec(surface=surface("expression")))
    assert sweep_stability(typed) is None  # its minima are not known


HOSTILE = [
    "__import__('os').system('ls')", "x.__class__", "().__class__.__bases__[0]", "open('/etc/passwd')",
    "exec('1')", "eval('x')", "globals()", "lambda: x", "[x for x in y]", "{x: y}", "x if y else 0", "f'{x}'",
    "b'x'", "'x'", "x @ y", "x // y", "x % y", "x < y", "not x", "~x", "x and y", "x; y", "x\ny", "import os",
    "(x := 1)", "*x", "...", "1j*x", "True*x", "None", "sin(x, y)", "sin(x=1)", "sin", "sin(*x)", "x()", "z",
    "2x", "", "   ", "\x00", "x\u202e", "x" * (MAX_LENGTH + 1), "(" * 300 + "x" + ")" * 300, "-" * 150 + "x",
    "sin(" * 30 + "x" + ")" * 30, "x" + "+x" * 70, "9**9**9", "x**(9**9)", "2**1000*x", "1e309", "1e308*10",
    "x**1e6", "x^101", "__builtins__", "x.real", "x[0]", "sin.__globals__",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_one_sentence(text):
    with pytest.raises(InvalidSpec) as caught:
        SurfaceSpec("expression", (("text", text),))
    message = caught.value.message
    assert "\n" not in message and "Traceback" not in message and len(message) < 400
    assert caught.value.field == "expression.text"


def test_what_the_whitelist_takes_and_the_same_numbers_either_way():
    accepted = {"x^2 + 3*y²": lambda x, y: x**2 + 3 * y**2, "−x × y ÷ 2": lambda x, y: -x * y / 2,
                "abs(x) + sqrt(y*y + 1) - log(1 + x**2) + tanh(y)": None, "2**x + e**y - pi": None,
                f"x**{MAX_EXPONENT:g}": None, "(x - 1)**2 + 100*(y - x**2)**2": None}
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    y = torch.tensor([1.5, 0.25, -0.7], dtype=torch.float64)
    for text, f in accepted.items():
        expression = parse(text)
        value = expression.evaluate(x, y)
        assert value.shape == (3,) and value.dtype == torch.float64
        if f is not None:
            torch.testing.assert_close(value, f(x, y))
    # (that the Code tab's source computes the same numbers: tests/compute/test_script.py runs it)


def test_the_cli_takes_surfaces_and_expressions(capsys):
    assert main(["run", "--surface", "quadratic", "--surface-kappa", "4", "--epochs", "2", "--init-bias", "1",
                 "--init-weight", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "step,x,y,loss" and out[1] == "0,1.0,1.0,2.5"
    assert out[2].split(",")[1:3] == [repr(float(np.float32(0.9))), repr(float(np.float32(0.6)))]
    assert main(["grid", "--expression", "x*y", "--resolution", "3", "--b-min", "-1", "--b-max", "1",
                 "--w-min", "0", "--w-max", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[:3] == ["x,y,loss", "-1.0,0.0,-0.0", "0.0,0.0,0.0"]
    assert main(["run", "--expression", "__import__('os')"]) == 2
    assert "only these functions may be called" in capsys.readouterr().err
    assert main(["run", "--surface", "saddle", "--surface-kappa", "3"]) == 2
    assert "not an argument of --surface saddle" in capsys.readouterr().err


def test_formulas_a_person_types_first_run():
    """A linear formula (its Hessian is 0), one without y (y's gradient is 0, not None: weight decay
    still moves it, in the toy lab's loop, the batched engine and the script alike), a constant one
    refused, and one not finite at the start refused there."""
    linear = SurfaceSpec("expression", (("text", "x + y"),))
    assert toy_hessian(None, None, 1.0, 2.0, linear).hessian.tolist() == [[0.0, 0.0], [0.0, 0.0]]
    spec = RunSpec(surface=SurfaceSpec("expression", (("text", "x^2"),)), epochs=3, init_bias=1.0, init_weight=2.0,
                   optimizer=OptimizerSpec("sgd", (("lr", 0.1), ("weight_decay", 0.5))))
    traj = run_trajectory(spec)
    assert traj.weight.tolist() == pytest.approx([2.0, 1.9, 1.805, 1.71475])  # y·(1 − lr·wd) each step
    batched = run_batched(spec, {"lr": np.array([0.1])}, keep_params=True)
    np.testing.assert_allclose(batched.weight[:, 0], traj.weight, rtol=1e-6)
    for text in ("5", "2*pi", "sin(3)^2"):
        with pytest.raises(InvalidSpec, match="does not depend on x or y"):
            SurfaceSpec("expression", (("text", text),))
    with pytest.raises(InvalidSpec, match=r"f is nan at the start point \(x, y\) = \(-3, 2\)") as caught:
        RunSpec(surface=SurfaceSpec("expression", (("text", "log(x) + y"),)), init_bias=-3.0, init_weight=2.0)
    assert caught.value.field == "run.init_bias"


def test_a_constant_part_that_is_not_finite_is_written_as_python_can_read_it():
    """(tests/compute/test_script.py runs such a script: it prints the page's rows)"""
    assert parse("x**2/(1/0 + 1) + y**2").source() == 'x ** 2.0 / float("inf") + y ** 2.0'
    assert parse("x^2").source() == "x ** 2.0 + y * 0.0"
