"""``python -m compute``: every number behind a figure, from a terminal.

Options are generated from the parameter tables and the registries, so a new registry row
brings its options with it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from compute.data import DATA_PARAMS, DataSpec
from compute.errors import InvalidSpec
from compute.losses import LOSSES
from compute.optimizers import OPTIMIZERS
from compute.params import Param
from compute.specs import (
    GRID_PARAMS,
    RUN_PARAMS,
    GridSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
)
from compute.toy import loss_grid, run_trajectory


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add(group: argparse._ArgumentGroup, p: Param, default: Any, defaults: str | None = None) -> None:
    """One option for a Param; values are checked by the specs, not by argparse."""
    shown = defaults or f"default {p.default}"
    if p.kind is bool:
        group.add_argument(p.cli_flag, dest=p.name, action="store_true", default=default, help=p.help)
    else:
        group.add_argument(p.cli_flag, dest=p.name, default=default, metavar=p.name.upper(),
                           help=f"{p.help} ({p.range_text()}; {shown})")


def _add_registry_options(group: argparse._ArgumentGroup, registry: dict) -> None:
    """One option per hyperparameter name across a registry's rows, with each row's default."""
    rows: dict[str, list[tuple[str, Param]]] = {}
    for key, row in registry.items():
        for p in row.params:
            rows.setdefault(p.name, []).append((key, p))
    for owners in rows.values():
        defaults = "default " + ", ".join(f"{key} {p.default}" for key, p in owners)
        _add(group, owners[0][1], None, defaults)


def _add_problem_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    for p in DATA_PARAMS:
        _add(data, p, p.default)
    loss = parser.add_argument_group("loss")
    loss.add_argument("--loss", choices=list(LOSSES), default="mse", help="torch.nn loss")
    _add_registry_options(loss, LOSSES)


def _loss_spec(args: argparse.Namespace) -> LossSpec:
    row = LOSSES[args.loss]
    given = {p.name: getattr(args, p.name) for p in row.params if getattr(args, p.name) is not None}
    return LossSpec(args.loss, tuple(given.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m compute", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="print a trajectory: step,weight,bias,loss")
    _add_problem_options(run)
    opt = run.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=list(OPTIMIZERS), default="sgd", help="torch.optim class")
    _add_registry_options(opt, OPTIMIZERS)
    loop = run.add_argument_group("run")
    for p in RUN_PARAMS:
        _add(loop, p, p.default)
    run.add_argument("--format", choices=("csv", "json"), default="csv")

    grid = sub.add_parser("grid", help="print a loss map: bias,weight,loss (or --out FILE.npy)")
    _add_problem_options(grid)
    extent = grid.add_argument_group("grid")
    for p in GRID_PARAMS:
        _add(extent, p, p.default)
    grid.add_argument("--out", help="write the (weight × bias) array to this .npy file instead")
    return parser


def _run(args: argparse.Namespace) -> None:
    row = OPTIMIZERS[args.optimizer]
    given = {p.name: getattr(args, p.name) for p in row.params if getattr(args, p.name) is not None}
    spec = RunSpec(
        data=DataSpec(args.n, args.noise, args.seed),
        loss=_loss_spec(args),
        optimizer=OptimizerSpec(args.optimizer, tuple(given.items())),
        epochs=args.epochs,
        init_weight=args.init_weight,
        init_bias=args.init_bias,
    )
    traj = run_trajectory(spec)
    rows = [
        (k, float(traj.weight[k]), float(traj.bias[k]), float(traj.loss[k]))
        for k in range(len(traj.loss))
    ]
    if args.format == "json":
        json.dump(
            {"spec": spec.to_dict(), "diverged_at": traj.diverged_at,
             "rows": [dict(zip(("step", "weight", "bias", "loss"), r)) for r in rows]},
            sys.stdout, indent=1,
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write("step,weight,bias,loss\n")
        for k, w, b, loss in rows:
            sys.stdout.write(f"{k},{w!r},{b!r},{loss!r}\n")
    if traj.diverged_at is not None:
        sys.stderr.write(f"diverged at step {traj.diverged_at}\n")


def _grid(args: argparse.Namespace) -> None:
    spec = GridSpec(
        data=DataSpec(args.n, args.noise, args.seed),
        loss=_loss_spec(args),
        **{p.name: getattr(args, p.name) for p in GRID_PARAMS},
    )
    grid = loss_grid(spec)
    if args.out:
        np.save(args.out, grid.loss)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("bias", "weight", "loss"))
    for i, w in enumerate(grid.weights.tolist()):
        for j, b in enumerate(grid.biases.tolist()):
            writer.writerow((repr(b), repr(w), repr(float(grid.loss[i, j]))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        {"run": _run, "grid": _grid}[args.command](args)
    except InvalidSpec as err:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {err}\n")
        return 2
    except BrokenPipeError:  # the reader (head, less) closed the pipe: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's final flush
        return 0
    except OSError as err:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {err}\n")
        return 2
    return 0
