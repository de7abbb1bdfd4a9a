"""The learning-rate schedule registry: one row per torch.optim.lr_scheduler class (and the
warm-up-then-decay SequentialLR people write), generating controls, CLI and checks.

A schedule steps after every optimizer step (``per_epoch``: after an epoch's last batch), as the
loop in torch's documentation does: ``optimizer.step(); scheduler.step()`` (ReduceLROnPlateau:
``scheduler.step(loss)``, the step's loss). The toy lab's torch loop steps torch's own scheduler.
The batched engine takes each run's lr (and momentum, where a cycle sets it) at every step from
``schedule_table``, which steps torch's own scheduler classes, one per distinct setting of the
schedule's arguments with one param group per distinct base lr: the values are torch's by
construction, at a cost of distinct settings × steps, not runs × steps. ReduceLROnPlateau, whose
lr follows each run's own loss, is re-implemented per run in ``Plateau`` (tested against torch's).
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
from torch.optim import lr_scheduler as lrs

from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param

Rule = tuple[Callable[[dict[str, Any]], bool], str, str]
Scheduler = Any  # a torch.optim.lr_scheduler instance

# the most (distinct schedule settings × distinct base lrs) × scheduler steps a table may take
MAX_SCHEDULE_WORK = 2_000_000


def _steps(name: str, default: int, help: str, lo: int = 1, label: str | None = None) -> Param:
    return Param(name, int, default, lo, 5000, log=True, help=help, span=(max(lo, 1), 1000), label=label)


def _factor(name: str, default: float, help: str, lo_open: bool = False) -> Param:
    return Param(name, float, default, 0.0, 1.0, lo_open=lo_open, help=help, span=(0.0, 1.0))


_ETA_MIN = Param("eta_min", float, 0.0, 0.0, 100.0, log=True, help="the least lr of the cosine", span=(1e-5, 1.0))
_PER_EPOCH = Param("per_epoch", bool, False,
                   help="step the schedule after an epoch's last batch instead of after every optimizer step")
_CYCLE = Param("cycle_momentum", bool, True,
               help="cycle the optimizer's momentum (SGD, RMSprop) or betas[0] (the Adam family) against the lr, "
                    "between base_momentum and max_momentum: it replaces the optimizer's own")


@dataclass(frozen=True, slots=True)
class ScheduleInfo:
    """A registry row: how to build the torch scheduler from the row's values, its arguments, its
    cross-field rules and what it does. ``build(optimizer, values, steps)`` gets the run's number of
    scheduler steps (OneCycleLR's total_steps 0 means those)."""

    key: str
    title: str
    params: tuple[Param, ...]
    kwargs: Callable[[dict[str, Any], int], dict[str, Any]] | None  # the torch class's arguments
    help: str
    rules: tuple[Rule, ...] = ()
    plateau: bool = False  # steps on the loss (ReduceLROnPlateau)
    sets_lr: bool = False  # replaces the optimizer's lr (CyclicLR's base_lr)
    total: str | None = None  # an argument whose nonzero value must cover the run's scheduler steps

    def build(self, optimizer: torch.optim.Optimizer, values: dict[str, Any], steps: int) -> Scheduler:
        """The torch scheduler over ``optimizer``; ``steps``: the run's scheduler steps."""
        if self.key == "warmup":
            return _warmup(optimizer, values)
        return getattr(lrs, self.title)(optimizer, **self.kwargs(values, steps))  # type: ignore[misc]

    def source(self, values: dict[str, Any], steps: int) -> str:
        """The Python that builds it over ``optimizer`` (the Code tab's script)."""
        if self.key == "warmup":
            warm, decay = _warmup_kwargs(values)
            return (f"lr_scheduler.SequentialLR(optimizer, [lr_scheduler.LinearLR(optimizer, {_text(warm)}), "
                    f"lr_scheduler.CosineAnnealingLR(optimizer, {_text(decay)})], "
                    f"milestones=[{values['warmup_steps']!r}])")
        return f"lr_scheduler.{self.title}(optimizer, {_text(self.kwargs(values, steps))})"  # type: ignore[misc]

    def cycles_momentum(self, values: dict[str, Any]) -> bool:
        return bool(values.get("cycle_momentum", False))

    def check(self, values: dict[str, Any], optimizer: str, optimizer_values: dict[str, Any], steps: int) -> None:
        """Raise InvalidSpec for a setting torch would reject, by the control: the rules first, then
        torch's own constructor and first step on a one-parameter optimizer (memoized); ``steps``:
        the run's scheduler steps (OneCycleLR's phases divide by their length)."""
        for invalid, name, message in self.rules:
            if invalid(values):
                raise InvalidSpec(message, f"{schedule_group(self.key)}.{name}")
        if self.key == "none":
            return
        if self.total and values[self.total] and values[self.total] < steps:
            raise InvalidSpec(f"{self.title} would be stepped {steps} times, past its {self.total} "
                              f"{values[self.total]} (torch raises there); 0 takes the run's steps",
                              f"{schedule_group(self.key)}.{self.total}")
        rejection = _torch_rejects(self.key, tuple(sorted(values.items())), optimizer,
                                   tuple(sorted(optimizer_values.items())), max(steps, 1))
        if rejection:
            blamed = next((p.name for p in self.params if p.name in rejection), None)
            raise InvalidSpec(f"torch.optim.lr_scheduler.{self.title} rejects these settings: {rejection}",
                              schedule_group(self.key) + (f".{blamed}" if blamed else ""))


def schedule_group(key: str) -> str:
    """The settings group (and message field) of a schedule row: ``schedule_cosine``."""
    return f"schedule_{key}"


@lru_cache(maxsize=1024)
def _torch_rejects(key: str, values: tuple, optimizer: str, optimizer_values: tuple, steps: int) -> str | None:
    try:
        opt = OPTIMIZERS[optimizer].build([torch.zeros(1, requires_grad=True)], dict(optimizer_values))
        scheduler = SCHEDULES[key].build(opt, dict(values), steps)
        if not SCHEDULES[key].plateau:
            opt._opt_called = True  # type: ignore[attr-defined]
            scheduler.step()
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError, OverflowError) as err:
        if isinstance(err, ZeroDivisionError):  # OneCycleLR: a phase of pct_start·total_steps − 1 = 0 steps
            return (f"a phase of no steps divides by zero (pct_start × total_steps = "
                    f"{dict(values).get('pct_start', 0) * (dict(values).get('total_steps') or steps):g}; make it more than 1)")
        return str(err) or type(err).__name__
    return None


