"""``python -m compute``: every number behind a figure, from a terminal.

Options are generated from the parameter tables and the registries, so a new registry row
brings its options with it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from compute.curvature import stable_lr, toy_hessian
from compute.custom import CLASS_PREFIX, parse_options, register_class
from compute.data import DATA_PARAMS, DataSpec
from compute.datasets import SOURCES, DataFileError, data_dir, fetch
from compute.errors import InvalidSpec
from compute.expression import ALLOWED_TEXT, MAX_LENGTH
from compute.landscape import (
    BIAS_MODES,
    DEVICES,
    DIR_TYPES,
    LANDSCAPE_PARAMS,
    MARK_NAMES,
    NORMS,
    VIEWS,
    LandscapeSpec,
    Plan,
    Values,
    View,
    assemble,
    evaluate_plan,
    resolve_device,
    write_landscape,
)
from compute.lookup import field_default, param
from compute.losses import LOSSES
from compute.nets import (
    DATA_SPLIT_PARAMS,
    DATASETS,
    MODELS,
    TRAIN_OPTIMIZER,
    TRAIN_PARAMS,
    DatasetSpec,
    Trained,
    TrainSpec,
    load_split,
    train,
)
from compute.optimizers import OPTIMIZERS
from compute.params import Param
from compute.preview import PreviewSpec, run_preview
from compute.probe import KINDS, probe
from compute.probe import POINTS as PROBE_POINTS
from compute.schedules import SCHEDULES
from compute.specs import (
    GRID_PARAMS,
    RUN_PARAMS,
    GridSpec,
    LossSpec,
    OptimizerSpec,
    RunSpec,
    ScheduleSpec,
    SurfaceSpec,
)
from compute.spectrum import (
    HVP_METHODS,
    SHARPENING_PARAMS,
    SPECTRUM_PARAMS,
    SharpeningSpec,
    SpectrumSpec,
    sharpening,
    spectrum,
)
from compute.surfaces import (
    EXPRESSION,
    EXTENT_KEYS,
    NONE,
    START_KEYS,
    SURFACES,
    TEXT,
    surface_extent,
    surface_start,
)
from compute.sweep import MEASURES, SWEEP_PARAMS, SweepAxis, SweepSpec, run_sweep
from compute.toy import loss_grid, run_trajectory


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add(group: argparse._ArgumentGroup, p: Param, default: Any, defaults: str | None = None) -> None:
    """One option for a Param; values are checked by the specs, not by argparse."""
    shown = defaults or f"default {p.default}"
    if p.kind is bool:  # --flag / --no-flag
        group.add_argument(p.cli_flag, dest=p.name, action=argparse.BooleanOptionalAction,
                           default=default, help=p.help)
    else:
        group.add_argument(p.cli_flag, dest=p.name, default=default, metavar=p.name.upper(),
                           help=f"{p.help} ({p.range_text()}; {shown})")


SCHEDULE_FLAG = "schedule-"  # a schedule's arguments: --schedule-T-max (apart from the optimizer's --eps)


def _add_schedule_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("learning-rate schedule (torch.optim.lr_scheduler), stepped after every "
                                      "optimizer step (--schedule-per-epoch: after an epoch's last batch)")
    group.add_argument("--schedule", choices=list(SCHEDULES), default="none",
                       help="; ".join(f"{k}: {row.title}" + (f" ({row.help})" if k.startswith("cyclic") else "")
                                      for k, row in SCHEDULES.items() if k != "none"))
    rows: dict[str, list[tuple[str, Param]]] = {}
    for key, row in SCHEDULES.items():
        for p in row.params:
            rows.setdefault(p.name, []).append((key, p))
    for owners in rows.values():
        p = owners[0][1]
        flag = "--" + SCHEDULE_FLAG + p.name.replace("_", "-")
        shown = "default " + ", ".join(f"{key} {q.default:g}" if q.kind is not bool else f"{key} {q.default}"
                                       for key, q in owners)
        if p.kind is bool:
            group.add_argument(flag, dest="schedule_" + p.name, action=argparse.BooleanOptionalAction,
                               default=None, help=p.help)
        else:
            group.add_argument(flag, dest="schedule_" + p.name, default=None, metavar=p.name.upper(),
                               help=f"{p.help} ({p.range_text()}; {shown})")


def _schedule_spec(args: argparse.Namespace) -> ScheduleSpec:
    row = SCHEDULES[args.schedule]
    given = {p.name: getattr(args, "schedule_" + p.name) for p in row.params
             if getattr(args, "schedule_" + p.name) is not None}
    return ScheduleSpec(args.schedule, tuple(given.items()))


def _add_registry_options(group: argparse._ArgumentGroup, registry: dict,
                          given: OptimizerSpec | None = None) -> None:
    """One option per hyperparameter name across a registry's rows, with each row's default
    (``given``: the values a command uses for one row where they differ from the registry's)."""
    rows: dict[str, list[tuple[str, Param]]] = {}
    for key, row in registry.items():
        for p in row.params:
            rows.setdefault(p.name, []).append((key, p))
    instead = {(given.name, name): value for name, value in given.params} if given else {}
    for owners in rows.values():
        defaults = "default " + ", ".join(f"{key} {instead.get((key, p.name), p.default)}" for key, p in owners)
        _add(group, owners[0][1], None, defaults)


def _add_problem_options(parser: argparse.ArgumentParser) -> None:
    data = parser.add_argument_group("data")
    for p in DATA_PARAMS:
        _add(data, p, p.default)
    loss = parser.add_argument_group("loss")
    loss.add_argument("--loss", choices=list(LOSSES), default=field_default(LossSpec, "name"), help="torch.nn loss")
    _add_registry_options(loss, LOSSES)
    _add_surface_options(parser)


def _add_surface_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("surface (instead of the neuron on its data): minimize f(x, y) over the point "
                                      "(x, y); the runs' weight is y and their bias x")
    group.add_argument("--surface", choices=list(SURFACES), default=NONE,
                       help="; ".join(f"{k}: {row.title}, {row.help}" for k, row in SURFACES.items()
                                      if k not in (NONE, EXPRESSION)) + f"; {EXPRESSION}: --expression's formula")
    group.add_argument("--expression", default=None, metavar="FORMULA",
                       help=f"f(x, y) typed (implies --surface {EXPRESSION}): {ALLOWED_TEXT}; at most "
                            f"{MAX_LENGTH} characters (one that starts with − as --expression=\"-x^2 + y^2\")")
    for row in SURFACES.values():
        for p in row.params:
            if p.kind is not str:
                group.add_argument("--" + SURFACE_FLAG + p.name, dest="surface_" + p.name, default=None,
                                   metavar=p.name.upper(), help=f"{row.title}'s {p.shown}: {p.help} "
                                                                 f"({p.range_text()}; default {p.default:g})")


SURFACE_FLAG = "surface-"  # a surface's arguments: --surface-a, --surface-kappa


def _surface_spec(args: argparse.Namespace) -> SurfaceSpec:
    name = args.surface
    if args.expression is not None:
        if name not in (NONE, EXPRESSION):
            raise InvalidSpec(f"--expression is a surface of its own: leave out --surface {name}", "expression")
        return SurfaceSpec(EXPRESSION, ((TEXT, args.expression),))
    row = SURFACES[name]
    given = {p.name: getattr(args, "surface_" + p.name) for p in row.params
             if p.kind is not str and getattr(args, "surface_" + p.name) is not None}
    stray = [p.name for other in SURFACES.values() if other is not row for p in other.params
             if p.kind is not str and p.name not in given and getattr(args, "surface_" + p.name) is not None]
    if stray:
        raise InvalidSpec(f"--{SURFACE_FLAG}{stray[0]} is not an argument of --surface {name}", f"surface.{stray[0]}")
    return SurfaceSpec(name, tuple(given.items()))


def _data_spec(args: argparse.Namespace) -> DataSpec:
    return DataSpec(**{p.name: getattr(args, p.name) for p in DATA_PARAMS})


def _loss_spec(args: argparse.Namespace) -> LossSpec:
    row = LOSSES[args.loss]
    given = {p.name: getattr(args, p.name) for p in row.params if getattr(args, p.name) is not None}
    return LossSpec(args.loss, tuple(given.items()))


def _builtin() -> dict:
    """The optimizer registry's own rows (not the classes registered in this process)."""
    return {key: row for key, row in OPTIMIZERS.items() if not key.startswith(CLASS_PREFIX)}


def _add_class_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--optimizer-class", default=None, metavar="MODULE:CLASS",
                       help="any torch.optim.Optimizer subclass instead of --optimizer (pytorch_optimizer:Lion, "
                            "mypackage.optim:MyOptimizer); its arguments from its signature, set with --opt")
    group.add_argument("--opt", action="append", default=[], metavar="NAME=VALUE",
                       help="an argument of --optimizer-class (repeatable; a tuple as betas=0.9,0.99); the shared "
                            "options (--lr, --weight-decay, …) apply to it too")


