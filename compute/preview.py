"""The run at every stop of one setting's slider, in one call of the batched engine: what a page
shows while the slider is dragged, before torch.optim's exact run at the released value.

The batched engine follows torch.optim's updates term for term; in float32 it agrees with the
toy lab's run to rtol 2e-4 on the way to the minimum (tests/compute/test_batched.py, and
tests/compute/test_preview.py for previews), while runs that explode amplify rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from compute.batched import previewable, run_batched
from compute.errors import InvalidSpec
from compute.optimizers import OPTIMIZERS
from compute.params import Param
from compute.specs import RUN_PARAMS, OptimizerSpec, RunSpec, _Keyed

PREVIEW_ROWS = 301  # rows kept per run (the exact run on release draws every step)


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
        if self.name not in previewable(self.run):
            raise InvalidSpec(f"{self.name!r:.40} cannot be previewed on the batched engine; "
                              f"these can: {', '.join(previewable(self.run))}", "preview")

    @property
    def values(self) -> tuple[float, ...]:
        return preview_param(self.run, self.name).stops


@dataclass(frozen=True, slots=True)
class Preview:
    """``weight[r, i]``, ``bias[r, i]``, ``loss[r, i]`` (full-data loss) at step ``steps[r]`` of the
    run at ``values[i]``; NaN from where a run diverged, and all NaN where torch would refuse the
    value in these settings (nesterov with momentum 0)."""

    values: np.ndarray
    steps: np.ndarray
    weight: np.ndarray
    bias: np.ndarray
    loss: np.ndarray


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
    runs = run_batched(spec.run, {spec.name: np.array(values, dtype=np.float64)}, keep_params=True)
    steps = np.unique(np.linspace(0, spec.run.steps, min(spec.run.steps + 1, PREVIEW_ROWS)).round().astype(int))
    weight, bias, loss = runs.weight[steps], runs.bias[steps], runs.loss[steps]
    bad = ~(np.isfinite(weight) & np.isfinite(bias) & np.isfinite(loss))
    bad = np.maximum.accumulate(bad, axis=0) | _refused(spec.run, spec.name, values)[None, :]
    return Preview(values=np.array(values, dtype=np.float64), steps=steps,
                   weight=np.where(bad, np.nan, weight).astype(np.float32),
                   bias=np.where(bad, np.nan, bias).astype(np.float32),
                   loss=np.where(bad, np.nan, loss).astype(np.float32))