def _text(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _milestones(v: dict[str, Any]) -> list[int]:
    return [int(v[f"milestone{i}"]) for i in (1, 2, 3) if v[f"milestone{i}"] > 0]


def _cyclic(mode: str) -> Callable[[dict[str, Any], int], dict[str, Any]]:
    def kwargs(v: dict[str, Any], _steps: int) -> dict[str, Any]:
        return {"base_lr": v["base_lr"], "max_lr": v["max_lr"], "step_size_up": v["step_size_up"],
                "step_size_down": v["step_size_down"] or None, "mode": mode, "gamma": v.get("gamma", 1.0),
                "cycle_momentum": v["cycle_momentum"], "base_momentum": v["base_momentum"],
                "max_momentum": v["max_momentum"]}
    return kwargs


def _one_cycle(v: dict[str, Any], steps: int) -> dict[str, Any]:
    return {"max_lr": v["max_lr"], "total_steps": v["total_steps"] or max(steps, 1), "pct_start": v["pct_start"],
            "anneal_strategy": "linear" if v["anneal_linear"] else "cos", "cycle_momentum": v["cycle_momentum"],
            "base_momentum": v["base_momentum"], "max_momentum": v["max_momentum"], "div_factor": v["div_factor"],
            "final_div_factor": v["final_div_factor"], "three_phase": v["three_phase"]}


def _warmup_kwargs(v: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    return ({"start_factor": v["start_factor"], "end_factor": 1.0, "total_iters": v["warmup_steps"]},
            {"T_max": v["T_max"], "eta_min": v["eta_min"]})


def _warmup(opt: torch.optim.Optimizer, v: dict[str, Any]) -> Scheduler:
    warm, decay = _warmup_kwargs(v)
    return lrs.SequentialLR(opt, [lrs.LinearLR(opt, **warm), lrs.CosineAnnealingLR(opt, **decay)],
                            milestones=[v["warmup_steps"]])


def _plateau(v: dict[str, Any], _steps: int) -> dict[str, Any]:
    return {"mode": "min", "factor": v["factor"], "patience": v["patience"], "threshold": v["threshold"],
            "threshold_mode": "abs" if v["threshold_abs"] else "rel", "cooldown": v["cooldown"],
            "min_lr": v["min_lr"], "eps": v["eps"]}


_MOMENTA = (Param("base_momentum", float, 0.8, 0.0, 1.0, help="the momentum at the lr's peak", span=(0.0, 0.99)),
            Param("max_momentum", float, 0.9, 0.0, 1.0, help="the momentum at the lr's trough", span=(0.0, 0.99)))
_CYCLIC_PARAMS = (
    Param("base_lr", float, 1e-3, 0.0, 100.0, log=True, help="the cycle's lowest lr (it replaces the optimizer's)",
          span=(1e-4, 1.0)),
    Param("max_lr", float, 0.1, 0.0, 100.0, log=True, help="the cycle's highest lr", span=(1e-3, 10.0)),
    _steps("step_size_up", 25, "steps from base_lr up to max_lr"),
    _steps("step_size_down", 0, "steps back down; 0: None, as many as up", lo=0),
    _CYCLE, *_MOMENTA,
)
_MOMENTUM_RULE: Rule = (lambda v: v["base_momentum"] > v["max_momentum"], "base_momentum",
                        "base_momentum above max_momentum turns the cycle upside down; keep it at or below")

_ROWS = (
    ScheduleInfo("none", "none", (), None, "a constant lr: no scheduler"),
    ScheduleInfo("step", "StepLR", (
        _steps("step_size", 30, "every step_size steps the lr is multiplied by gamma"),
        _factor("gamma", 0.1, "the factor at every step_size-th step")),
        lambda v, s: {"step_size": v["step_size"], "gamma": v["gamma"]},
        "lr·gamma^⌊t/step_size⌋"),
    ScheduleInfo("multistep", "MultiStepLR", (
        _steps("milestone1", 30, "the first step at which the lr is multiplied by gamma", lo=0, label="milestones[0]"),
        _steps("milestone2", 60, "the second (0: none)", lo=0, label="milestones[1]"),
        _steps("milestone3", 0, "the third (0: none)", lo=0, label="milestones[2]"),
        _factor("gamma", 0.1, "the factor at each milestone")),
        lambda v, s: {"milestones": _milestones(v), "gamma": v["gamma"]},
        "lr·gamma at each milestone step"),
    ScheduleInfo("exponential", "ExponentialLR", (
        _factor("gamma", 0.97, "the factor at every step"),),
        lambda v, s: {"gamma": v["gamma"]}, "lr·gamma^t"),
    ScheduleInfo("cosine", "CosineAnnealingLR", (
        _steps("T_max", 100, "steps from lr down to eta_min (then back up: a cosine's period is 2·T_max)"),
        _ETA_MIN),
        lambda v, s: {"T_max": v["T_max"], "eta_min": v["eta_min"]},
        "eta_min + (lr − eta_min)·(1 + cos(π·t/T_max))/2"),
    ScheduleInfo("cosine_restarts", "CosineAnnealingWarmRestarts", (
        _steps("T_0", 25, "steps until the first restart"),
        Param("T_mult", int, 1, 1, 10, help="each period is T_mult times the last"),
        _ETA_MIN),
        lambda v, s: {"T_0": v["T_0"], "T_mult": v["T_mult"], "eta_min": v["eta_min"]},
        "a cosine from lr to eta_min, restarted at lr after T_0 steps (then T_0·T_mult, …)"),
    ScheduleInfo("cyclic", "CyclicLR", _CYCLIC_PARAMS, _cyclic("triangular"),
                 "mode 'triangular': lr up from base_lr to max_lr and down again, every cycle alike",
                 rules=(_MOMENTUM_RULE,), sets_lr=True),
    ScheduleInfo("cyclic2", "CyclicLR", _CYCLIC_PARAMS, _cyclic("triangular2"),
                 "mode 'triangular2': each cycle's amplitude half the last's", rules=(_MOMENTUM_RULE,), sets_lr=True),
    ScheduleInfo("cyclic_exp", "CyclicLR", (*_CYCLIC_PARAMS,
                                            Param("gamma", float, 0.99, 0.0, 1.0, lo_open=True,
                                                  help="the amplitude shrinks by gamma^t", span=(0.9, 1.0))),
                 _cyclic("exp_range"), "mode 'exp_range': the amplitude shrinks by gamma every step",
                 rules=(_MOMENTUM_RULE,), sets_lr=True),
    ScheduleInfo("onecycle", "OneCycleLR", (
        Param("max_lr", float, 0.1, 0.0, 100.0, log=True, help="the peak lr", span=(1e-3, 10.0)),
        _steps("total_steps", 0, "steps of the cycle; 0: the run's scheduler steps", lo=0),
        Param("pct_start", float, 0.3, 0.0, 1.0, lo_open=True, hi_open=True, help="the share of steps spent rising",
              span=(0.01, 0.99)),
        Param("anneal_linear", bool, False, label="anneal_strategy='linear'",
              help="anneal linearly instead of by a cosine (anneal_strategy 'cos')"),
        _CYCLE,
        Param("base_momentum", float, 0.85, 0.0, 1.0, help="the momentum at the lr's peak", span=(0.0, 0.99)),
        Param("max_momentum", float, 0.95, 0.0, 1.0, help="the momentum at the lr's trough", span=(0.0, 0.99)),
        Param("div_factor", float, 25.0, 0.0, 1e6, lo_open=True, log=True, help="the first lr is max_lr/div_factor",
              span=(1.0, 1000.0)),
        Param("final_div_factor", float, 1e4, 0.0, 1e9, lo_open=True, log=True,
              help="the last lr is the first/final_div_factor", span=(1.0, 1e6)),
        Param("three_phase", bool, False, help="fall back to the first lr before annealing")),
        _one_cycle, "up from max_lr/div_factor to max_lr over pct_start of the steps, then down far below",
        rules=(_MOMENTUM_RULE,), sets_lr=True, total="total_steps"),
    ScheduleInfo("linear", "LinearLR", (
        _factor("start_factor", 1 / 3, "the lr starts at lr·start_factor", lo_open=True),
        _factor("end_factor", 1.0, "and reaches lr·end_factor"),
        _steps("total_iters", 5, "in this many steps", lo=0)),
        lambda v, s: {"start_factor": v["start_factor"], "end_factor": v["end_factor"], "total_iters": v["total_iters"]},
        "lr·start_factor rising (or falling) linearly to lr·end_factor over total_iters steps"),
    ScheduleInfo("constant", "ConstantLR", (
        _factor("factor", 1 / 3, "the lr is lr·factor until total_iters", lo_open=True),
        _steps("total_iters", 5, "steps at the lowered lr", lo=0)),
        lambda v, s: {"factor": v["factor"], "total_iters": v["total_iters"]},
        "lr·factor for total_iters steps, then lr"),
    ScheduleInfo("polynomial", "PolynomialLR", (
        _steps("total_iters", 5, "steps to reach 0"),
        Param("power", float, 1.0, 0.0, 100.0, help="the polynomial's power", span=(0.0, 5.0))),
        lambda v, s: {"total_iters": v["total_iters"], "power": v["power"]},
        "lr·(1 − t/total_iters)^power, then 0"),
    ScheduleInfo("plateau", "ReduceLROnPlateau", (
        Param("factor", float, 0.1, 0.0, 1.0, hi_open=True, help="the lr is multiplied by factor on a plateau",
              span=(0.0, 0.9)),
        _steps("patience", 10, "steps without improvement before the lr falls", lo=0),
        Param("threshold", float, 1e-4, 0.0, 1.0, log=True, help="the least improvement that counts",
              span=(1e-6, 0.1)),
        Param("threshold_abs", bool, False, label="threshold_mode='abs'",
              help="an improvement is loss < best − threshold (threshold_mode 'abs') instead of best·(1 − threshold)"),
        _steps("cooldown", 0, "steps after a fall during which nothing counts", lo=0),
        Param("min_lr", float, 0.0, 0.0, 100.0, log=True, help="the lr never falls below", span=(1e-6, 0.1)),
        Param("eps", float, 1e-8, 0.0, 1.0, log=True, help="a fall smaller than eps is skipped",
              span=(1e-10, 1e-2))),
        _plateau, "the lr falls by factor when the step's loss has not improved for patience steps (mode 'min')",
        plateau=True),
    ScheduleInfo("warmup", "SequentialLR", (
        _steps("warmup_steps", 10, "steps of the linear warm-up (LinearLR's total_iters, SequentialLR's milestone)"),
        _factor("start_factor", 0.1, "the warm-up starts at lr·start_factor", lo_open=True),
        _steps("T_max", 90, "steps of the cosine decay after the warm-up (CosineAnnealingLR's T_max)"),
        _ETA_MIN),
        None, "warm-up then decay: LinearLR from lr·start_factor to lr, then CosineAnnealingLR down to eta_min"),
)
SCHEDULES: dict[str, ScheduleInfo] = {
    row.key: row if row.key == "none" else dataclasses.replace(row, params=(*row.params, _PER_EPOCH))
    for row in _ROWS
}


def torch_scheduler(optimizer: torch.optim.Optimizer, name: str, values: dict[str, Any], steps: int) -> Scheduler | None:
    """The torch scheduler of a schedule row over ``optimizer`` (None for "none"); ``steps``: the
    run's scheduler steps (OneCycleLR's total_steps 0)."""
    row = SCHEDULES[name]
    return None if name == "none" else row.build(optimizer, values, steps)


def scheduler_steps(steps: int, batches_per_epoch: int, per_epoch: bool) -> np.ndarray:
    """How many times the scheduler has stepped before each optimizer step k (0 … steps − 1) and
    after the last: k, or ⌊k/batches per epoch⌋ when it steps per epoch."""
    k = np.arange(steps + 1)
    return k // batches_per_epoch if per_epoch else k


@dataclass(frozen=True, slots=True)
class ScheduleTable:
    """Each run's lr (and, where the schedule cycles it, momentum) after n scheduler steps:
    ``lr[n, column[r]]``; the distinct settings are the columns."""

    lr: np.ndarray  # (count + 1, columns) float64
    momentum: np.ndarray | None  # the same shape: SGD's/RMSprop's momentum or the Adam family's betas[0]
    column: np.ndarray  # (runs,) int


def schedule_table(name: str, values: dict[str, Any], overrides: dict[str, np.ndarray], optimizer: str,
                   optimizer_values: dict[str, Any], lr: np.ndarray, count: int, steps: int) -> ScheduleTable:
    """Step torch's own scheduler ``count`` times for every distinct setting of the runs.

    ``overrides``: schedule argument → one value per run (a sweep's axis); ``lr``: each run's base
    lr. One scheduler per distinct setting of the overridden arguments, over an optimizer with one
    param group per distinct base lr among its runs (torch's schedulers compute each group apart).
    The work (groups × steps) is capped by MAX_SCHEDULE_WORK before any is done.
    """
    row = SCHEDULES[name]
    runs = len(lr)
    names = sorted(overrides)
    settings = np.stack([np.asarray(overrides[n], np.float64) for n in names], axis=1) if names else np.zeros((runs, 0))
    keys = np.concatenate([settings, np.asarray(lr, np.float64).reshape(-1, 1)], axis=1)
    distinct, column = np.unique(keys, axis=0, return_inverse=True)
    if len(distinct) * (count + 1) > MAX_SCHEDULE_WORK:
        raise InvalidSpec(f"this schedule would step {len(distinct):,} distinct settings × {count:,} steps; at most "
                          f"{MAX_SCHEDULE_WORK:,} in all: use fewer points on the schedule's axis or on lr", "schedule")
    table = np.empty((count + 1, len(distinct)))
    momentum = np.empty_like(table) if row.cycles_momentum(values) else None
    setting_keys = distinct[:, :-1]
    uniques, group_of = np.unique(setting_keys, axis=0, return_inverse=True) if names else (np.zeros((1, 0)), np.zeros(len(distinct), int))
    for s, setting in enumerate(uniques):
        cols = np.flatnonzero(group_of == s)
        given = {**values, **{n: _as_param(row, n, float(v)) for n, v in zip(names, setting)}}
        opt = OPTIMIZERS[optimizer].build([torch.zeros(1)], optimizer_values)
        # one group per base lr, each the optimizer's own group but for its lr (building an optimizer
        # of many groups checks each: 5 ms for 100); the scheduler reads and writes only the groups
        template = opt.param_groups[0]
        opt.param_groups = [{**template, "params": [], "lr": float(distinct[c, -1])} for c in cols]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the scheduler stepping without optimizer.step(): intended
            scheduler = torch_scheduler(opt, name, given, steps)
            opt._opt_called = True  # type: ignore[attr-defined]
            for n in range(count + 1):
                if n:
                    scheduler.step()
                table[n, cols] = [g["lr"] for g in opt.param_groups]
                if momentum is not None:
                    momentum[n, cols] = [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]
    return ScheduleTable(table, momentum, column.reshape(-1))


def _as_param(row: ScheduleInfo, name: str, value: float) -> Any:
    kind = next(p.kind for p in row.params if p.name == name)
    return round(value) if kind is int else value


class Plateau:
    """torch's ReduceLROnPlateau (mode 'min') for many runs at once, each on its own loss: best,
    bad steps and cooldown per run, the same comparisons in float64 as torch's on Python floats."""

    def __init__(self, values: dict[str, Any], lr: np.ndarray, overrides: dict[str, np.ndarray] | None = None):
        runs = len(lr)
        over = overrides or {}

        def value(name: str) -> np.ndarray:
            return np.broadcast_to(np.asarray(over.get(name, values[name]), np.float64), (runs,)).copy()

        self.lr = np.asarray(lr, np.float64).copy()
        self.factor, self.patience, self.threshold = value("factor"), value("patience"), value("threshold")
        self.cooldown, self.min_lr, self.eps = value("cooldown"), value("min_lr"), value("eps")
        self.absolute = bool(values["threshold_abs"])
        self.best = np.full(runs, math.inf)
        self.bad = np.zeros(runs)
        self.cooling = np.zeros(runs)

    def step(self, loss: np.ndarray) -> np.ndarray:
        """One scheduler.step(loss) per run; the lrs after it."""
        loss = np.asarray(loss, np.float64)
        better = loss < (self.best - self.threshold if self.absolute else self.best * (1.0 - self.threshold))
        self.best = np.where(better, loss, self.best)
        self.bad = np.where(better, 0, self.bad + 1)
        cooling = self.cooling > 0
        self.cooling = np.where(cooling, self.cooling - 1, self.cooling)
        self.bad = np.where(cooling, 0, self.bad)
        reduce = self.bad > self.patience
        new = np.maximum(self.lr * self.factor, self.min_lr)
        self.lr = np.where(reduce & (self.lr - new > self.eps), new, self.lr)
        self.cooling = np.where(reduce, self.cooldown, self.cooling)
        self.bad = np.where(reduce, 0, self.bad)
        return self.lr