def _optimizer_spec(args: argparse.Namespace, defaults: dict | None = None) -> OptimizerSpec:
    """The optimizer of the options: --optimizer and its arguments, or --optimizer-class with --opt."""
    if args.optimizer_class:
        key = register_class(args.optimizer_class)
        known = {p.name for row in _builtin().values() for p in row.params}
        shared = {p.name: getattr(args, p.name) for p in OPTIMIZERS[key].params
                  if p.name in known and getattr(args, p.name, None) is not None}
        return OptimizerSpec(key, tuple({**shared, **dict(parse_options(key, args.opt))}.items()))
    if args.opt:
        raise InvalidSpec("--opt sets an argument of --optimizer-class; a built-in optimizer takes its own options "
                          "(--lr, --momentum, …)", "opt")
    row = OPTIMIZERS[args.optimizer]
    given = {p.name: getattr(args, p.name) for p in row.params if getattr(args, p.name) is not None}
    return OptimizerSpec(args.optimizer, tuple({**(defaults or {}), **given}.items()))


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    _add_problem_options(parser)
    opt = parser.add_argument_group("optimizer")
    opt.add_argument("--optimizer", choices=list(_builtin()), default=field_default(OptimizerSpec, "name"),
                     help="torch.optim class")
    _add_class_options(opt)
    _add_registry_options(opt, _builtin())
    _add_schedule_options(parser)
    loop = parser.add_argument_group("training loop")
    for p in RUN_PARAMS:
        placed = p.name in START_KEYS  # a surface starts at its own point unless told
        _add(loop, p, None if placed else p.default,
             f"default {p.default}; on a surface, its own start" if placed else None)


