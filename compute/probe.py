"""Probes along one setting: the run at many values of one hyperparameter at once on the batched
engine, reduced to one answer (the engine's answer to a question put to a room; ``python -m compute
probe`` prints it).

- ``largest_converging``: the largest value whose run converges, scanning up from the smallest:
  a run converges when it stays finite and ends below the loss it started at.
- ``fastest``: the value whose run first comes within ``tolerance`` (relative) of the lowest loss
  any of the runs reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compute.batched import run_batched
from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param
from compute.specs import RunSpec

POINTS = 600  # values of the setting, evenly in its scale across its slider's span
TOLERANCE = 0.01
MAX_WORK = 300_000_000  # points × optimizer steps × data points: an answer within a second or two here
KINDS = ("largest_converging", "fastest")


@dataclass(frozen=True, slots=True)
class Probe:
    """The answer (``value``), where it was looked for (``values``), and what the runs showed: for
    ``fastest``, its steps to the ``lowest`` loss; for ``largest_converging``, each run's fate."""

    kind: str
    name: str
    value: float
    values: np.ndarray
    converges: np.ndarray  # bool, per value
    steps: np.ndarray  # int, per value: the first step within tolerance of the lowest (-1: never)
    lowest: float


def probe_values(param: Param, points: int = POINTS) -> np.ndarray:
    """``points`` values across the setting's slider span, evenly in its scale (log for lr)."""
    lo, hi = param.sweep_range
    return np.geomspace(lo, hi, points) if param.log else np.linspace(lo, hi, points)


def check_work(run: RunSpec, points: int = POINTS) -> None:
    """InvalidSpec unless ``points`` runs of ``run`` are within MAX_WORK (a probe's cap, checked before
    anything is allocated)."""
    if not 2 <= points <= 10_000:
        raise InvalidSpec("points must be 2 to 10000", "points")
    if points * run.steps * run.data.n > MAX_WORK:
        raise InvalidSpec(f"{points} runs × {run.steps:,} steps × {run.data.n:,} data points is past the probe's "
                          f"{MAX_WORK:,}: fewer epochs, data points or values", "points")


def probe(run: RunSpec, name: str, kind: str, points: int = POINTS, tolerance: float = TOLERANCE) -> Probe:
    """The run at ``points`` values of its optimizer's setting ``name``, all at once (float32, as the
    toy lab), reduced to the answer of ``kind`` (see the module's note). InvalidSpec where the work is
    past MAX_WORK, the setting is not the optimizer's, or no value answers."""
    if kind not in KINDS:
        raise InvalidSpec(f"kind must be one of {', '.join(KINDS)} (got {kind!r:.40})", "kind")
    params = {p.name: p for p in OPTIMIZERS[run.optimizer.name].params if p.kind is not bool}
    if name not in params:
        raise InvalidSpec(f"{run.optimizer.name} has no setting {name!r:.40} to probe; these: {', '.join(params)}",
                          "name")
    check_work(run, points)
    values = probe_values(params[name], points)
    found = run_batched(run, {name: values})
    loss = np.where(np.isfinite(found.loss), found.loss, np.inf)
    converges = (found.diverged_at < 0) & (loss[-1] < loss[0])
    lowest = float(np.min(loss))
    reached = loss <= lowest * (1 + tolerance) + 1e-12
    steps = np.where(reached.any(axis=0), reached.argmax(axis=0), -1)
    if kind == "largest_converging":
        if not converges[0]:
            raise InvalidSpec(f"even the smallest {name} ({values[0]:.3g}) does not converge here", name)
        first_bad = int(np.argmin(converges)) if not converges.all() else len(values)
        value = float(values[first_bad - 1])
    else:
        if (steps < 0).all():
            raise InvalidSpec("no run reaches the lowest loss within its epochs", name)
        value = float(values[int(np.argmin(np.where(steps < 0, np.iinfo(np.int64).max, steps)))])
    return Probe(kind, name, value, values, converges, steps, lowest)
