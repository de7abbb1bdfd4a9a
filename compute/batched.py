"""The batched engine: many runs of the toy neuron advance together, one step for all at a time.

Each run is the loop of ``compute.toy.run_trajectory`` (same data, loss, mini-batch order,
gradient accumulation and clipping); its hyperparameters may differ from run to run. The
updates re-implement torch.optim's single-tensor code, term for term, on tensors of shape
(2, runs) holding (weight, bias) of every run; hyperparameters broadcast as (1, runs). Runs
never mix: every operation is elementwise per run or reduces over data points only, so a run
that diverges cannot touch its neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compute.losses import LOSSES, loss_data
from compute.optimizers import OPTIMIZERS
from compute.specs import RunSpec
from compute.toy import batch_order

# the most (runs × points) elements one block of runs holds per temporary (8 MB in float32)
BLOCK_ELEMENTS = 1 << 21

Tensor = torch.Tensor


def _where(flag: Tensor, yes: Tensor, no: Tensor) -> Tensor:
    return torch.where(flag, yes, no)


class _Update:
    """One optimizer's update for all runs.

    ``hp`` maps names to (1, runs) tensors or bools; ``on`` maps each numeric name to where
    its value is not 0, decided on the float64 value as torch decides it on the Python float
    (a momentum of 1e-119 is 0 in float32 but still switches torch's momentum buffer on).
    """

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor):
        self.hp = hp
        self.on = on
        self.t = 0

    def _grad(self, params: Tensor, grad: Tensor) -> Tensor:
        """maximize, then L2 weight decay where it is not 0 (torch skips it when it is)."""
        grad = -grad if self.hp["maximize"] else grad
        return _where(self.on["weight_decay"], grad + self.hp["weight_decay"] * params, grad)


class SGDUpdate(_Update):
    """torch.optim.SGD: g ← g + wd·θ; buf ← g (first step) or momentum·buf + (1 − dampening)·g;
    g ← g + momentum·buf (nesterov) or buf, where momentum ≠ 0; θ ← θ − lr·g."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor):
        super().__init__(hp, on, params)
        self.buf: Tensor | None = None

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        grad = self._grad(params, grad)
        momentum = hp["momentum"]
        if self.buf is None:
            self.buf = grad.clone()
        else:
            self.buf = self.buf * momentum + (1 - hp["dampening"]) * grad
        moved = grad + momentum * self.buf if hp["nesterov"] else self.buf
        grad = _where(self.on["momentum"], moved, grad)
        return params - hp["lr"] * grad


class AdamUpdate(_Update):
    """torch.optim.Adam (and AdamW, decoupled): m ← lerp(m, g, 1 − β₁); v ← β₂·v + (1 − β₂)·g²;
    θ ← θ − lr/(1 − β₁ᵗ) · m / (√v̂ /√(1 − β₂ᵗ) + eps), v̂ = v or its running max (amsgrad)."""

    decoupled = False

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor):
        super().__init__(hp, on, params)
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self.vmax = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        self.t += 1
        grad = -grad if hp["maximize"] else grad
        wd = hp["weight_decay"]
        if self.decoupled:
            params = _where(self.on["weight_decay"], params * (1 - hp["lr"] * wd), params)
        else:
            grad = _where(self.on["weight_decay"], grad + wd * params, grad)
        beta1, beta2 = hp["beta1"], hp["beta2"]
        self.m = self.m + (1 - beta1) * (grad - self.m)
        self.v = self.v * beta2 + (1 - beta2) * grad * grad
        step_size = hp["lr"] / (1 - beta1**self.t)
        bias_correction2_sqrt = (1 - beta2**self.t) ** 0.5
        if hp["amsgrad"]:
            self.vmax = torch.maximum(self.vmax, self.v)
            second = self.vmax
        else:
            second = self.v
        denom = second.sqrt() / bias_correction2_sqrt + hp["eps"]
        return params - step_size * (self.m / denom)


class AdamWUpdate(AdamUpdate):
    decoupled = True


