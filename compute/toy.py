"""The single-neuron experiment: exact trajectories with torch.optim and vectorized loss maps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from compute.data import toy_data
from compute.losses import LOSSES
from compute.optimizers import OPTIMIZERS
from compute.specs import GridSpec, RunSpec

# Grid points × data points evaluated per chunk of the loss map (bounds peak memory).
_GRID_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Parameters and loss after each optimizer step.

    Row k holds the weight and bias after k steps and the loss at those parameters; row 0
    is the start. When the run diverges, the rows stop at the first non-finite row, whose
    index is ``diverged_at``; ``finite_steps`` rows precede it.
    """

    weight: np.ndarray  # float32, one per row
    bias: np.ndarray
    loss: np.ndarray
    diverged_at: int | None

    @property
    def finite_steps(self) -> int:
        return len(self.loss) if self.diverged_at is None else self.diverged_at


@dataclass(frozen=True, slots=True)
class LossGrid:
    """The loss over a grid: ``loss[i, j]`` is at weight ``weights[i]`` and bias ``biases[j]``."""

    biases: np.ndarray  # float32
    weights: np.ndarray
    loss: np.ndarray  # float32, shape (len(weights), len(biases))


def run_trajectory(spec: RunSpec) -> Trajectory:
    """Train ``torch.nn.Linear(1, 1)`` full-batch with the spec's torch.optim optimizer.

    The usual loop, ``epochs`` times, in float32 over the whole data set::

        optimizer.zero_grad(); loss = loss_fn(model(X), Y); loss.backward(); optimizer.step()

    Row k's loss is the ``loss.item()`` that loop sees at step k (the loss before step k+1);
    the last row's loss is one more forward pass. Stops at the first row whose weight, bias
    or loss is not finite, and records its index as ``diverged_at``.

    Args:
        spec: data, loss, optimizer, epochs and start point.
    """
    x, y = toy_data(spec.data)
    inputs = torch.tensor(x).unsqueeze(1)
    targets = torch.tensor(y).unsqueeze(1)
    model = torch.nn.utils.skip_init(torch.nn.Linear, 1, 1)
    with torch.no_grad():
        model.weight.fill_(spec.init_weight)
        model.bias.fill_(spec.init_bias)
    optimizer = OPTIMIZERS[spec.optimizer.name].build(model.parameters(), spec.optimizer.values)
    loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)

    rows: list[tuple[float, float, float]] = []
    diverged_at = None
    for step in range(spec.epochs + 1):
        weight, bias = model.weight.item(), model.bias.item()
        if step < spec.epochs:
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            loss_value = loss.item()
            loss.backward()
            optimizer.step()
        else:
            with torch.no_grad():
                loss_value = loss_fn(model(inputs), targets).item()
        rows.append((weight, bias, loss_value))
        if not (math.isfinite(weight) and math.isfinite(bias) and math.isfinite(loss_value)):
            diverged_at = step
            break
    table = np.array(rows, dtype=np.float32).reshape(-1, 3)
    return Trajectory(table[:, 0].copy(), table[:, 1].copy(), table[:, 2].copy(), diverged_at)


def grid_axes(spec: GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """The (biases, weights) grid axes: ``resolution`` evenly spaced float32 values each."""
    biases = np.linspace(spec.b_min, spec.b_max, spec.resolution, dtype=np.float32)
    weights = np.linspace(spec.w_min, spec.w_max, spec.resolution, dtype=np.float32)
    return biases, weights


def loss_grid(spec: GridSpec) -> LossGrid:
    """The loss at every (bias, weight) of the grid, vectorized over grid points.

    loss[i, j] = mean_k ℓ(weights[i]·x_k + biases[j], y_k), with ℓ the registry loss's
    elementwise form (``reduction="none"``), computed in float32 chunks of rows so that
    memory stays bounded; no Python loop runs over grid points.

    Args:
        spec: data, loss, extent and resolution.
    """
    x, y = toy_data(spec.data)
    xs, ys = torch.tensor(x), torch.tensor(y)
    biases, weights = grid_axes(spec)
    b = torch.from_numpy(biases)
    w = torch.from_numpy(weights)
    elementwise = LOSSES[spec.loss.name].module(spec.loss.values, reduction="none")
    out = torch.empty((len(w), len(b)), dtype=torch.float32)
    rows_per_chunk = max(1, _GRID_CHUNK_ELEMENTS // (len(b) * len(xs)))
    with torch.inference_mode():
        for start in range(0, len(w), rows_per_chunk):
            wc = w[start : start + rows_per_chunk]
            pred = wc[:, None, None] * xs + b[None, :, None]  # (rows, biases, n)
            out[start : start + len(wc)] = elementwise(pred, ys.expand_as(pred)).mean(dim=-1)
    return LossGrid(biases, weights, out.numpy())