def _placed(args: argparse.Namespace, params: tuple[Param, ...], surface: dict[str, float]) -> dict[str, Any]:
    """The options' values; a start or map edge left out is the surface's own (else the default)."""
    return {p.name: getattr(args, p.name) if getattr(args, p.name) is not None else surface.get(p.name, p.default)
            for p in params}


def _run_spec(args: argparse.Namespace) -> RunSpec:
    surface = _surface_spec(args)
    # on a surface SGD's lr defaults to one it is stable with there, as the page sets it
    stable = {"lr": SURFACES[surface.name].sgd_lr} if surface.on and args.optimizer == "sgd" else None
    return RunSpec(
        data=_data_spec(args),
        loss=_loss_spec(args),
        optimizer=_optimizer_spec(args, stable),
        schedule=_schedule_spec(args),
        surface=surface,
        **_placed(args, RUN_PARAMS, surface_start(surface.name) if surface.on else {}),
    )


def axis_text(axis: SweepAxis) -> str:
    """A SweepAxis as ``parse_axis`` reads it: ``name:lo:hi:points[:log]``."""
    return f"{axis.name}:{axis.lo:g}:{axis.hi:g}:{axis.points}" + (":log" if axis.log else "")


def parse_axis(text: str, which: str) -> SweepAxis:
    """``name:lo:hi:points[:log]`` as a SweepAxis (values are checked by SweepSpec)."""
    parts = text.split(":")
    if len(parts) not in (4, 5) or (len(parts) == 5 and parts[4] != "log"):
        raise InvalidSpec(f"--{which} needs NAME:LO:HI:POINTS[:log] (got {text!r:.60})", f"sweep.{which}")
    name, lo, hi, points = parts[:4]
    return SweepAxis(name, lo, hi, points, len(parts) == 5)  # type: ignore[arg-type]


def _add_network_options(parser: argparse.ArgumentParser) -> None:
    """A trained network's options (the landscape's and the network curvature's)."""
    net = parser.add_argument_group("network")
    net.add_argument("--model", choices=list(MODELS), default=field_default(TrainSpec, "model"), help="the network")
    net.add_argument("--dataset", choices=list(DATASETS), default=field_default(DatasetSpec, "name"),
                     help="; ".join(f"{k}: {row.help}" for k, row in DATASETS.items()))
    net.add_argument("--data-dir", default=None, metavar="DIR",
                     help="the folder of the data files (default $DATA_DIR, else cache-dir/data)")
    for p in DATA_SPLIT_PARAMS:
        _add(net, p, p.default)
    net.add_argument("--optimizer", choices=list(_builtin()), default=TRAIN_OPTIMIZER.name,
                     help="torch.optim class")
    _add_class_options(net)
    _add_registry_options(net, _builtin(), TRAIN_OPTIMIZER)
    for p in TRAIN_PARAMS:
        flag = "--train-seed" if p.name == "seed" else p.cli_flag
        net.add_argument(flag, dest=f"train_{p.name}", default=p.default, metavar=p.name.upper(),
                         help=f"{p.help} ({p.range_text()}; default {p.default})")
    _add_schedule_options(parser)


def _train_spec(args: argparse.Namespace) -> TrainSpec:
    """The network's training from ``_add_network_options``' options; the data folder checked."""
    defaults = TRAIN_OPTIMIZER.values if args.optimizer == TRAIN_OPTIMIZER.name else None
    if args.data_dir:
        os.environ["DATA_DIR"] = args.data_dir  # the one place the data's folder is read (data_dir())
    spec = TrainSpec(
        model=args.model,
        dataset=DatasetSpec(args.dataset, **{p.name: getattr(args, p.name) for p in DATA_SPLIT_PARAMS}),
        optimizer=_optimizer_spec(args, defaults),
        schedule=_schedule_spec(args),
        **{p.name: getattr(args, f"train_{p.name}") for p in TRAIN_PARAMS},
    )
    load_split(spec.dataset)  # a missing or damaged file is reported before any work
    return spec


