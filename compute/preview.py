"""The run at every stop of one setting's slider, in one call of the batched engine: what a page
shows while the slider is dragged, before torch.optim's exact run at the released value.

The batched engine follows torch.optim's updates term for term; in float32 it agrees with the
toy lab's run to rtol 2e-4 on the way to the minimum (tests/compute/test_batched.py, and
tests/compute/test_preview.py for previews), while runs that explode amplify rounding.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compute.batched import previewable, run_batched
from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param
from compute.specs import MAX_STEPS, RUN_PARAMS, OptimizerSpec, RunSpec, _Keyed

PREVIEW_ROWS = 301  # rows kept per run (the exact run on release draws every step)
# Settings whose every stop is a prefix of one run: the run at fewer epochs is the first steps of
# the longest (the same start, updates and mini-batch order), so one run previews every stop.
PREFIX = ("epochs",)


def preview_param(run: RunSpec, name: str) -> Param:
    """The Param of a setting a preview varies: the run's optimizer's, or the run's own."""
    for p in (*OPTIMIZERS[run.optimizer.name].params, *RUN_PARAMS):
        if p.name == name:
            return p
    raise InvalidSpec(f"no setting {name!r:.40} in this run", "preview")


@dataclass(frozen=True, slots=True)
class PreviewSpec(_Keyed):
    """The base run and the setting whose slider stops the preview runs."""

    run: RunSpec
    name: str
    PARAMS: ClassVar[tuple[Param, ...]] = ()

    def __post_init__(self) -> None:
        row = OPTIMIZERS[self.run.optimizer.name]
        if not row.batched:
            why = " (its line search evaluates the loss a different number of times in each run)" if row.closure else ""
            raise InvalidSpec(f"{row.title} has no batched form{why}", "preview")
        can = (*previewable(self.run), *PREFIX)
        if self.name not in can:
            raise InvalidSpec(f"{self.name!r:.40} cannot be previewed on the batched engine; "
                              f"these can: {', '.join(can)}", "preview")

    @property
    def values(self) -> tuple[float, ...]:
        return preview_param(self.run, self.name).stops


@dataclass(frozen=True, slots=True)
class Preview:
    """``weight[r, i]``, ``bias[r, i]``, ``loss[r, i]`` (full-data loss) at step ``steps[r]`` of the
    run at ``values[i]``; NaN from where a run diverged, and all NaN where torch would refuse the
    value in these settings (nesterov with momentum 0).

    A prefix preview (``ends`` set: epochs) holds one column, the longest run at every step; the
    run at ``values[i]`` is its rows up to step ``ends[i]`` (−1: a stop past the step cap, no run).
    """

    values: np.ndarray
    steps: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    loss: np.ndarray
    ends: np.ndarray | None = None

    def path(self, i: int) -> tuple[np.ndarray, ...]:
        """(steps, weight, bias, loss) of the run at ``values[i]``, NaN rows included."""
        if self.ends is None:
            return self.steps, self.weight[:, i], self.bias[:, i], self.loss[:, i]
        rows = self.steps <= self.ends[i]
        return self.steps[rows], self.weight[rows, 0], self.bias[rows, 0], self.loss[rows, 0]


def _refused(run: RunSpec, name: str, values: tuple[float, ...]) -> np.ndarray:
    """Where a stop makes an optimizer torch would not build (checked per stop, memoized)."""
    if name not in {p.name for p in OPTIMIZERS[run.optimizer.name].params}:
        return np.zeros(len(values), dtype=bool)
    refused = []
    for value in values:
        try:
            OptimizerSpec(run.optimizer.name, tuple({**run.optimizer.values, name: value}.items()))
            refused.append(False)
        except InvalidSpec:
            refused.append(True)
    return np.array(refused)


def run_preview(spec: PreviewSpec) -> Preview:
    """Run ``spec.run`` at every stop of ``spec.name``'s slider at once (float32, the toy lab's
    precision), keeping up to PREVIEW_ROWS evenly spaced rows (always the first and the last).

    A row is NaN from the first row whose weight, bias or loss is not finite (the path ends
    where the run diverged, as the exact view draws it).
    """
    values = spec.values
    if spec.name in PREFIX:
        return _prefix_preview(spec.run, values)
    runs = run_batched(spec.run, {spec.name: np.array(values, dtype=np.float64)}, keep_params=True)
    steps = np.unique(np.linspace(0, spec.run.steps, min(spec.run.steps + 1, PREVIEW_ROWS)).round().astype(int))
    return _preview(values, steps, runs.weight[steps], runs.bias[steps], runs.loss[steps],
                    _refused(spec.run, spec.name, values))


def _preview(values: tuple[float, ...], steps: np.ndarray, weight: np.ndarray, bias: np.ndarray,
             loss: np.ndarray, refused: np.ndarray, ends: np.ndarray | None = None) -> Preview:
    """The rows as float32, NaN from a run's first non-finite row on and in refused columns."""
    bad = ~(np.isfinite(weight) & np.isfinite(bias) & np.isfinite(loss))
    bad = np.maximum.accumulate(bad, axis=0) | refused[None, :]
    return Preview(values=np.array(values, dtype=np.float64), steps=steps,
                   weight=np.where(bad, np.nan, weight).astype(np.float32),
                   bias=np.where(bad, np.nan, bias).astype(np.float32),
                   loss=np.where(bad, np.nan, loss).astype(np.float32), ends=ends)


def _prefix_preview(run: RunSpec, values: tuple[float, ...]) -> Preview:
    """Every epochs stop from one run: the longest the step cap allows, every step kept."""
    ends = np.array([int(v) for v in values]) * run.batches_per_epoch
    ends[ends > MAX_STEPS] = -1
    longest = dataclasses.replace(run, epochs=int(ends.max()) // run.batches_per_epoch)
    runs = run_batched(longest, {}, keep_params=True)
    steps = np.arange(longest.steps + 1)
    return _preview(values, steps, runs.weight, runs.bias, runs.loss, np.zeros(1, dtype=bool), ends)
