"""The "show the code" script prints the same trajectory as the dashboard's run."""

import json
import subprocess
import sys

import pytest

from compute import DataSpec, LossSpec, OptimizerSpec, RunSpec, ScheduleSpec
from compute.cli import main
from compute.script import torch_script
from compute.specs import SurfaceSpec

CASES = [
    RunSpec(),
    RunSpec(loss=LossSpec("huber", (("delta", 0.5),)), optimizer=OptimizerSpec(
        "sgd", (("lr", 0.05), ("momentum", 0.9), ("nesterov", True), ("weight_decay", 0.1))), epochs=40),
    RunSpec(optimizer=OptimizerSpec("adam", (("lr", 0.2), ("beta1", 0.5), ("amsgrad", True))), epochs=30,
            batch_size=8, batch_seed=5, clip_grad_norm=True, max_norm=2.0),
    RunSpec(loss=LossSpec("smoothl1", (("beta", 0.3),)), optimizer=OptimizerSpec("rmsprop", (("centered", True),)),
            epochs=25, zero_grad=False, data=DataSpec(n=30, noise=1.0, seed=9), init_weight=-2.0, init_bias=4.0),
    RunSpec(loss=LossSpec("l1"), optimizer=OptimizerSpec("adagrad", (("lr", 0.5), ("lr_decay", 0.1))), epochs=20),
    RunSpec(optimizer=OptimizerSpec("adamw", (("lr", 0.1), ("weight_decay", 0.5))), epochs=20, batch_size=16),
    RunSpec(loss=LossSpec("bce"), optimizer=OptimizerSpec("sgd", (("lr", 1.0), ("momentum", 0.5))), epochs=30),
    RunSpec(data=DataSpec(x_scale=3.0, x_offset=-2.5), optimizer=OptimizerSpec("sgd", (("lr", 0.01),)), epochs=30),
    RunSpec(data=DataSpec(x_scale=40.0, x_offset=7.0, standardize=True), optimizer=OptimizerSpec(
        "sgd", (("lr", 0.3), ("momentum", 0.9))), epochs=30, batch_size=10),
    # the other optimizers (packed tuple arguments, eps[0]'s None) and schedules, as the Code tab writes them
    RunSpec(optimizer=OptimizerSpec("rprop", (("etaplus", 1.5), ("step_size_max", 0.5))), epochs=20,
            schedule=ScheduleSpec("warmup", (("warmup_steps", 5), ("T_max", 15)))),
    RunSpec(optimizer=OptimizerSpec("adafactor", (("lr", 0.3), ("eps2", 0.01))), epochs=20),
    RunSpec(optimizer=OptimizerSpec("nadam", (("lr", 0.3), ("decoupled_weight_decay", True), ("weight_decay", 0.1))),
            epochs=12, batch_size=10, schedule=ScheduleSpec("plateau", (("patience", 2), ("per_epoch", True)))),
    RunSpec(optimizer=OptimizerSpec("sgd", (("lr", 0.05), ("momentum", 0.9))), epochs=10, batch_size=25,
            schedule=ScheduleSpec("onecycle", (("max_lr", 0.2),))),
    RunSpec(optimizer=OptimizerSpec("muon", (("lr", 0.1), ("adamw_lr", 0.05), ("match_rms_adamw", True),
                                             ("adamw_beta1", 0.8))), epochs=15,
            schedule=ScheduleSpec("step", (("step_size", 5),))),
    RunSpec(optimizer=OptimizerSpec("lbfgs", (("strong_wolfe", True), ("max_iter", 5))), epochs=8, batch_size=20,
            clip_grad_norm=True, max_norm=3.0, schedule=ScheduleSpec("exponential", (("gamma", 0.8),))),
    # the classic surfaces: f(x, y) as torch operations, the point held as the neuron's (bias, weight)
    RunSpec(surface=SurfaceSpec("rosenbrock", (("b", 50.0),)), optimizer=OptimizerSpec("adam", (("lr", 0.05),)),
            epochs=30, init_bias=-1.5, init_weight=2.0),
    RunSpec(surface=SurfaceSpec("rastrigin"), optimizer=OptimizerSpec("lbfgs", (("strong_wolfe", True),)), epochs=5,
            init_bias=-2.0, init_weight=3.5),
    RunSpec(surface=SurfaceSpec("expression", (("text", "softplus(x)^2 + 3*y² − cos(pi*x*y)/2"),)),
            optimizer=OptimizerSpec("sgd", (("lr", 0.05), ("momentum", 0.9))), epochs=25, init_bias=2.0,
            schedule=ScheduleSpec("cosine", (("T_max", 25),))),
    RunSpec(surface=SurfaceSpec("himmelblau"), optimizer=OptimizerSpec("muon", (("lr", 0.1),)), epochs=20,
            clip_grad_norm=True, max_norm=5.0),
    # a constant part that is infinite (written float("inf")), a formula without y (y · 0.0: its gradient 0)
    RunSpec(surface=SurfaceSpec("expression", (("text", "x**2/(1/0 + 1) + exp(x/4)"),)),
            optimizer=OptimizerSpec("adamw", (("lr", 0.1),)), epochs=10),
]