def _add_view_options(land: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The landscape's own options: its view (VIEWS' rows), models B and C, range and directions."""
    view = land.add_argument_group("landscape")
    view.add_argument("--mode", choices=list(CLI_VIEWS), default=field_default(LandscapeSpec, "mode"),
                      help="; ".join(f"{k}: {v.title}" for k, v in CLI_VIEWS.items()))
    for i, example in ((1, "batch_size=256"), (2, "seed=1")):
        which = MARK_NAMES[i]
        modes = "/".join(k for k, v in CLI_VIEWS.items() if v.models > i)
        view.add_argument(f"--{which.lower()}", action="append", default=None, metavar="NAME=VALUE",
                          help=f"model {which} of --mode {modes}: trained as A but for these settings "
                               f"({', '.join(p.name for p in TRAIN_PARAMS)}), e.g. --{which.lower()} {example}")
    _add(view, param(LANDSCAPE_PARAMS, "resolution"), param(LANDSCAPE_PARAMS, "resolution").default)
    ranges: dict[tuple[float, float], list[str]] = {}
    for k, v in CLI_VIEWS.items():
        ranges.setdefault(v.range, []).append(k)
    view.add_argument("--range", nargs=2, default=None, metavar=("LO", "HI"),
                      help="coordinates along each direction (default " +
                           "; ".join(f"{lo:g} {hi:g} for {', '.join(modes)}" for (lo, hi), modes in ranges.items()) + ")")
    _add(view, param(LANDSCAPE_PARAMS, "seed"), param(LANDSCAPE_PARAMS, "seed").default)
    view.add_argument("--norm", choices=list(NORMS), default=field_default(LandscapeSpec, "norm"),
                      help="; ".join(f"{k}: {v}" for k, v in NORMS.items()))
    view.add_argument("--bias", choices=list(BIAS_MODES), default=field_default(LandscapeSpec, "bias"),
                      help="biases and BatchNorm: " + "; ".join(f"{k}: {v}" for k, v in BIAS_MODES.items()))
    view.add_argument("--dir-type", choices=list(DIR_TYPES), default=field_default(LandscapeSpec, "dir_type"),
                      help="; ".join(f"{k}: {v}" for k, v in DIR_TYPES.items()))
    return view


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="print a trajectory: step,weight,bias,loss")
    _add_run_options(run)
    run.add_argument("--format", choices=("csv", "json"), default="csv")

    sweep = sub.add_parser("sweep", help="print a sweep map: x,y,value,diverged")
    _add_run_options(sweep)
    axes = sweep.add_argument_group("sweep")
    axes.add_argument("--x", default=axis_text(field_default(SweepSpec, "x")), metavar="NAME:LO:HI:POINTS[:log]",
                      help="the x axis: an optimizer hyperparameter, its range and points")
    axes.add_argument("--y", default=axis_text(field_default(SweepSpec, "y")), metavar="NAME:LO:HI:POINTS[:log]",
                      help="the y axis, likewise")
    axes.add_argument("--measure", choices=list(MEASURES), default=field_default(SweepSpec, "measure"),
                      help="; ".join(f"{k}: {v}" for k, v in MEASURES.items()))
    for p in SWEEP_PARAMS:
        _add(axes, p, p.default)
    sweep.add_argument("--out", help="write the CSV to this file instead of standard output")

    preview = sub.add_parser("preview", help="print a slider's preview: value,step,weight,bias,loss "
                                                "(the run at every stop, on the batched engine)")
    _add_run_options(preview)
    preview.add_argument("--name", required=True, metavar="SETTING",
                         help="the slider: an optimizer hyperparameter, init_weight, init_bias or max_norm")

    probing = sub.add_parser("probe", help="print the run at many values of one setting (value,converges,steps) "
                                            "and, on stderr, the engine's answer a room's question reveals")
    _add_run_options(probing)
    probing.add_argument("--name", required=True, metavar="SETTING", help="the optimizer's setting: lr, momentum, …")
    probing.add_argument("--kind", required=True, choices=KINDS,
                         help="largest_converging: the largest value whose run stays finite and ends below its "
                              "start; fastest: the value whose run first comes within 1%% of the lowest loss")
    probing.add_argument("--points", default=str(PROBE_POINTS), help=f"values across the setting's slider span "
                                                                       f"(default {PROBE_POINTS})")

    curvature = sub.add_parser("curvature", help="print the toy loss's Hessian eigenvalues: index,eigenvalue "
                                                  "(largest first), at the start or after --step K; with "
                                                  "--model, a trained network's (see curvature-net)")
    _add_run_options(curvature)
    curvature.add_argument("--step", default="0", metavar="K",
                           help="the run's optimizer step whose point is taken (0: the start point)")

    net_curvature = sub.add_parser(
        NET_CURVATURE, prog=f"{PROG} curvature --model",
        help="(curvature --model MODEL) print a trained network's top Hessian eigenvalues: index,eigenvalue; "
             "with --every N, its sharpness during training: step,sharpness,hessian_max,trace,loss,threshold")
    _add_network_options(net_curvature)
    top = net_curvature.add_argument_group("curvature")
    for p in SPECTRUM_PARAMS:
        _add(top, p, p.default)
    top.add_argument("--hvp", choices=list(HVP_METHODS), default=field_default(SpectrumSpec, "hvp"),
                     help="; ".join(f"{k}: {v}" for k, v in HVP_METHODS.items()))
    top.add_argument("--every", default=None, metavar="N",
                     help="measure λmax every N optimizer steps during training instead "
                          f"({param(SHARPENING_PARAMS, 'every').range_text()}); --samples and --trace-samples apply")
    top.add_argument("--device", choices=DEVICES, default="auto",
                     help="where the products run: auto is the GPU when torch sees one, else the CPU")

    grid = sub.add_parser("grid", help="print a loss map: bias,weight,loss (or --out FILE.npy)")
    _add_problem_options(grid)
    extent = grid.add_argument_group("grid")
    for p in GRID_PARAMS:
        placed = p.name in EXTENT_KEYS  # a surface's map is its own square unless told
        _add(extent, p, None if placed else p.default,
             f"default {p.default}; on a surface, its own square" if placed else None)
    grid.add_argument("--out", help="write the (weight × bias) array to this .npy file instead")
    land = sub.add_parser("landscape", help="train a network on the digits and write its loss landscape (.npz)")
    _add_network_options(land)
    view = _add_view_options(land)
    view.add_argument("--device", choices=DEVICES, default="auto",
                      help="where the points are evaluated: auto is the GPU when torch sees one, else the CPU")
    view.add_argument("--out", required=True, help="the .npz file to write")

    fetch_data = sub.add_parser(FETCH_DATA, help="download a data set's standard files and check their MD5 sums")
    fetch_data.add_argument("--dataset", required=True, choices=[k for k, row in SOURCES.items() if row.files])
    fetch_data.add_argument("--data-dir", default=None, metavar="DIR",
                            help="where to put them (default $DATA_DIR, else cache-dir/data)")
    return parser


PROG = "python -m compute"
FETCH_DATA = "fetch-data"


def data_hint(err: DataFileError, command: str = "") -> str:
    """What an operator reads after a data file's message (which names the file relative to the data
    folder, as participants see it): the absolute data folder and the command that fetches the files
    (not when ``command`` is that one). For the CLI's stderr, or a server's log; never for a page."""
    folder = shlex.quote(str(err.folder))
    hint = f"Data folder: {folder}"
    source = SOURCES.get(err.dataset)
    if source is not None and source.files and command != FETCH_DATA:
        hint += f"; to fetch the {source.title} files: {PROG} {FETCH_DATA} --dataset {err.dataset} --data-dir {folder}"
    return hint


def _fetch_data(args: argparse.Namespace) -> None:
    folder = fetch(args.dataset, data_dir(args.data_dir), log=lambda line: sys.stderr.write(line + "\n"))
    sys.stdout.write(f"{folder}\n")


# The views ``landscape --mode`` offers: those that are one landscape (compute.landscape.VIEWS says
# why the others are not).
CLI_VIEWS: dict[str, View] = {k: v for k, v in VIEWS.items() if v.in_cli}


def _landscape(args: argparse.Namespace) -> None:
    resolve_device(args.device)  # a missing GPU is reported before any training
    view = CLI_VIEWS[args.mode]
    train_spec = _train_spec(args)
    others = [_other(train_spec, getattr(args, which.lower()), which, view) for which in MARK_NAMES[1:view.models]]
    lo, hi = args.range or view.range
    spec = LandscapeSpec(train=train_spec, mode=view.spec_mode, resolution=args.resolution, lo=lo, hi=hi,
                         seed=args.seed, bias=args.bias, norm=args.norm, dir_type=args.dir_type)
    out = Path(args.out)
    trained = [_trained(s, out, "" if which == MARK_NAMES[0] else f"-{which.lower()}")
               for s, which in zip([train_spec, *others], MARK_NAMES)]
    found = None
    if view.spectrum is not None:  # the eigenvectors its directions are, with their own progress bar
        wanted = view.spectrum(spec)
        with _bar(wanted.max_matvecs, "Lanczos", "product") as report:
            found = spectrum(wanted, trained[0], args.device, report)[0]
    assert view.plan is not None  # every view the CLI offers is one landscape
    planned = view.plan(spec, trained, found, args.device)
    key = json.dumps({"mode": args.mode, "landscape": spec.to_dict(), "models": [s.cache_key() for s in others]})
    partial = Path(f"{args.out}.partial.npz")
    values = _resume(partial, key, planned)
    with tqdm(total=planned.size, initial=values.count, desc=f"{args.mode} landscape", unit="point",
              file=sys.stderr) as bar:
        def report(done: int, total: int) -> None:
            bar.update(done - bar.n)

        values = evaluate_plan(planned, values, report, args.device, lambda v: _save_partial(partial, key, v))
    result = assemble(planned, values)
    saved = {"landscape": spec.to_dict(), **{f"model_{w}": s.to_dict() for w, s in zip(MARK_NAMES[1:].lower(), others)}}
    _write(out, lambda stream: write_landscape(stream, result, saved if others else spec.to_dict()))
    partial.unlink(missing_ok=True)


def _other(spec: TrainSpec, given: list[str] | None, which: str, view: View) -> TrainSpec:
    """Model B's or C's training: A's, but for the --b/--c NAME=VALUE settings."""
    names = [p.name for p in TRAIN_PARAMS]
    flag = f"--{which.lower()}"
    if not given:
        needs = " and ".join(f"--{m.lower()}" for m in MARK_NAMES[1:view.models])
        raise InvalidSpec(f"--mode {view.name} needs {needs}: model {which}'s settings that differ from A's, "
                          f"e.g. --b batch_size=256 --c seed=1", which.lower())
    changes = {}
    for item in given:
        name, _, value = item.partition("=")
        if name not in names or not value:
            raise InvalidSpec(f"{flag} takes NAME=VALUE with NAME one of {', '.join(names)} (got {item!r:.40})",
                              which.lower())
        changes[name] = value
    return dataclasses.replace(spec, **changes)