class RMSpropUpdate(_Update):
    """torch.optim.RMSprop: v ← α·v + (1 − α)·g²; avg = √(v − ḡ²) (centered) or √v, + eps;
    buf ← momentum·buf + g/avg, θ ← θ − lr·buf where momentum > 0, else θ ← θ − lr·g/avg."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor):
        super().__init__(hp, on, params)
        self.square = torch.zeros_like(params)
        self.grad_avg = torch.zeros_like(params)
        self.buf = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        grad = self._grad(params, grad)
        alpha = hp["alpha"]
        self.square = self.square * alpha + (1 - alpha) * grad * grad
        if hp["centered"]:
            self.grad_avg = self.grad_avg + (1 - alpha) * (grad - self.grad_avg)
            avg = (self.square - self.grad_avg * self.grad_avg).sqrt()
        else:
            avg = self.square.sqrt()
        avg = avg + hp["eps"]
        on = self.on["momentum"]
        self.buf = _where(on, self.buf * hp["momentum"] + grad / avg, self.buf)
        return _where(on, params - hp["lr"] * self.buf, params - hp["lr"] * (grad / avg))


class AdagradUpdate(_Update):
    """torch.optim.Adagrad: clr = lr/(1 + (t − 1)·lr_decay); s ← s + g²; θ ← θ − clr·g/(√s + eps)."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor):
        super().__init__(hp, on, params)
        self.sum = torch.zeros_like(params) + hp["initial_accumulator_value"]

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        self.t += 1
        grad = self._grad(params, grad)
        clr = hp["lr"] / (1 + (self.t - 1) * hp["lr_decay"])
        self.sum = self.sum + grad * grad
        return params - clr * (grad / (self.sum.sqrt() + hp["eps"]))


BATCHED_UPDATES: dict[str, Callable[[dict[str, Any], dict[str, Tensor], Tensor], _Update]] = {
    "sgd": SGDUpdate,
    "adam": AdamUpdate,
    "adamw": AdamWUpdate,
    "rmsprop": RMSpropUpdate,
    "adagrad": AdagradUpdate,
}


@dataclass(frozen=True, slots=True)
class BatchedRuns:
    """Every run's loss at every row (``loss[k, r]``, full data) and where it diverged.

    ``weight`` and ``bias`` (rows × runs) are kept only when asked for (tests, small batches).
    ``diverged_at[r]`` is the first row whose weight, bias or loss is not finite, or -1.
    """

    loss: np.ndarray
    diverged_at: np.ndarray
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


def _hyperparameters(base: RunSpec, overrides: dict[str, np.ndarray], runs: int,
                     dtype: torch.dtype) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Each hyperparameter as a (1, runs) tensor (flags as bools), and where each is not 0."""
    hp: dict[str, Any] = {}
    on: dict[str, Tensor] = {}
    for p in OPTIMIZERS[base.optimizer.name].params:
        if p.kind is bool:
            hp[p.name] = bool(base.optimizer.values[p.name])
            continue
        values = np.asarray(overrides.get(p.name, np.full(runs, base.optimizer.values[p.name])),
                            dtype=np.float64).reshape(1, runs)
        hp[p.name] = torch.as_tensor(values, dtype=dtype)
        on[p.name] = torch.as_tensor(values != 0)
    return hp, on


# The run's own settings a batch may vary beside the optimizer's hyperparameters.
RUN_OVERRIDES = ("init_weight", "init_bias", "max_norm")


def previewable(base: RunSpec) -> tuple[str, ...]:
    """The settings whose values the batched engine can vary run by run for ``base``: the
    optimizer's numeric hyperparameters, the start point, and max_norm when clipping is on."""
    numeric = tuple(p.name for p in OPTIMIZERS[base.optimizer.name].params if p.kind is not bool)
    return numeric + RUN_OVERRIDES[:2] + (("max_norm",) if base.clip_grad_norm else ())


def _run_values(base: RunSpec, overrides: dict[str, np.ndarray], name: str, runs: int,
                dtype: torch.dtype) -> Tensor:
    """One of the run's own settings as a (runs,) tensor: the overrides' values or the base's."""
    values = overrides.get(name, np.full(runs, getattr(base, name)))
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype)


