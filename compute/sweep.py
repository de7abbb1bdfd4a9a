"""Sweeps: one measure of the toy run over a grid of two optimizer hyperparameters, or of its
learning-rate schedule's arguments (an axis named ``schedule.warmup_steps``)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from compute.batched import SCHEDULE_PREFIX, check_looped, run_batched
from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param, check_fields, defaults, param_fields
from compute.schedules import SCHEDULES
from compute.specs import RunSpec, ScheduleSpec, _Keyed

MEASURES: dict[str, str] = {
    "final_loss": "final loss",
    "best_loss": "best loss",
    "steps_to_tol": "steps to reach the tolerance",
    "diverged": "step at which the run diverged",
}
MAX_SWEEP_RUN_STEPS = 10_000_000  # runs × optimizer steps in one sweep

AXIS_PARAMS: tuple[Param, ...] = (
    Param("points", int, 100, 2, 300, help="values along the axis"),
    Param("log", bool, False, help="space the values evenly in log scale"),
)
SWEEP_PARAMS: tuple[Param, ...] = (
    Param("tolerance", float, 0.6, 0.0, 1e12, log=True, help="loss to reach, for the steps_to_tol measure",
          span=(1e-6, 1e3)),
)
_AXIS = defaults(AXIS_PARAMS)


@dataclass(frozen=True, slots=True)
class SweepAxis:
    """``points`` values of one hyperparameter from ``lo`` to ``hi`` (log-spaced if ``log``)."""

    name: str
    lo: float
    hi: float
    points: int = _AXIS["points"]
    log: bool = _AXIS["log"]
    PARAMS: ClassVar[tuple[Param, ...]] = AXIS_PARAMS

    def values(self) -> np.ndarray:
        if self.log:
            return np.geomspace(self.lo, self.hi, self.points)
        return np.linspace(self.lo, self.hi, self.points)


def axis_param(run: RunSpec, name: str) -> Param | None:
    """The numeric Param an axis sweeps: the optimizer's, or the schedule's ("schedule.T_max")."""
    if name.startswith(SCHEDULE_PREFIX):
        params, name = SCHEDULES[run.schedule.name].params, name[len(SCHEDULE_PREFIX):]
    else:
        params = OPTIMIZERS[run.optimizer.name].params
    return next((p for p in params if p.name == name and p.kind is not bool), None)


def axis_values(run: RunSpec, axis: SweepAxis) -> np.ndarray:
    """The axis's values, whole numbers where its setting is one (a schedule's step counts)."""
    values = axis.values()
    param = axis_param(run, axis.name)
    return np.round(values) if param is not None and param.kind is int else values


def _check_axis(axis: SweepAxis, run: RunSpec, which: str) -> None:
    param = axis_param(run, axis.name)
    if param is None:
        row = OPTIMIZERS[run.optimizer.name]
        numeric = [p.name for p in row.params if p.kind is not bool] + [
            SCHEDULE_PREFIX + p.name for p in SCHEDULES[run.schedule.name].params if p.kind is not bool]
        schedule = "" if run.schedule.name == "none" else f" (nor its schedule {SCHEDULES[run.schedule.name].title})"
        raise InvalidSpec(f"{row.title} has no numeric hyperparameter {axis.name!r:.40}{schedule}; choose one of "
                          f"{', '.join(numeric)}", f"sweep.{which}")
    check_fields(axis, AXIS_PARAMS, f"sweep.{which}")
    object.__setattr__(axis, "lo", param.coerce(axis.lo, f"sweep.{which}_lo"))
    object.__setattr__(axis, "hi", param.coerce(axis.hi, f"sweep.{which}_hi"))
    if axis.lo >= axis.hi:
        raise InvalidSpec(f"the {which} axis needs lo below hi", f"sweep.{which}_hi")
    if axis.log and axis.lo <= 0:
        raise InvalidSpec(f"a log axis needs lo > 0 ({axis.name} from {axis.lo:g})", f"sweep.{which}_lo")


@dataclass(frozen=True, slots=True)
@param_fields(SWEEP_PARAMS, "sweep")
class SweepSpec(_Keyed):
    """The base run, two axes over its optimizer's hyperparameters, and what to measure."""

    run: RunSpec = field(default_factory=RunSpec)
    # lr up to 4: past SGD's bound 2(1 + μ)/λmax at every momentum of the default problem (λmax 2.05),
    # so the default map shows where runs diverge and the theory's line between
    x: SweepAxis = field(default_factory=lambda: SweepAxis("lr", 0.001, 4.0, 100, True))
    y: SweepAxis = field(default_factory=lambda: SweepAxis("momentum", 0.0, 0.99, 100, False))
    measure: str = "final_loss"

    def __post_init__(self) -> None:
        _check_axis(self.x, self.run, "x")
        _check_axis(self.y, self.run, "y")
        if self.x.name == self.y.name:
            raise InvalidSpec("the two axes need different hyperparameters", "sweep.y")
        if self.measure not in MEASURES:
            raise InvalidSpec(f"measure must be one of {', '.join(MEASURES)} (got {self.measure!r:.40})",
                              "sweep.measure")
        work = self.runs * self.run.steps
        check_looped(self.run, self.runs)
        if work > MAX_SWEEP_RUN_STEPS:
            raise InvalidSpec(f"a sweep may take at most {MAX_SWEEP_RUN_STEPS:,} run-steps "
                              f"(got {self.runs:,} runs × {self.run.steps} steps)", "sweep.x_points")
        self._check_rules()

    @property
    def runs(self) -> int:
        return self.x.points * self.y.points

    def _check_rules(self) -> None:
        """The optimizer's cross-field rules along both axes, against the other's ends."""
        row = OPTIMIZERS[self.run.optimizer.name]
        base = self.run.optimizer.values
        xs, ys = axis_values(self.run, self.x), axis_values(self.run, self.y)
        pairs = itertools.chain(((x, y) for x in xs for y in (ys[0], ys[-1])),
                                ((x, y) for y in ys for x in (xs[0], xs[-1])))
        for x, y in pairs:
            values = {**base, self.x.name: float(x), self.y.name: float(y)}
            for invalid, _field, message in row.rules:
                if invalid(values):
                    raise InvalidSpec(f"{message}, at {self.x.name} = {x:.4g}, {self.y.name} = {y:.4g}",
                                      "sweep")
        if self.run.schedule.name == "none":
            return
        for x, y in itertools.product((xs[0], xs[-1]), (ys[0], ys[-1])):  # the schedule at the corners
            given = {**self.run.schedule.values}
            for axis, value in ((self.x, x), (self.y, y)):
                if axis.name.startswith(SCHEDULE_PREFIX):
                    param = axis_param(self.run, axis.name)
                    given[axis.name[len(SCHEDULE_PREFIX):]] = int(value) if param.kind is int else float(value)
            optimizer = dataclasses.replace(self.run.optimizer, params=tuple(
                {**base, **{a.name: float(v) for a, v in ((self.x, x), (self.y, y)) if a.name in base}}.items()))
            try:
                dataclasses.replace(self.run, optimizer=optimizer, schedule=ScheduleSpec(self.run.schedule.name,
                                                                                      tuple(given.items())))
            except InvalidSpec as err:
                raise InvalidSpec(f"{err.message}, at {self.x.name} = {x:.4g}, {self.y.name} = {y:.4g}",
                                  "sweep") from None


