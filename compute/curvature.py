"""Curvature: the loss's Hessian, its eigenvalues, and the learning rates at which descent is stable.

Toy lab: the full-data loss of the single neuron as a function of (w, b) has a 2 × 2 Hessian,
taken here exactly by double backward of the torch.nn loss in float64 (the data's float32 values,
promoted), all points at once (``toy_hessians``: plain autograd, safe in many threads, where
forward mode is not). MSE's is constant, H = (2/n)·[[Σx², Σx], [Σx, n]]; Huber's and SmoothL1's
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

These bounds live on the optimizer registry's rows (``OptimizerInfo.stability``: compute/optimizers.py's
``sgd_factor`` and ``adam_factor``); this module asks the row, never the optimizer's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from compute.errors import InvalidSpec
from compute.losses import LOSSES, loss_data
from compute.optimizers import OPTIMIZERS, Stability
from compute.specs import DataSpec, LossSpec, OptimizerSpec, RunSpec, SurfaceSpec
from compute.surfaces import SURFACES, nearest_minimum
from compute.sweep import SweepSpec
from compute.toy import Trajectory


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

    @property
    def condition(self) -> float:
        """κ = λmax/λmin, the condition number (inf where λmin ≤ 0: no minimum in some direction)."""
        return condition_number(self.eigenvalues)


@dataclass(frozen=True, slots=True)
class CurvaturePath:
    """The Hessian's eigenvalues (n, 2), largest first, and unit eigenvectors (n, 2, 2: columns,
    (w, b) components) at each of n points, e.g. a run's finite rows."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    hessians: np.ndarray  # (n, 2, 2)


def condition_number(eigenvalues: np.ndarray) -> float:
    """κ = λmax/λmin of eigenvalues sorted largest first; inf where λmin ≤ 0 (flat or a saddle)."""
    top, low = float(eigenvalues[0]), float(eigenvalues[-1])
    return top / low if low > 0 else float("inf")


def _point_losses(data: DataSpec, loss: LossSpec, surface: SurfaceSpec | None, p: torch.Tensor) -> torch.Tensor:
    """The loss at each point p[i] = (w, b) in float64: the neuron's on the data, or the surface's
    f(x, y) at (x, y) = (b, w)."""
    if surface is not None and surface.on:
        return SURFACES[surface.name].function(surface.values)(p[:, 1], p[:, 0])
    x32, y32 = loss_data(data, loss.name)
    x, y = torch.tensor(x32, dtype=torch.float64), torch.tensor(y32, dtype=torch.float64)
    elementwise = LOSSES[loss.name].module(loss.values, reduction="none")
    pred = p[:, :1] * x + p[:, 1:]  # (n points, data)
    return elementwise(pred, y.expand_as(pred)).mean(1)


def toy_hessians(data: DataSpec, loss: LossSpec, weights: np.ndarray, biases: np.ndarray,
                 surface: SurfaceSpec | None = None) -> CurvaturePath:
    """The exact Hessian of the torch.nn loss of ŷ = w·x + b over the whole toy data set at each
    point pᵢ = (weights[i], biases[i]), in float64 (the data's float32 values promoted).

    Double backward by plain autograd, all points in one graph: Lᵢ = mean_k ℓ(pᵢ₀·x_k + pᵢ₁, y_k)
    (the registry loss with ``reduction="none"``, then the mean over the data), so that
    ∇_p Σᵢ Lᵢ has row i = ∇Lᵢ(pᵢ) (the points share no term); ``create_graph`` keeps that
    gradient G (n, 2) differentiable, and one more backward of Σᵢ G[i, j] gives row j of every
    point's Hessian, Hᵢ[j, k] = ∂²Lᵢ/∂pⱼ∂pₖ. Two backward passes in all, no loop over points.
    Reverse over reverse, not forward over reverse (``torch.func.hessian``): torch's forward-mode
    AD levels are process-global, so request threads taking Hessians at once break each other's
    (errors, and wrong values without an error); plain autograd is per thread.

    At a kink of a piecewise loss (a residual exactly at delta, or beta) it is the second
    derivative double backward takes there: the linear side's 0, as the strict < of the module's
    note. Eigenvectors point to w ≥ 0 (a sign convention). On a surface (``surface``), Lᵢ is
    f(bᵢ, wᵢ): the Hessian of the formula in (y, x) = (w, b) order, by the same two backward passes.
    """
    points = np.stack([np.asarray(weights, np.float64), np.asarray(biases, np.float64)], axis=1)
    if not np.isfinite(points).all():
        raise InvalidSpec("the Hessian needs finite points (the run diverged before this step)", "step")
    p = torch.from_numpy(points).requires_grad_()
    with torch.enable_grad():
        (gradients,) = torch.autograd.grad(_point_losses(data, loss, surface, p).sum(), p, create_graph=True)
        # (a gradient that does not depend on the point, a linear formula's: the Hessian is 0)
        rows = [torch.autograd.grad(gradients[:, j].sum(), p, retain_graph=j == 0, allow_unused=True,
                                    materialize_grads=True)[0] if gradients.requires_grad else torch.zeros_like(p)
                for j in range(2)]
    hessians = torch.stack(rows, 1).detach().numpy()
    values, vectors = np.linalg.eigh(hessians)  # ascending
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    vectors = vectors * np.where(vectors[:, :1, :] < 0, -1.0, 1.0)
    return CurvaturePath(np.ascontiguousarray(values), np.ascontiguousarray(vectors), hessians)


