"""Any optimizer class: pytorch-optimizer's and one defined here, through the Python API and the CLI,
against the plain loop with the class itself; sweeps of them through torch's own loop; hostile names."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from compute import OPTIMIZERS, InvalidSpec, OptimizerSpec, RunSpec, ScheduleSpec, loss_data, run_trajectory
from compute.cli import main
from compute.custom import load_class, register_class
from compute.sweep import SweepAxis, SweepSpec, run_sweep


@pytest.fixture(autouse=True)
def _registry_as_it_was():
    """A class registered by a test leaves the registry with it (other tests count its rows)."""
    before = dict(OPTIMIZERS)
    yield
    OPTIMIZERS.clear()
    OPTIMIZERS.update(before)


class SignStep(torch.optim.Optimizer):
    """θ ← θ − lr·scale·sign(g + β·m), m a running mean of g (a test's own optimizer)."""

    def __init__(self, params, lr: float = 0.05, scale: float = 1.0, betas: tuple[float, float] = (0.5, 0.9),
                 bounded: bool = False, steps: int = 3, name: str | None = None):
        if lr < 0:
            raise ValueError(f"lr must be ≥ 0 (got {lr})")
        super().__init__(params, {"lr": lr, "scale": scale, "betas": betas, "bounded": bounded, "steps": steps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                m.mul_(group["betas"][1]).add_(p.grad, alpha=1 - group["betas"][1])
                move = torch.sign(p.grad + group["betas"][0] * m) * group["lr"] * group["scale"]
                p.sub_(move.clamp(-0.1, 0.1) if group["bounded"] else move)


def plain_loop(cls, kwargs: dict, epochs: int) -> np.ndarray:
    x, y = loss_data(RunSpec().data, "mse")
    X, Y = torch.tensor(x).reshape(-1, 1), torch.tensor(y).reshape(-1, 1)
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(6.0)
        model.bias.fill_(-3.0)
    optimizer = cls(model.parameters(), **kwargs)
    rows = []
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(X), Y)
        rows.append((model.weight.item(), model.bias.item(), loss.item()))
        loss.backward()
        optimizer.step()
    rows.append((model.weight.item(), model.bias.item(), torch.nn.functional.mse_loss(model(X), Y).item()))
    return np.array(rows, dtype=np.float32)


def test_a_class_of_your_own_through_the_api():
    key = register_class(SignStep)
    spec = RunSpec(epochs=20, optimizer=OptimizerSpec(key, (("lr", 0.2), ("betas_0", 0.3), ("bounded", True))))
    traj = run_trajectory(spec)
    rows = plain_loop(SignStep, {"lr": 0.2, "betas": (0.3, 0.9), "bounded": True}, 20)
    np.testing.assert_array_equal(np.c_[traj.weight, traj.bias, traj.loss], rows)
    names = {p.name: p for p in OPTIMIZERS[key].params}
    assert set(names) == {"lr", "scale", "betas_0", "betas_1", "bounded", "steps"}  # name=None stays the class's
    assert names["steps"].kind is int and names["betas_1"].label == "betas[1]"
    with pytest.raises(InvalidSpec, match="lr must be ≥ 0") as err:  # what the class rejects, by its control
        OptimizerSpec(key, (("lr", -1.0),))
    assert err.value.field == key


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_pytorch_optimizers_lion_through_the_cli():
    from pytorch_optimizer import Lion

    code, out, _ = _cli("run", "--optimizer-class", "pytorch_optimizer:Lion", "--opt", "lr=0.01",
                        "--opt", "betas=0.95,0.98", "--weight-decay", "0.1", "--epochs", "15", "--format", "json")
    assert code == 0
    got = np.array([(r["weight"], r["bias"], r["loss"]) for r in json.loads(out)["rows"]])
    rows = plain_loop(Lion, {"lr": 0.01, "betas": (0.95, 0.98), "weight_decay": 0.1}, 15)
    np.testing.assert_array_equal(got, rows)
    assert json.loads(out)["spec"]["optimizer"]["name"] == "cls_pytorch_optimizer__Lion"


def test_a_class_of_your_own_through_the_cli_with_a_schedule():
    code, out, _ = _cli("run", "--optimizer-class", "tests.compute.test_custom:SignStep", "--opt", "scale=0.5",
                        "--schedule", "exponential", "--schedule-gamma", "0.9", "--epochs", "6")
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0] == "step,weight,bias,loss,lr" and len(lines) == 8
    assert [float(line.split(",")[4]) for line in lines[1:4]] == pytest.approx([0.05, 0.045, 0.0405])


@pytest.mark.parametrize(("args", "message"), [
    (("--optimizer-class", "os:path"), "is not a torch.optim.Optimizer subclass"),
    (("--optimizer-class", "no_such_module_here:Adam"), "cannot import"),
    (("--optimizer-class", "__import__('os').system('true')"), "module:Class"),
    (("--optimizer-class", "torch.optim:SGD", "--opt", "lr"), "name=value"),
    (("--optimizer-class", "torch.optim:SGD", "--opt", "nesterov=maybe"), "nesterov"),
    (("--opt", "lr=0.1"), "sets an argument of --optimizer-class"),
])
def test_bad_classes_and_options_are_one_line(args, message):
    code, _, err = _cli("run", *args, "--epochs", "2")
    assert code == 2 and message in err and "Traceback" not in err


def test_sweeps_of_a_class_run_its_own_loop():
    key = register_class(SignStep)
    base = RunSpec(epochs=10, optimizer=OptimizerSpec(key))
    result = run_sweep(SweepSpec(run=base, x=SweepAxis("lr", 0.01, 0.2, 3, True), y=SweepAxis("scale", 0.5, 1.5, 2)))
    one = RunSpec(epochs=10, optimizer=OptimizerSpec(key, (("lr", float(result.x[2])), ("scale", 1.5))))
    assert result.value[1, 2] == run_trajectory(one).loss[-1]
    assert run_trajectory(RunSpec(epochs=5, optimizer=OptimizerSpec(key), schedule=ScheduleSpec("cosine"))).lr[1] < 0.05


def test_load_class_refuses_what_is_not_an_optimizer_class():
    assert load_class("torch.optim:Adam") is torch.optim.Adam
    for bad in ("torch.optim.Adam", "torch:nn.Linear", "x:" + "a" * 500, "", None):
        with pytest.raises(InvalidSpec):
            load_class(bad)


def test_the_page_offers_only_the_hosts_classes():
    """OPTIMIZER_CLASSES lists what the pages offer; an address naming another class is ignored with a
    note, and a listed class runs from an address like a built-in one."""
    code = """
import json
from dashboard.state import CHOICES, from_query, build_specs
from compute import run_trajectory
listed = "cls_tests_compute_test_custom__SignStep"
state, notes = from_query({"optimizer": listed, listed + ".lr": "0.1"})
other, other_notes = from_query({"optimizer": "cls_pytorch_optimizer__Lion"})
run = build_specs(state, "mse")[0]
print(json.dumps({"offered": listed in CHOICES["optimizer"], "notes": notes, "other": other["optimizer"],
                  "other_notes": other_notes, "loss": float(run_trajectory(run).loss[-1])}))
"""
    env = {**os.environ, "OPTIMIZER_CLASSES": "tests.compute.test_custom:SignStep"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["offered"] and seen["notes"] == [] and seen["other"] == "sgd" and seen["other_notes"]
    assert np.isfinite(seen["loss"])


def test_a_listed_class_that_does_not_import_stops_the_server_with_one_line(monkeypatch):
    from dashboard import state
    from dashboard.settings import settings

    monkeypatch.setenv("OPTIMIZER_CLASSES", "torch.optim:SGD, os:path")
    settings.cache_clear()
    try:
        with pytest.raises(SystemExit, match=r"OPTIMIZER_CLASSES: os:path is not a torch\.optim\.Optimizer subclass"):
            state._offer_host_classes()
    finally:
        monkeypatch.delenv("OPTIMIZER_CLASSES")
        settings.cache_clear()