@dataclass(frozen=True, slots=True)
class SweepResult:
    """``value[i, j]`` is the measure at y value ``y[i]`` and x value ``x[j]``; NaN where the
    run diverged (``diverged_at`` ≥ 0) or never reached the tolerance."""

    x: np.ndarray
    y: np.ndarray
    value: np.ndarray  # float64
    diverged_at: np.ndarray  # int, -1 where the run stayed finite
    measure: str
    start: np.ndarray  # float64: each run's loss before its first step


def run_sweep(spec: SweepSpec, progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run every (x, y) configuration on the batched engine and reduce each run to the measure.

    final_loss: the loss after the last step; best_loss: the smallest loss on the way;
    steps_to_tol: the first step whose loss is at most ``tolerance``; diverged: the step at
    which a weight, bias or loss stopped being finite. Diverged runs give NaN for the first
    three, so they never enter a colour scale.
    """
    xs, ys = axis_values(spec.run, spec.x), axis_values(spec.run, spec.y)
    grid_x, grid_y = np.meshgrid(xs, ys)
    runs = run_batched(spec.run, {spec.x.name: grid_x.ravel(), spec.y.name: grid_y.ravel()},
                       progress=progress)
    loss = runs.loss
    diverged = runs.diverged_at >= 0
    finite = np.isfinite(loss)
    if spec.measure == "final_loss":
        value = loss[-1].copy()
    elif spec.measure == "best_loss":
        value = np.where(finite, loss, np.inf).min(axis=0)
    elif spec.measure == "steps_to_tol":
        reached = finite & (loss <= spec.tolerance)
        value = np.where(reached.any(axis=0), reached.argmax(axis=0), np.nan).astype(np.float64)
    else:
        value = np.where(diverged, runs.diverged_at, np.nan).astype(np.float64)
    if spec.measure != "diverged":
        value = np.where(diverged, np.nan, value)
    shape = (len(ys), len(xs))
    return SweepResult(xs, ys, value.reshape(shape), runs.diverged_at.reshape(shape), spec.measure,
                       loss[0].astype(np.float64).reshape(shape))