def toy_hessian(data: DataSpec, loss: LossSpec, weight: float, bias: float,
                surface: SurfaceSpec | None = None) -> ToyCurvature:
    """The exact Hessian at one point (``toy_hessians``)."""
    found = toy_hessians(data, loss, np.array([weight]), np.array([bias]), surface)
    return ToyCurvature(float(weight), float(bias), found.hessians[0], found.eigenvalues[0], found.eigenvectors[0])


def run_curvature(spec: RunSpec, traj: Trajectory) -> tuple[CurvaturePath, np.ndarray | None]:
    """The Hessian along a run's finite rows and, where the optimizer's row bounds lr by the
    Hessian's own λmax (SGD), the stable learning rate at each (``stable_lr`` of that row's λmax;
    inf where curvature sets no bound); None for the others."""
    n = traj.finite_steps
    path = toy_hessians(spec.data, spec.loss, traj.weight[:n], traj.bias[:n], spec.surface)
    factor = lr_factor(spec.optimizer)
    if factor is None:
        return path, None
    curvature = path.eigenvalues[:, 0] + float(OPTIMIZERS[spec.optimizer.name].l2(spec.optimizer.values))
    with np.errstate(divide="ignore"):
        return path, np.where(curvature > 0, factor / np.where(curvature > 0, curvature, 1.0), np.inf)


def _lr_theory(name: str) -> Stability | None:
    """The optimizer row's stability theory where it bounds lr by the Hessian's own λmax (not a
    preconditioned one's); None otherwise."""
    theory = OPTIMIZERS[name].stability
    return theory if theory is not None and not theory.preconditioned else None


def lr_factor(optimizer: OptimizerSpec) -> float | None:
    """K of the bound lr < K/(λ + wd) the optimizer's row states (SGD: 2 plain, 2(1 + μ)/(1 − τ)
    heavy ball, 2(1 + μ)/(1 + 2μ) Nesterov); None for optimizers without such a bound, or when
    none applies (SGD's τ = 1: no gradient enters the velocity)."""
    theory = _lr_theory(optimizer.name)
    return None if theory is None else theory.bound(optimizer.values)


def sweep_sharpness(spec: SweepSpec) -> float:
    """λmax where the sweep's stability line is drawn from: at its start point for MSE and the
    quadratic surfaces (the same everywhere), else at the surface's known minimum nearest the start
    (whether that minimum holds a run: linear stability there, lr < 2/λmax for plain SGD)."""
    run = spec.run
    weight, bias = run.init_weight, run.init_bias
    if run.surface.on and not SURFACES[run.surface.name].constant_hessian:
        bias, weight = nearest_minimum(run.surface.name, run.surface.values, bias, weight)  # type: ignore[misc]
    return toy_hessian(run.data, run.loss, weight, bias, run.surface).sharpness


def sweep_stability(spec: SweepSpec) -> np.ndarray | None:
    """lr × (λmax + weight_decay) / K at each cell of a sweep (rows: y values, columns: x values),
    the run's stability ratio: full-batch SGD on MSE (a quadratic: λmax is the same everywhere)
    converges where it is below 1 and diverges above. None where the theory does not apply: an
    optimizer whose row states no lr bound, not MSE, mini-batches, or a schedule. On a surface:
    where its Hessian is constant (the quadratic, the saddle), or at its known minimum nearest the
    start (``sweep_sharpness``: below 1 that minimum can hold a run, above it cannot); None for a
    typed formula, whose minima are not known."""
    run = spec.run
    theory = _lr_theory(run.optimizer.name)
    if theory is None or run.batch < run.data.n or run.schedule.name != "none":
        return None  # (a schedule moves the lr: the bound is on one lr)
    if run.surface.on:
        row = SURFACES[run.surface.name]
        if not (row.constant_hessian or row.minima(run.surface.values)):
            return None  # no minimum known (a typed formula): nothing to be stable at
    elif run.loss.name != "mse":
        return None
    sharpness = sweep_sharpness(spec)
    xs, ys = np.meshgrid(spec.x.values(), spec.y.values())
    grid = {name: value if isinstance(value, bool) else np.full(xs.shape, float(value))
            for name, value in run.optimizer.values.items()}
    grid[spec.x.name], grid[spec.y.name] = xs, ys
    l2 = OPTIMIZERS[run.optimizer.name].l2(grid)
    return grid["lr"] * (sharpness + l2) / theory.factor(grid)


def stable_lr(sharpness: float, optimizer: OptimizerSpec) -> float | None:
    """The largest learning rate at which full-batch ``optimizer`` is stable on a quadratic of
    largest Hessian eigenvalue ``sharpness`` (see the module's note); None where no such bound
    applies: an optimizer whose row states no such bound (only SGD's does), or no positive curvature
    (lr is then unbounded by it)."""
    factor = lr_factor(optimizer)
    curvature = sharpness + float(OPTIMIZERS[optimizer.name].l2(optimizer.values))
    if factor is None or not curvature > 0:
        return None
    return factor / curvature


def spectral_radius(h: float, mu: float, nesterov: bool = False, dampening: float = 0.0) -> float:
    """The largest |eigenvalue| of SGD's iteration along an eigenvector with h = lr·λ: below 1 the
    run converges along it, above 1 it grows (the growth factor per step)."""
    if nesterov:
        matrix = np.array([[1 - h * (1 + mu), -mu * mu], [h, mu]])
    else:
        matrix = np.array([[1 - (1 - dampening) * h, -mu], [(1 - dampening) * h, mu]])
    return float(np.abs(np.linalg.eigvals(matrix)).max())


__all__ = ["CurvaturePath", "ToyCurvature", "lr_factor", "run_curvature", "spectral_radius", "stable_lr",
           "sweep_sharpness", "sweep_stability", "toy_hessian", "toy_hessians"]