def cli_args(spec: RunSpec) -> list[str]:
    args = ["run", "--loss", spec.loss.name, "--optimizer", spec.optimizer.name, "--schedule", spec.schedule.name]
    if spec.surface.name == "expression":
        args += ["--expression", spec.surface.values["text"]]
    elif spec.surface.on:
        args += ["--surface", spec.surface.name]
        args += [arg for name, value in spec.surface.params for arg in ("--surface-" + name, repr(value))]
    for name, value in spec.schedule.params:
        flag = "--schedule-" + name.replace("_", "-")
        args += ([flag if value else "--no-" + flag[2:]] if isinstance(value, bool) else [flag, repr(value)])
    for name, value in (*spec.loss.params, *spec.optimizer.params, *[(p.name, getattr(spec, p.name))
                                                                    for p in spec.PARAMS],
                        *[(p.name, getattr(spec.data, p.name)) for p in spec.data.PARAMS]):
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            args.append(flag if value else "--no-" + flag[2:])
        else:
            args += [flag, repr(value)]
    return args


# Runs each script as __main__ in a fresh namespace of one plain Python (one torch import for all
# the cases), with nothing of this project importable, and prints what each printed, as JSON.
RUNNER = """
import contextlib, io, json, runpy, sys
sys.path = [p for p in sys.path if p not in ('', '.')]
out = []
for path in sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        runpy.run_path(path, run_name="__main__")
    out.append(printed.getvalue())
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[RunSpec, str]:
    """What each case's script prints when run on its own."""
    folder = tmp_path_factory.mktemp("scripts")
    paths = []
    for i, spec in enumerate(CASES):
        paths.append(folder / f"run{i}.py")
        paths[-1].write_text(torch_script(spec))
    done = subprocess.run([sys.executable, "-c", RUNNER, *map(str, paths)], capture_output=True, text=True,
                          check=True, cwd=folder)
    return dict(zip(CASES, json.loads(done.stdout)))


@pytest.mark.parametrize("spec", CASES, ids=lambda s: f"{s.optimizer.name}-{s.surface.name if s.surface.on else s.loss.name}"
                                                     f"-b{s.batch_size}")
def test_script_prints_the_dashboards_trajectory(spec, capsys, printed):
    source = torch_script(spec)
    assert "compute" not in source.split("\n", 1)[0] and "from compute" not in source and "import compute" not in source
    assert main(cli_args(spec)) == 0
    expected = capsys.readouterr().out
    assert printed[spec] == expected
    assert "optimizer.zero_grad()" in source if spec.zero_grad else "no optimizer.zero_grad()" in source
    assert ("clip_grad_norm_" in source) == spec.clip_grad_norm


def test_the_script_says_which_curve_it_draws():
    """The script's comment names the data as the page's Data panel does (compute.data's text forms)."""
    assert "# data: y = 0.75x² + x + 2 + 0.3·noise, drawn as" in torch_script(RunSpec())
    assert "# data: two classes, y = 1 where x + 0.5 + 0.3·noise > 0" in torch_script(RunSpec(loss=LossSpec("bce")))
