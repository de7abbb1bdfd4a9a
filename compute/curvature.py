"""Curvature: the loss's Hessian, its eigenvalues, and the learning rates at which descent is stable.

Toy lab: the full-data loss of the single neuron as a function of (w, b) has a 2 × 2 Hessian,
taken here exactly by ``torch.func.hessian`` of the torch.nn loss in float64 (the data's float32
values, promoted). MSE's is constant, H = (2/n)·[[Σx², Σx], [Σx, n]]; Huber's and SmoothL1's
count only the points in the quadratic zone (|ŷ − y| < delta, resp. < beta: weight 1, resp.
1/beta); L1's is zero almost everywhere; BCEWithLogits' is (1/n)·Σ σ(z)(1 − σ(z))·[[x², x], [x, 1]].

Stability on a quadratic whose largest Hessian eigenvalue is λ (full batch; weight decay wd adds
to it). With h = lr·(λ + wd), torch.optim.SGD's iteration along that eigenvector is linear and
stable exactly while its 2 × 2 matrix's eigenvalues lie inside the unit circle (Jury's conditions):

- plain gradient descent: h < 2, i.e. lr < 2/λ;
- heavy-ball momentum μ with dampening τ (v ← μv + (1 − τ)g, p ← p − lr·v): trace 1 + μ − (1 − τ)h,
  determinant μ, so (1 − τ)h < 2(1 + μ): lr < 2(1 + μ)/((1 − τ)λ);
- Nesterov (v ← μv + g, p ← p − lr(g + μv)): on (p, lr·v) the matrix [[1 − h(1 + μ), −μ²], [h, μ]],
  trace 1 + μ − h(1 + μ), determinant μ(1 − h); 1 − T + D = h > 0 always, and 1 + T + D > 0 gives
  h < 2(1 + μ)/(1 + 2μ): lr < 2(1 + μ)/((1 + 2μ)λ) (at μ = 0.9: 1.36/λ, against heavy ball's 3.8/λ).

Adam's momentum is heavy ball with dampening τ = β1 on the preconditioned problem, whence
Cohen et al. (2022)'s threshold for the preconditioned sharpness: (2 + 2β1)/((1 − β1)·lr), 38/lr
at β1 = 0.9 (the formula above, solved for λ).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from compute.errors import InvalidSpec
from compute.losses import LOSSES, loss_data
from compute.specs import DataSpec, LossSpec, OptimizerSpec


@dataclass(frozen=True, slots=True)
class ToyCurvature:
    """The Hessian of the full-data loss at (weight, bias), in (w, b) order, with its eigenvalues
    (largest first) and unit eigenvectors (columns, (w, b) components, in the same order)."""

    weight: float
    bias: float
    hessian: np.ndarray  # (2, 2) float64
    eigenvalues: np.ndarray  # (2,) largest first
    eigenvectors: np.ndarray  # (2, 2): column i belongs to eigenvalues[i]

    @property
    def sharpness(self) -> float:
        """λmax, the largest eigenvalue."""
        return float(self.eigenvalues[0])


def toy_hessian(data: DataSpec, loss: LossSpec, weight: float, bias: float) -> ToyCurvature:
    """The exact Hessian of the torch.nn loss of ŷ = w·x + b over the whole toy data set at
    (weight, bias): torch.func.hessian in float64. At a kink of a piecewise loss (a residual exactly
    at delta), it is the second derivative autograd takes there."""
    if not (np.isfinite(weight) and np.isfinite(bias)):
        raise InvalidSpec("the Hessian needs a finite point (the run diverged before this step)", "step")
    x32, y32 = loss_data(data, loss.name)
    x, y = torch.tensor(x32, dtype=torch.float64), torch.tensor(y32, dtype=torch.float64)
    loss_fn = LOSSES[loss.name].module(loss.values)

    def full_loss(p: torch.Tensor) -> torch.Tensor:
        return loss_fn(p[0] * x + p[1], y)

    hessian = torch.func.hessian(full_loss)(torch.tensor([float(weight), float(bias)], dtype=torch.float64)).numpy()
    values, vectors = np.linalg.eigh(hessian)
    order = np.argsort(values)[::-1]
    vectors = vectors[:, order] * np.where(vectors[0, order] < 0, -1.0, 1.0)  # a sign convention: w ≥ 0
    return ToyCurvature(float(weight), float(bias), hessian, values[order], vectors)


def stable_lr(sharpness: float, optimizer: OptimizerSpec) -> float | None:
    """The largest learning rate at which full-batch ``optimizer`` is stable on a quadratic of
    largest Hessian eigenvalue ``sharpness`` (see the module's note); None where no such bound
    applies: an optimizer other than SGD, or no positive curvature (lr is then unbounded by it)."""
    if optimizer.name != "sgd":
        return None
    v = optimizer.values
    curvature = sharpness + float(v.get("weight_decay", 0.0))
    if not curvature > 0:
        return None
    mu, tau = float(v.get("momentum", 0.0)), float(v.get("dampening", 0.0))
    if v.get("nesterov") and mu > 0:
        return 2 * (1 + mu) / ((1 + 2 * mu) * curvature)
    if tau >= 1 and mu > 0:
        return None  # no gradient enters the velocity
    return 2 * (1 + mu) / ((1 - tau if mu > 0 else 1.0) * curvature)


def adam_threshold(lr: float, beta1: float) -> float:
    """Cohen et al. (2022): Adam is stable while the preconditioned sharpness stays below
    (2 + 2β1)/((1 − β1)·lr) (38/lr at β1 = 0.9)."""
    return (2 + 2 * beta1) / ((1 - beta1) * lr)


def spectral_radius(h: float, mu: float, nesterov: bool = False, dampening: float = 0.0) -> float:
    """The largest |eigenvalue| of SGD's iteration along an eigenvector with h = lr·λ: below 1 the
    run converges along it, above 1 it grows (the growth factor per step)."""
    if nesterov:
        matrix = np.array([[1 - h * (1 + mu), -mu * mu], [h, mu]])
    else:
        matrix = np.array([[1 - (1 - dampening) * h, -mu], [(1 - dampening) * h, mu]])
    return float(np.abs(np.linalg.eigvals(matrix)).max())


__all__ = ["ToyCurvature", "adam_threshold", "spectral_radius", "stable_lr", "toy_hessian"]