def _write(target: Path, write: Callable[[Any], None]) -> None:
    """Write a file atomically: a temporary file beside it, then a rename."""
    temporary = target.with_name(target.name + ".tmp")
    with open(temporary, "wb") as stream:
        write(stream)
    os.replace(temporary, target)


def _trained(spec: TrainSpec, out: Path, name: str = "") -> Trained:
    """The trained network, kept beside the output (OUT.trained.safetensors, OUT.trained-b… for
    models B and C; keyed by the spec) so that a resumed run does not train again."""
    kept = Path(f"{out}.trained{name}.safetensors")
    if kept.exists():
        try:
            with safe_open(str(kept), "pt") as stream:
                if (stream.metadata() or {}).get("spec") == spec.cache_key():
                    sys.stderr.write(f"training: reusing {kept}\n")
                    return Trained.from_tensors({k: stream.get_tensor(k) for k in stream.keys()})  # noqa: SIM118
        except (OSError, KeyError, RuntimeError, ValueError, SafetensorError):
            pass
    with tqdm(total=spec.epochs, desc=f"training{name.replace('-', ' ').upper()}", unit="epoch",
              file=sys.stderr) as bar:
        trained = train(spec, lambda done, total: bar.update(done - bar.n))
    tensors = trained.to_tensors()
    temporary = kept.with_name(kept.name + ".tmp")
    save_file(tensors, str(temporary), metadata={"spec": spec.cache_key()})
    os.replace(temporary, kept)
    return trained


