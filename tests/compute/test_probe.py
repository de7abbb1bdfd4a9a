"""Probes along one setting (compute/probe.py): the engine's answers checked against torch.optim's
own runs at the answer and next to it, and bad requests refused by name."""

import numpy as np
import pytest

from compute import DataSpec, InvalidSpec, OptimizerSpec, RunSpec
from compute.cli import main
from compute.probe import probe
from compute.toy import run_trajectory


def at(run: RunSpec, name: str, value: float) -> RunSpec:
    values = {**run.optimizer.values, name: value}
    return RunSpec(data=run.data, loss=run.loss, optimizer=OptimizerSpec(run.optimizer.name, tuple(values.items())),
                   epochs=run.epochs)


@pytest.mark.parametrize("data", [DataSpec(), DataSpec(x_offset=3.0), DataSpec(x_scale=5.0)])
def test_the_largest_converging_lr_converges_in_torch_and_the_next_does_not(data):
    run = RunSpec(data=data, epochs=80)
    found = probe(run, "lr", "largest_converging", points=300)
    index = int(np.flatnonzero(found.values == found.value)[0])
    for value, converges in ((found.value, True), (found.values[index + 1], False)):
        traj = run_trajectory(at(run, "lr", float(value)))  # torch.optim, step by step
        assert (traj.diverged_at is None and traj.loss[-1] < traj.loss[0]) == converges, value
    assert found.converges[: index + 1].all() and not found.converges[index + 1]


def test_the_fastest_momentum_reaches_the_lowest_loss_first_in_torch_too():
    run = RunSpec(data=DataSpec(x_offset=3.0), optimizer=OptimizerSpec("sgd", (("lr", 0.05),)))
    found = probe(run, "momentum", "fastest", points=100)
    target = found.lowest * 1.01

    def steps(momentum: float) -> int:
        loss = run_trajectory(at(run, "momentum", momentum)).loss
        return int(np.argmax(loss <= target)) if (loss <= target).any() else 10**9

    best = steps(found.value)
    assert best <= min(steps(m) for m in (0.0, 0.5, 0.8, 0.95, 0.99))


def test_a_bad_probe_is_refused_by_name():
    for args, field in (((RunSpec(), "lr", "slowest"), "kind"), ((RunSpec(), "nesterov", "fastest"), "name"),
                        ((RunSpec(), "beta1", "fastest"), "name"), ((RunSpec(epochs=2000, data=DataSpec(n=1000)), "lr",
                                                                     "fastest"), "points")):
        with pytest.raises(InvalidSpec) as err:
            probe(*args)
        assert err.value.field == field
    with pytest.raises(InvalidSpec, match="even the smallest"):
        probe(RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), data=DataSpec(x_scale=1000.0)),
              "lr", "largest_converging", points=20)


def test_the_cli_prints_the_runs_and_the_answer(capsys):
    assert main(["probe", "--name", "lr", "--kind", "largest_converging", "--x-offset", "3", "--points", "50"]) == 0
    out = capsys.readouterr()
    rows = out.out.splitlines()
    found = probe(RunSpec(data=DataSpec(x_offset=3.0)), "lr", "largest_converging", points=50)
    assert rows[0] == "lr,converges,steps" and len(rows) == 51
    assert out.err.startswith(f"largest_converging: lr = {found.value!r}")
    assert main(["probe", "--name", "lr", "--kind", "fastest", "--points", "x"]) == 2
