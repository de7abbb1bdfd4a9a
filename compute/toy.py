"""The single-neuron experiment: exact trajectories with torch.optim and vectorized loss maps.

A run on a classic surface (``RunSpec.surface``, compute/surfaces.py) is the same loop with the loss
f(x, y) of the point (x, y) held as the neuron's (bias, weight); its map is f over that square.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compute.data import DataSpec
from compute.losses import LOSSES, loss_data
from compute.optimizers import OPTIMIZERS
from compute.schedules import SCHEDULES, torch_scheduler
from compute.specs import GridSpec, RunSpec
from compute.surfaces import SURFACES

# Grid points × data points evaluated per chunk of the loss map (bounds peak memory).
_GRID_CHUNK_ELEMENTS = 1 << 21


@dataclass(frozen=True, slots=True)
class Trajectory:
    """Parameters and loss after each optimizer step, and what the optimizer held.

    Row k holds the weight and bias after k steps and the full-data loss at those
    parameters; row 0 is the start. ``batch_loss[k]`` is the loss the loop saw on the batch
    of step k+1 (NaN on the last row), ``clipped[k]`` whether the step that reached row k
    was clipped, ``arrow[k]`` the (Δbias, Δweight) the optimizer's moment drives after k
    steps (NaN without one) and ``step_size[k]`` its effective (bias, weight) step sizes;
    ``lr[k]`` the optimizer's lr at row k (its schedule's, where it has one). When the run diverges, the rows stop at the first non-finite row, ``diverged_at``.
    """

    weight: np.ndarray  # float32, one per row
    bias: np.ndarray
    loss: np.ndarray
    diverged_at: int | None
    batch_loss: np.ndarray
    clipped: np.ndarray  # bool
    arrow: np.ndarray  # (rows, 2): bias, weight
    step_size: np.ndarray  # (rows, 2): bias, weight
    steps_per_epoch: int = 1
    lr: np.ndarray | None = None  # float64, one per row: the lr of the step taken from it (the last: the next)

    @property
    def finite_steps(self) -> int:
        return len(self.loss) if self.diverged_at is None else self.diverged_at


SURFACE_AXES = ("x", "y")


@dataclass(frozen=True, slots=True)
class LossGrid:
    """The loss over a grid: ``loss[i, j]`` is at weight ``weights[i]`` and bias ``biases[j]``."""

    biases: np.ndarray  # float32
    weights: np.ndarray
    loss: np.ndarray  # float32, shape (len(weights), len(biases))
    axes: tuple[str, str] = ("bias b", "weight w")  # what the axes are called: a surface's are x and y
    minima: tuple[tuple[float, float], ...] = ()  # a surface's known minima on the map, as (x, y)
    value: str = "loss"  # what the map's value is called: a surface's is f


def run_trajectory(spec: RunSpec) -> Trajectory:
    """Train ``torch.nn.Linear(1, 1)`` with the spec's torch.optim optimizer and loop knobs.

    The usual loop, in float32, for every batch of every epoch::

        optimizer.zero_grad()            # skipped when zero_grad is off: gradients accumulate
        loss = loss_fn(model(xb), yb)
        loss.backward()
        clip_grad_norm_(model.parameters(), max_norm)   # when clip_grad_norm is on
        optimizer.step()

    Full batch (batch_size 0) is one step per epoch over the whole data set, and row k's loss
    is exactly the ``loss.item()`` that loop sees at step k. With mini-batches each epoch
    visits ``torch.randperm(n, generator)`` in slices of batch_size, the generator seeded
    with batch_seed, and row k's loss is the full-data loss at its parameters. Stops at the
    first row whose weight, bias or loss is not finite and records it as ``diverged_at``.

    Args:
        spec: data, loss, optimizer, loop knobs, epochs and start point.
    """
    return run_trajectories([spec])[0]


class _Run:
    """One run of a joint loop: its model, loss, batches and the rows recorded so far."""

    def __init__(self, spec: RunSpec) -> None:
        x, y = loss_data(spec.data, spec.loss.name)
        self.spec = spec
        self.inputs = torch.tensor(x).unsqueeze(1)
        self.targets = torch.tensor(y).unsqueeze(1)
        self.model = torch.nn.utils.skip_init(torch.nn.Linear, 1, 1)
        with torch.no_grad():
            self.model.weight.fill_(spec.init_weight)
            self.model.bias.fill_(spec.init_bias)
        self.params = list(self.model.parameters())  # weight, bias
        self.loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)
        # a surface: f(x, y) of the point (x, y) = (bias, weight), the Linear only holding them
        self.surface = (SURFACES[spec.surface.name].function(spec.surface.values) if spec.surface.on else None)
        self.full_batch = spec.batch >= spec.data.n
        self.batches = batch_order(spec, self.inputs, self.targets)
        self.rows: list[tuple] = []
        self.diverged_at: int | None = None
        self.clipped = False
        self.done = False
        self.last_loss = math.nan  # the loss of the last step (a plateau schedule's metric)

    def loss(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """The loss on a batch: loss_fn(model(xb), yb); on a surface f(bias, weight).sum() (one
        element: the sum is its value), the data unused."""
        if self.surface is not None:
            return self.surface(self.model.bias, self.model.weight).sum()
        return self.loss_fn(self.model(xb), yb)

    def full_loss(self) -> float:
        with torch.no_grad():
            return self.loss(self.inputs, self.targets).item()

    def trajectory(self) -> Trajectory:
        table = np.array(self.rows, dtype=np.float64)
        as32 = table.astype(np.float32)
        return Trajectory(
            weight=as32[:, 0].copy(), bias=as32[:, 1].copy(), loss=as32[:, 2].copy(),
            diverged_at=self.diverged_at, batch_loss=as32[:, 3].copy(), clipped=table[:, 4] > 0,
            arrow=as32[:, 5:7].copy(), step_size=as32[:, 7:9].copy(),
            steps_per_epoch=self.spec.batches_per_epoch, lr=table[:, 9].copy(),
        )


def run_trajectories(specs: Sequence[RunSpec]) -> list[Trajectory]:
    """``[run_trajectory(s) for s in specs]``, bit for bit, in one loop (the 2×2 view's four losses).

    Runs with the same optimizer spec and zero_grad share one torch.optim optimizer over all their
    parameters (one parameter pair per run); every step runs each live run's forward pass, one
    ``torch.autograd.backward`` over their losses, ``clip_grad_norm_`` on each run's own
    parameters, and one ``optimizer.step()`` per optimizer. torch.optim's CPU updates go parameter
    by parameter (its single-tensor code: foreach kernels are for accelerators), with per-parameter
    state, and the runs' graphs share no tensor, so each run's numbers are exactly those of its own
    loop: one backward and one step call instead of one per run is what makes it faster (tested
    equal). A run stops recording at its last step or at divergence; the others go on.
    """
    runs = [_Run(spec) for spec in specs]
    members: dict[tuple, list[_Run]] = {}
    for run in runs:
        # a schedule steps its optimizer's lr: runs share one where their epochs end alike; a plateau
        # follows one run's loss, so each such run has its own
        schedule = run.spec.schedule
        # (LBFGS flattens all its parameters into one vector, and a class without a batched form may
        # too: runs sharing it would mix)
        apart = id(run) if SCHEDULES[schedule.name].plateau or not OPTIMIZERS[run.spec.optimizer.name].batched else None
        key = (run.spec.optimizer, run.spec.zero_grad, schedule, run.spec.batches_per_epoch, apart)
        members.setdefault(key, []).append(run)
    groups = [_Group(group) for group in members.values()]
    step = 0
    while not all(run.done for run in runs):
        losses = [loss for group in groups for loss in group.forward(step)]
        if losses:
            torch.autograd.backward(losses)
        for group in groups:
            group.step()
        step += 1
    return [run.trajectory() for run in runs]


class _Group:
    """Runs sharing one optimizer (the same optimizer spec and zero_grad)."""

    def __init__(self, runs: list[_Run]) -> None:
        spec = runs[0].spec
        self.runs = runs
        self.row = OPTIMIZERS[spec.optimizer.name]
        self.values = spec.optimizer.values
        self.zero_grad = spec.zero_grad
        self.optimizer = self.row.build([p for run in runs for p in run.params], self.values)
        self.schedule = spec.schedule
        self.scheduler = torch_scheduler(self.optimizer, spec.schedule.name, spec.schedule.values,
                                         max(spec.schedule_steps, 1))
        self.batches_per_epoch = spec.batches_per_epoch
        self.steps = 0
        self.stepping: list[_Run] = []

    def forward(self, step: int) -> list[torch.Tensor]:
        """Record each live run's row at ``step``; the losses of the runs that step on."""
        live = [run for run in self.runs if not run.done]
        if self.zero_grad and any(step < run.spec.steps for run in live):
            self.optimizer.zero_grad()
        losses = [(run, _record(run, step, self.row, self.values, self.optimizer)) for run in live]
        self.stepping = [run for run, loss in losses if loss is not None]
        if self.row.closure:  # its step evaluates the loss itself, through the closure
            return []
        return [loss for _, loss in losses if loss is not None]

    def step(self) -> None:
        """clip_grad_norm_ on each stepping run's parameters (when on), then optimizer.step() (LBFGS:
        optimizer.step(closure), the closure zeroing the gradients, taking the step's batch's loss
        and its gradient, clipping it when on, as torch's documentation writes it)."""
        if self.row.closure and self.stepping:
            run = self.stepping[0]
            xb, yb = run.batch

            def closure() -> torch.Tensor:
                self.optimizer.zero_grad()
                loss = run.loss(xb, yb)
                loss.backward()
                if run.spec.clip_grad_norm:
                    total = torch.nn.utils.clip_grad_norm_(run.params, run.spec.max_norm)
                    run.clipped = run.spec.max_norm / (float(total) + 1e-6) < 1.0
                return loss

            self.optimizer.step(closure)
            self.steps += 1
            self._schedule()
            return
        for run in self.stepping:
            if run.spec.clip_grad_norm:
                total = torch.nn.utils.clip_grad_norm_(run.params, run.spec.max_norm)
                run.clipped = run.spec.max_norm / (float(total) + 1e-6) < 1.0
        if self.stepping:
            self.optimizer.step()
            self.steps += 1
            self._schedule()

    def _schedule(self) -> None:
        """scheduler.step() after the optimizer's (ReduceLROnPlateau: on the step's loss), every
        step or at an epoch's end."""
        if self.scheduler is None or (self.schedule.per_epoch and self.steps % self.batches_per_epoch):
            return
        if SCHEDULES[self.schedule.name].plateau:
            self.scheduler.step(self.stepping[0].last_loss)
        else:
            self.scheduler.step()


def _record(run: _Run, step: int, row: Any, values: dict[str, Any], optimizer: torch.optim.Optimizer) -> Any:
    """Record the run's row at ``step`` and return the loss to backpropagate (None: it stops here)."""
    spec = run.spec
    weight, bias = run.model.weight.item(), run.model.bias.item()
    arrow, sizes = row.state_view(optimizer, values, run.params)  # per parameter: weight, bias
    loss = None
    if step == spec.steps:
        loss_value, batch_value = run.full_loss(), math.nan
    else:
        xb, yb = next(run.batches)
        run.batch = (xb, yb)
        loss = run.loss(xb, yb)
        batch_value = loss.item()
        run.last_loss = batch_value
        loss_value = batch_value if run.full_batch else run.full_loss()
    arrow = arrow or [math.nan, math.nan]
    run.rows.append((weight, bias, loss_value, batch_value, run.clipped, arrow[1], arrow[0], sizes[1], sizes[0],
                     optimizer.param_groups[0]["lr"]))
    if not (math.isfinite(weight) and math.isfinite(bias) and math.isfinite(loss_value)):
        run.diverged_at = step
        run.done = True
        return None
    if step == spec.steps:
        run.done = True
        return None
    return loss


def batch_order(spec: RunSpec, inputs: torch.Tensor, targets: torch.Tensor) -> Iterator[tuple]:
    """Each step's (inputs, targets): the whole set, or slices of a seeded permutation per epoch."""
    if spec.batch >= spec.data.n:
        while True:
            yield inputs, targets
    generator = torch.Generator().manual_seed(spec.batch_seed)
    while True:
        order = torch.randperm(spec.data.n, generator=generator)
        for start in range(0, spec.data.n, spec.batch):
            index = order[start : start + spec.batch]
            yield inputs[index], targets[index]


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
    biases, weights = grid_axes(spec)
    if spec.surface.on:  # f(x, y) at every (bias, weight) = (x, y), as the runs evaluate it
        f = SURFACES[spec.surface.name].function(spec.surface.values)
        with torch.inference_mode():
            values = f(torch.from_numpy(biases)[None, :], torch.from_numpy(weights)[:, None])
        minima = tuple((float(mx), float(my)) for mx, my in SURFACES[spec.surface.name].minima(spec.surface.values)
                       if spec.b_min <= mx <= spec.b_max and spec.w_min <= my <= spec.w_max)
        return LossGrid(biases, weights, np.ascontiguousarray(values.expand(len(weights), len(biases)).numpy()),
                        SURFACE_AXES, minima, "f")
    x, y = loss_data(spec.data, spec.loss.name)
    xs, ys = torch.tensor(x), torch.tensor(y)
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


EXTENT_MARGIN = 1.3  # the followed map reaches this far past the start point
EXTENT_FLOOR = 0.5  # and at least this far from the optimum either way
EXTENT_LIMIT = 1000.0  # the grid's edges' range


def least_squares(data: DataSpec, loss: str = "mse") -> tuple[float, float]:
    """The (weight, bias) of the least-squares line through the data a loss is fit to, in float64:
    w* = cov(x', y)/var(x'), b* = mean y − w*·mean x'. MSELoss's minimum exactly; a centre for the
    other losses (their minima lie near it; BCEWithLogits' may lie at infinity)."""
    x, y = (np.asarray(a, np.float64) for a in loss_data(data, loss))
    dx = x - x.mean()
    weight = float((dx * (y - y.mean())).sum() / (dx * dx).sum())
    return weight, float(y.mean() - weight * x.mean())


def follow_extent(data: DataSpec, loss: str, init_weight: float, init_bias: float) -> dict[str, float]:
    """A square map around the optimum that holds the start point: what the toy lab's map turns to
    when the feature's scale, offset or standardizing moves the optimum.

    Centre (w*, b*) of ``least_squares``; half-side r = EXTENT_MARGIN·max(|w₀ − w*|, |b₀ − b*|,
    EXTENT_FLOOR), the same both ways so that an equal-scale map shows a narrow valley as narrow;
    edges rounded to 3 significant digits and kept within ±EXTENT_LIMIT.
    """
    weight, bias = least_squares(data, loss)
    half = EXTENT_MARGIN * max(abs(init_weight - weight), abs(init_bias - bias), EXTENT_FLOOR)

    def edge(value: float) -> float:
        return float(min(max(float(f"{value:.3g}"), -EXTENT_LIMIT), EXTENT_LIMIT))

    return {"b_min": edge(bias - half), "b_max": edge(bias + half),
            "w_min": edge(weight - half), "w_max": edge(weight + half)}