def _resume(partial: Path, key: str, planned: Plan) -> Values:
    """The points an interrupted run of the same specs (``key``) saved in OUT.partial.npz (none
    otherwise)."""
    values = Values.empty(planned)
    if not partial.exists():
        return values
    try:
        with np.load(partial, allow_pickle=False) as saved:
            if str(saved["spec"]) != key:
                sys.stderr.write(f"{partial} holds another spec's points: starting over\n")
                return values
            for name in planned.sets:
                for table, kind in ((values.loss, "loss"), (values.acc, "acc"), (values.done, "done")):
                    loaded = saved[f"{name}_{kind}"]
                    if loaded.shape != table[name].shape:
                        raise ValueError(f"{name}_{kind} has shape {loaded.shape}")
                    table[name] = loaded.astype(table[name].dtype)
    except (OSError, KeyError, ValueError) as err:
        sys.stderr.write(f"{partial} cannot be read ({err}): starting over\n")
        return Values.empty(planned)
    sys.stderr.write(f"resuming: {values.count} of {planned.size} points are in {partial}\n")
    return values


def _save_partial(partial: Path, key: str, values: Values) -> None:
    arrays = {f"{name}_{kind}": table[name] for name in values.done
              for table, kind in ((values.loss, "loss"), (values.acc, "acc"), (values.done, "done"))}
    _write(partial, lambda stream: np.savez(stream, spec=np.array(key), **arrays))


