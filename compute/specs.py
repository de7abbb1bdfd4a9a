"""Frozen request specs: one per computation, validated on construction, hashed into cache keys.

Every spec holds only primitives, tuples and nested specs, so ``cache_key()`` is a hash of its
sorted JSON plus the compute version; a key never comes from a tensor's repr.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import torch

from compute.data import DataSpec
from compute.errors import InvalidSpec
from compute.losses import LOSSES
from compute.optimizers import OPTIMIZERS
from compute.params import Param, param_fields
from compute.schedules import SCHEDULES
from compute.surfaces import NONE, SURFACES

COMPUTE_VERSION = "1"


class _Keyed:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The spec's fields as plain values; a nested spec as its own ``to_dict`` says (TrainSpec
        leaves out a schedule it does not have)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            out[f.name] = (value.to_dict() if isinstance(value, _Keyed)
                           else dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value)
        return out

    def cache_key(self) -> str:
        """A stable hash of the spec's content, its type and the compute version."""
        return _cache_key(self)


@lru_cache(maxsize=4096)
def _cache_key(spec: _Keyed) -> str:
    """sha256 of the spec's sorted JSON (memoized: specs are frozen and hashable)."""
    text = json.dumps(
        {"type": type(spec).__name__, "version": COMPUTE_VERSION, "spec": spec.to_dict()},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _registry_values(kind: str, registry: dict, name: str, given: Any) -> tuple[str, tuple]:
    """Validate a registry choice and its hyperparameters; fill defaults; sort."""
    if name not in registry:
        raise InvalidSpec(f"unknown {kind} {name!r}; choose one of {', '.join(registry)}", kind)
    row = registry[name]
    given = dict(given)
    known = {p.name for p in row.params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise InvalidSpec(f"{row.title} takes no argument {unknown[0]!r}", f"{name}.{unknown[0]}")
    values = tuple(
        (p.name, p.coerce(given.get(p.name, p.default), f"{name}.{p.name}"))
        for p in sorted(row.params, key=lambda p: p.name)
    )
    return name, values


@dataclass(frozen=True, slots=True)
class LossSpec(_Keyed):
    """A loss from the registry with its hyperparameters, as sorted (name, value) pairs."""

    name: str = "mse"
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _, values = _registry_values("loss", LOSSES, self.name, self.params)
        object.__setattr__(self, "params", values)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class OptimizerSpec(_Keyed):
    """An optimizer from the registry with its hyperparameters, as sorted (name, value) pairs."""

    name: str = "sgd"
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        name, values = _registry_values("optimizer", OPTIMIZERS, self.name, self.params)
        object.__setattr__(self, "params", values)
        OPTIMIZERS[name].check(dict(values))

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)


@dataclass(frozen=True, slots=True)
class ScheduleSpec(_Keyed):
    """A learning-rate schedule from the registry ("none": a constant lr) with its arguments, as
    sorted (name, value) pairs; checked against the run's optimizer by RunSpec."""

    name: str = "none"
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _, values = _registry_values("schedule", SCHEDULES, self.name, self.params)
        object.__setattr__(self, "params", values)

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def per_epoch(self) -> bool:
        return bool(self.values.get("per_epoch", False))


@dataclass(frozen=True, slots=True)
class SurfaceSpec(_Keyed):
    """What is minimized: "none", the neuron fit to the data under the loss; else a classic surface
    f(x, y) of the registry (compute/surfaces.py) with its arguments (the expression's: its text),
    as sorted (name, value) pairs. The formula is checked here: a refused one is an InvalidSpec."""

    name: str = NONE
    params: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        _, values = _registry_values("surface", SURFACES, self.name, self.params)
        object.__setattr__(self, "params", values)
        SURFACES[self.name].check(dict(values))

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def on(self) -> bool:
        """Whether a surface replaces the neuron and its data."""
        return self.name != NONE

    @property
    def title(self) -> str:
        return SURFACES[self.name].title


MAX_STEPS = 5000
RUN_PARAMS: tuple[Param, ...] = (
    Param("epochs", int, 100, 0, 2000, log=True, help="passes over the data", span=(1, 2000)),
    Param("init_weight", float, 6.0, -1000.0, 1000.0, help="starting weight w₀", span=(-10.0, 10.0)),
    Param("init_bias", float, -3.0, -1000.0, 1000.0, help="starting bias b₀", span=(-10.0, 10.0)),
    Param("zero_grad", bool, True, help="call optimizer.zero_grad() before each step; off, gradients accumulate"),
    Param("clip_grad_norm", bool, False, help="clip the gradient with torch.nn.utils.clip_grad_norm_"),
    Param("max_norm", float, 1.0, 0.0, 1e6, lo_open=True, log=True, help="max_norm of clip_grad_norm_",
          span=(0.01, 100.0)),
    Param("batch_size", int, 0, 0, 1000, log=True, help="points per optimizer step; 0: the whole data set",
          span=(1, 1000)),
    Param("batch_seed", int, 0, 0, 2**32 - 1, help="seed of the shuffled mini-batch order", slider=False),
)


@dataclass(frozen=True, slots=True)
@param_fields(RUN_PARAMS, "run")
class RunSpec(_Keyed):
    """One training run of the single neuron: data, loss, optimizer, epochs, start point."""

    data: DataSpec = field(default_factory=DataSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = field(default_factory=ScheduleSpec)
    surface: SurfaceSpec = field(default_factory=SurfaceSpec)

    def __post_init__(self) -> None:
        if self.epochs * self.batches_per_epoch > MAX_STEPS:
            raise InvalidSpec(
                f"epochs × batches per epoch must be at most {MAX_STEPS} optimizer steps "
                f"(got {self.epochs} × {self.batches_per_epoch})", "run.epochs")
        if OPTIMIZERS[self.optimizer.name].closure and not self.zero_grad:
            raise InvalidSpec(f"{OPTIMIZERS[self.optimizer.name].title} evaluates the loss several times a step "
                              "through its closure, which zeroes the gradients: zero_grad stays on", "run.zero_grad")
        SCHEDULES[self.schedule.name].check(self.schedule.values, self.optimizer.name, self.optimizer.values,
                                            self.schedule_steps)
        if self.surface.on:
            _finite_start(self)

    @property
    def schedule_steps(self) -> int:
        """How many times the run's scheduler steps: after every optimizer step, or every epoch."""
        return self.epochs if self.schedule.per_epoch else self.steps

    @property
    def batch(self) -> int:
        """Points per optimizer step (the whole data set when batch_size is 0 or larger, and on a
        surface, which has no data: one step an epoch)."""
        if self.batch_size in (0, None) or self.surface.on:
            return self.data.n
        return min(self.batch_size, self.data.n)

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.data.n // self.batch)

    @property
    def steps(self) -> int:
        return self.epochs * self.batches_per_epoch


def _finite_start(run: RunSpec) -> None:
    """InvalidSpec where the surface's f is not finite at the start point, in float32 as the run
    evaluates it (log(x) at x < 0, 1/x at 0): a run could not take a first step there."""
    f = SURFACES[run.surface.name].function(run.surface.values)
    with torch.no_grad():
        value = float(f(torch.tensor([run.init_bias]), torch.tensor([[run.init_weight]])).reshape(-1)[0])
    if not math.isfinite(value):
        raise InvalidSpec(f"f is {value} at the start point (x, y) = ({run.init_bias:g}, {run.init_weight:g}): "
                          "start where it is finite (click the map there), or change the formula", "run.init_bias")


GRID_PARAMS: tuple[Param, ...] = (
    Param("b_min", float, -5.0, -1000.0, 1000.0, help="left edge of the bias axis", span=(-20.0, 20.0)),
    Param("b_max", float, 8.0, -1000.0, 1000.0, help="right edge of the bias axis", span=(-20.0, 20.0)),
    Param("w_min", float, -5.0, -1000.0, 1000.0, help="bottom edge of the weight axis", span=(-20.0, 20.0)),
    Param("w_max", float, 8.0, -1000.0, 1000.0, help="top edge of the weight axis", span=(-20.0, 20.0)),
    Param("resolution", int, 101, 3, 301, help="grid points per axis"),
)


@dataclass(frozen=True, slots=True)
@param_fields(GRID_PARAMS, "grid")
class GridSpec(_Keyed):
    """A loss map: the loss over a resolution × resolution grid of (bias, weight)."""

    data: DataSpec = field(default_factory=DataSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    surface: SurfaceSpec = field(default_factory=SurfaceSpec)

    def __post_init__(self) -> None:
        if self.b_min >= self.b_max:
            raise InvalidSpec("b_min must be below b_max", "grid.b_max")
        if self.w_min >= self.w_max:
            raise InvalidSpec("w_min must be below w_max", "grid.w_max")