def _clip(grad: Tensor, max_norm: float | Tensor) -> Tensor:
    """clip_grad_norm_ per run: scale (dL/dw, dL/db) by min(1, max_norm/(‖g‖ + 1e-6))."""
    norm = torch.sqrt(grad[0] ** 2 + grad[1] ** 2)
    return grad * torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def run_batched(
    base: RunSpec,
    overrides: dict[str, np.ndarray],
    dtype: torch.dtype = torch.float32,
    keep_params: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BatchedRuns:
    """Run ``base`` once per entry of the ``overrides`` arrays, all runs at once.

    Per step, for all runs: ŷ = w·x + b over the step's batch (the toy lab's batch order);
    g = mean of ℓ'(ŷ − y)·(x, 1) (each loss's derivative as torch's backward computes it);
    g is added to the previous g when zero_grad is off, clipped per run when clip_grad_norm
    is on, and handed to the optimizer's batched update.

    Args:
        base: the run every configuration starts from (data, loss, optimizer, knobs, start).
        overrides: optimizer hyperparameter name (or init_weight, init_bias, max_norm) → one
            value per run (equal lengths); the values are taken as valid (the specs check them).
        dtype: float32 (what the toy lab runs) or float64 (for tight comparisons).
        keep_params: also return every row's weight and bias.
        progress: called as progress(steps done, steps in all) every few steps.
    """
    runs = len(next(iter(overrides.values()))) if overrides else 1
    # Runs are independent: a sweep of 90,000 runs on 400 points would hold several (runs × points)
    # temporaries at once (0.9 GB); blocks of runs keep each below BLOCK_ELEMENTS and reach the
    # same numbers (each run's arithmetic is its own row).
    block = max(1, BLOCK_ELEMENTS // max(1, base.data.n))
    if runs <= block:
        return _run_block(base, overrides, runs, dtype, keep_params, progress)
    starts = range(0, runs, block)
    parts = []
    for i, start in enumerate(starts):
        part = {name: np.asarray(values)[start:start + block] for name, values in overrides.items()}

        def report(step: int, steps: int, i: int = i) -> None:
            # the whole sweep's progress on the steps' scale: block i of n at ``step``
            progress((i * steps + step) // len(starts), steps)

        parts.append(_run_block(base, part, min(block, runs - start), dtype, keep_params,
                                None if progress is None else report))
    return BatchedRuns(
        loss=np.concatenate([p.loss for p in parts], axis=1),
        diverged_at=np.concatenate([p.diverged_at for p in parts]),
        weight=None if not keep_params else np.concatenate([p.weight for p in parts], axis=1),
        bias=None if not keep_params else np.concatenate([p.bias for p in parts], axis=1),
    )


def _run_block(base: RunSpec, overrides: dict[str, np.ndarray], runs: int, dtype: torch.dtype,
               keep_params: bool, progress: Callable[[int, int], None] | None) -> BatchedRuns:
    """run_batched on one block of runs, all at once."""
    hp, on = _hyperparameters(base, overrides, runs, dtype)
    x, y = loss_data(base.data, base.loss.name)
    xs, ys = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    loss_row = LOSSES[base.loss.name]
    elementwise = loss_row.module(base.loss.values, reduction="none")
    params = torch.stack([_run_values(base, overrides, "init_weight", runs, dtype),
                          _run_values(base, overrides, "init_bias", runs, dtype)])
    max_norm = _run_values(base, overrides, "max_norm", runs, dtype)
    update = BATCHED_UPDATES[base.optimizer.name](hp, on, params)
    batches = batch_order(base, xs, ys)
    full_batch = base.batch >= base.data.n
    accumulated = torch.zeros_like(params)
    losses = np.empty((base.steps + 1, runs), dtype=np.float64)
    kept = np.empty((base.steps + 1, 2, runs), dtype=np.float64) if keep_params else None

    def forward(p: Tensor, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        pred = p[0, :, None] * xb + p[1, :, None]  # (runs, points)
        return pred, elementwise(pred, yb.expand_as(pred)).mean(dim=-1)

    with torch.no_grad():
        for step in range(base.steps):
            if kept is not None:
                kept[step] = params.numpy()
            xb, yb = next(batches)
            pred, batch_loss = forward(params, xb, yb)
            losses[step] = (batch_loss if full_batch else forward(params, xs, ys)[1]).numpy()
            slope = loss_row.derivative(pred, yb, base.loss.values) / len(xb)
            grad = torch.stack((slope @ xb, slope.sum(dim=-1)))
            accumulated = grad if base.zero_grad else accumulated + grad
            if base.clip_grad_norm:
                accumulated = _clip(accumulated, max_norm)  # clip_grad_norm_ clips .grad in place
            params = update(params, accumulated)
            if progress is not None and step % 10 == 0:
                progress(step, base.steps)
        if kept is not None:
            kept[base.steps] = params.numpy()
        losses[base.steps] = forward(params, xs, ys)[1].numpy()
    finite = np.isfinite(losses)
    if kept is not None:
        finite &= np.isfinite(kept).all(axis=1)
    bad = ~finite
    diverged_at = np.where(bad.any(axis=0), bad.argmax(axis=0), -1)
    if progress is not None:
        progress(base.steps, base.steps)
    return BatchedRuns(
        loss=losses, diverged_at=diverged_at,
        weight=None if kept is None else kept[:, 0], bias=None if kept is None else kept[:, 1],
    )