def _run(args: argparse.Namespace) -> None:
    spec = _run_spec(args)
    traj = run_trajectory(spec)
    scheduled = spec.schedule.name != "none"  # the lr of each row's step, where a schedule moves it
    # a surface's point is (x, y) = (bias, weight): its columns say so
    point = ("x", "y") if spec.surface.on else ("weight", "bias")
    names = ("step", *point, "loss", "lr")[:5 if scheduled else 4]
    rows = [
        (k, *((float(traj.bias[k]), float(traj.weight[k])) if spec.surface.on else
              (float(traj.weight[k]), float(traj.bias[k]))), float(traj.loss[k]), float(traj.lr[k]))[:len(names)]
        for k in range(len(traj.loss))
    ]
    if args.format == "json":
        json.dump(
            {"spec": spec.to_dict(), "diverged_at": traj.diverged_at,
             "rows": [dict(zip(names, r)) for r in rows]},
            sys.stdout, indent=1,
        )
        sys.stdout.write("\n")
    else:
        sys.stdout.write(",".join(names) + "\n")
        for row in rows:
            sys.stdout.write(",".join([str(row[0]), *(repr(v) for v in row[1:])]) + "\n")
    if traj.diverged_at is not None:
        sys.stderr.write(f"diverged at step {traj.diverged_at}\n")


def _curvature(args: argparse.Namespace) -> None:
    """index,eigenvalue rows of the Hessian in (w, b) at step K of the run; on stderr, the point,
    the eigenvectors and the stable learning rate where one applies."""
    spec = _run_spec(args)
    try:
        step = int(args.step)
    except ValueError:
        raise InvalidSpec(f"--step must be a whole number (got {args.step!r:.20})", "step") from None
    if step < 0:
        raise InvalidSpec("--step must be 0 or more", "step")
    weight, bias = spec.init_weight, spec.init_bias
    if step > 0:
        traj = run_trajectory(spec)
        if step >= len(traj.loss):
            why = f"diverged at step {traj.diverged_at}" if traj.diverged_at is not None else \
                f"has {len(traj.loss) - 1} steps"
            raise InvalidSpec(f"--step {step}: the run {why}", "step")
        weight, bias = float(traj.weight[step]), float(traj.bias[step])
    found = toy_hessian(spec.data, spec.loss, weight, bias, spec.surface)
    sys.stdout.write("index,eigenvalue\n")
    for i, value in enumerate(found.eigenvalues.tolist()):
        sys.stdout.write(f"{i},{value!r}\n")
    if spec.surface.on:
        vectors = "; ".join(f"({v[1]:.6g}, {v[0]:.6g})" for v in found.eigenvectors.T)
        where = f"x={bias!r}, y={weight!r}; eigenvectors (x, y)"
    else:
        vectors = "; ".join(f"({v[0]:.6g}, {v[1]:.6g})" for v in found.eigenvectors.T)
        where = f"w={weight!r}, b={bias!r}; eigenvectors (w, b)"
    sys.stderr.write(f"at step {step}: {where}: {vectors}; "
                     f"condition number κ = λmax/λmin = {found.condition:.6g}\n")
    bound = stable_lr(found.sharpness, spec.optimizer)
    if bound == 0:
        sys.stderr.write("no lr is stable with momentum >= 1 (a heavy ball's velocity never decays)\n")
    elif bound is not None:
        lr = spec.optimizer.values["lr"]
        sys.stderr.write(f"stable while lr < {bound:.6g} (lr is {lr:g}: {'stable' if lr < bound else 'past it'})\n")


NET_CURVATURE = "curvature-net"  # what ``curvature --model …`` parses with


@contextmanager
def _bar(total: int, desc: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr, and the (done, total) callback that moves it."""
    with tqdm(total=total, desc=desc, unit=unit, file=sys.stderr) as bar:
        def report(done: int, now: int) -> None:
            bar.total = now
            bar.update(done - bar.n)

        yield report


def _net_curvature(args: argparse.Namespace) -> None:
    """A trained network's top-k Hessian eigenvalues (index,eigenvalue), or with --every its
    sharpness during training (step,sharpness,hessian_max,trace,loss,threshold)."""
    resolve_device(args.device)
    train_spec = _train_spec(args)
    values = {p.name: getattr(args, p.name) for p in SPECTRUM_PARAMS}
    if args.every is not None:
        spec = SharpeningSpec(train_spec, every=args.every, samples=values["samples"],
                              trace_samples=values["trace_samples"], seed=values["seed"])
        with _bar(spec.measurements, "sharpness during training", "measurement") as report:
            result, _ = sharpening(spec, report, args.device)
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(("step", "sharpness", "hessian_max", "trace", "loss", "threshold"))
        for i, step in enumerate(result.steps.tolist()):
            writer.writerow((step, *(repr(float(a[i])) for a in (result.sharpness, result.hessian_max, result.trace,
                                                                   result.loss, result.limits))))
        what = (f"λmax(P⁻¹H), {OPTIMIZERS[train_spec.optimizer.name].title}'s preconditioned sharpness"
                if result.preconditioned else "λmax(H)")
        limit = f"the threshold {result.threshold_name} = {result.threshold:.6g}" if result.threshold_name else \
            "no stability threshold for this optimizer"
        sys.stderr.write(f"sharpness: {what}; {limit}\n")
        return
    spec = SpectrumSpec(train_spec, hvp=args.hvp, **values)
    with _bar(train_spec.epochs, "training", "epoch") as report:
        trained = train(train_spec, report)
    with _bar(spec.max_matvecs + spec.trace_samples, "Lanczos", "product") as report:
        found, trace = spectrum(spec, trained, args.device, report)
    sys.stdout.write("index,eigenvalue\n")
    for i, value in enumerate(found.eigenvalues.tolist()):
        sys.stdout.write(f"{i},{value!r}\n")
    sys.stderr.write(f"{found.matvecs} Hessian-vector products"
                     f"{'' if found.converged else f'; only {len(found.eigenvalues)} converged (raise --max-matvecs)'}\n")
    if trace is not None:
        sys.stderr.write(f"trace ≈ {trace.mean:.6g} ± {trace.stderr:.2g} (Hutchinson, {len(trace.values)} probes)\n")
    bound = stable_lr(found.sharpness, train_spec.optimizer)
    if bound == 0:
        sys.stderr.write("no lr is stable with momentum >= 1 (a heavy ball's velocity never decays)\n")
    elif bound is not None:
        sys.stderr.write(f"full-batch {train_spec.optimizer.name} would be stable here while lr < {bound:.6g}\n")


def _grid(args: argparse.Namespace) -> None:
    surface = _surface_spec(args)
    spec = GridSpec(
        data=_data_spec(args),
        loss=_loss_spec(args),
        surface=surface,
        **_placed(args, GRID_PARAMS, surface_extent(surface.name) if surface.on else {}),
    )
    grid = loss_grid(spec)
    if args.out:
        np.save(args.out, grid.loss)
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("x", "y", "loss") if spec.surface.on else ("bias", "weight", "loss"))
    for i, w in enumerate(grid.weights.tolist()):
        for j, b in enumerate(grid.biases.tolist()):
            writer.writerow((repr(b), repr(w), repr(float(grid.loss[i, j]))))


def _sweep(args: argparse.Namespace) -> None:
    spec = SweepSpec(run=_run_spec(args), x=parse_axis(args.x, "x"), y=parse_axis(args.y, "y"),
                     measure=args.measure, tolerance=args.tolerance)
    result = run_sweep(spec)
    out = open(args.out, "w", newline="") if args.out else sys.stdout  # noqa: SIM115
    try:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow((spec.x.name, spec.y.name, spec.measure, "diverged", "start_loss"))
        for i, y in enumerate(result.y.tolist()):
            for j, x in enumerate(result.x.tolist()):
                writer.writerow((repr(x), repr(y), repr(float(result.value[i, j])),
                                 "true" if result.diverged_at[i, j] >= 0 else "false", repr(float(result.start[i, j]))))
    finally:
        if args.out:
            out.close()


def _preview(args: argparse.Namespace) -> None:
    result = run_preview(PreviewSpec(_run_spec(args), args.name))
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(("value", "step", "weight", "bias", "loss"))
    for i, value in enumerate(result.values.tolist()):
        steps, *columns = result.path(i)
        for r, step in enumerate(steps.tolist()):
            writer.writerow((repr(value), step, *(repr(float(a[r])) for a in columns)))


def _probe(args: argparse.Namespace) -> None:
    """value,converges,steps rows of the probe's runs; on stderr, its answer (what a room's question
    reveals)."""
    try:
        points = int(args.points)
    except ValueError:
        raise InvalidSpec(f"--points must be a whole number (got {args.points!r:.20})", "points") from None
    found = probe(_run_spec(args), args.name, args.kind, points)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow((args.name, "converges", "steps"))
    for value, converges, steps in zip(found.values.tolist(), found.converges.tolist(), found.steps.tolist(), strict=True):
        writer.writerow((repr(value), "true" if converges else "false", steps))
    sys.stderr.write(f"{args.kind}: {args.name} = {found.value!r} (lowest loss {found.lowest:.6g})\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["curvature"] and any(a == "--model" or a.startswith("--model=") for a in argv[1:]):
        argv[0] = NET_CURVATURE  # the network's curvature: its own options
    args = parser.parse_args(argv)
    try:
        {"run": _run, "grid": _grid, "sweep": _sweep, "landscape": _landscape, "curvature": _curvature,
         "preview": _preview, "probe": _probe, FETCH_DATA: _fetch_data, NET_CURVATURE: _net_curvature}[args.command](args)
    except InvalidSpec as err:
        command = "curvature --model" if args.command == NET_CURVATURE else args.command
        hint = f" {data_hint(err, args.command)}" if isinstance(err, DataFileError) else ""
        sys.stderr.write(f"{parser.prog} {command}: error: {err}{hint}\n")
        return 2
    except BrokenPipeError:  # the reader (head, less) closed the pipe: not an error
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the interpreter's final flush
        return 0
    except OSError as err:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {err}\n")
        return 2
    return 0
