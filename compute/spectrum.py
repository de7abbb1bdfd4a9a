"""Curvature of networks: Hessian-vector products, the top of the Hessian's spectrum, its trace,
and the sharpness during training against the optimizer's stability threshold.

The loss is the one the landscapes draw: the mean of ``loss`` (cross-entropy) over a data set,
the model in eval mode (BatchNorm uses its running statistics, held fixed), as a function of the
parameters θ; the buffers are not variables. H = ∇²L(θ), P × P, never formed: only products Hv.

- Hessian-vector products (``LossHessian.hvp``) by torch.func, exact to float rounding:
  "forward" is forward-over-reverse, jvp(grad L)(θ; v); "reverse" is double backward,
  vjp(grad L)(θ)(v). Both are tested against the dense Hessian of a model small enough to form it.
  Forward mode holds FORWARD_AD (one thread at a time in the process: see there).
- The top k eigenvalues (``top_eigen``): scipy's ``eigsh`` (ARPACK's implicitly restarted Lanczos)
  on the products as a LinearOperator, the largest algebraic ones, from a start vector drawn from
  ``seed`` (or given: the last step's eigenvector, as ``sharpening`` does).
- The trace (``hutchinson_trace``): tr H = E[zᵀHz] over Rademacher vectors z drawn from a seed, with
  the estimate's standard error.
- Sharpness during training (``sharpening``): the same training as ``compute.nets.train`` (same
  seeds, same steps), λmax measured every ``every`` optimizer steps on a seeded subset of the
  training set. SGD's threshold is the toy's (compute.curvature: 2/lr plain, 2(1 + μ)/((1 − τ)lr)
  heavy ball, 2(1 + μ)/((1 + 2μ)lr) Nesterov; weight decay adds to λ); for Adam and AdamW the
  measured quantity is Cohen et al. (2022)'s preconditioned sharpness λmax(P⁻¹H), with torch's
  update θ ← θ − lr·m/((1 − β1ᵗ)(√(v/(1 − β2ᵗ)) + ε)) read as θ ← θ − lr·P⁻¹m, against
  (2 + 2β1)/((1 − β1)lr). Each theory is its optimizer's registry row's (``OptimizerInfo.stability``,
  with the preconditioner P), asked here, never chosen by the optimizer's name.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, LinearOperator, eigsh
from torch.func import functional_call, grad, jvp, vjp

from compute.engine import Data, _batches, resolve_device
from compute.errors import InvalidSpec
from compute.nets import (
    Trained,
    TrainSpec,
    flat_params,
    load_split,
    param_shapes,
    state_shapes,
    train,
    unflatten,
)
from compute.optimizers import OPTIMIZERS, adam_scale
from compute.params import Param, param_fields
from compute.specs import _Keyed

HVP_METHODS = {"forward": "forward-over-reverse: jvp of the gradient",
               "reverse": "double backward: vjp of the gradient"}
# Images per pass of a Hessian-vector product: three passes' activations are kept at once.
HVP_CHUNK = {"cpu": 256, "cuda": 4096}
# What one product costs in image evaluations (a forward pass of one image), for the page's caps:
# bench curvature measures a product at about three gradients' time.
HVP_COST = 3
MAX_DENSE = 4000  # parameters up to which dense_hessian forms the P × P matrix
# torch's forward-mode AD levels (torch.func.jvp, jacfwd, hessian) are process-wide, not per thread:
# two threads inside forward mode at once break each other's levels (measured: 8 threads × 20
# products of a small MLP, 153 errors "Trying to create a dual Tensor for forward AD but no level
# exists", and a wrong product without one). Every forward-mode use in compute holds this lock;
# reverse mode (autograd, torch.func's grad, vjp and vmap) is per thread and runs side by side.
FORWARD_AD = threading.Lock()


class LossHessian:
    """The Hessian of the mean of ``loss`` over ``data`` ((x, y) tensors or an iterable of (x, y)
    batches; ``loss(outputs, targets, reduction="sum")`` as the landscapes' API takes it) at the
    model's parameters (or at ``params``, a flat vector in ``named_parameters`` order), in eval
    mode with the model's buffers; the model is not changed. ``l2`` adds l2·I (weight decay as an
    L2 term). ``progress(count)`` is called after each product (a job's cancel raises from it).
    Threads may share one: its products take turns (functional_call swaps ``self.model``'s
    tensors while it runs)."""

    def __init__(self, model: torch.nn.Module, data: Data, loss: Callable = F.cross_entropy, *,
                 params: torch.Tensor | None = None, method: str = "forward", l2: float = 0.0,
                 device: str = "cpu", chunk: int | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        if method not in HVP_METHODS:
            raise InvalidSpec(f"hvp method must be one of {', '.join(HVP_METHODS)} (got {method!r:.20})", "hvp")
        self.device = resolve_device(device)
        self.model = copy.deepcopy(model).to(self.device).eval()
        self.shapes = param_shapes(self.model)
        flat = params if params is not None else flat_params(self.model)
        self.theta = flat.detach().to(self.device, torch.float32).clone()
        self.size = len(self.theta)
        expected = sum(int(np.prod(s)) for _, s in self.shapes)
        if self.size != expected:
            raise InvalidSpec(f"params has {self.size} entries; the model has {expected} parameters", "params")
        self.buffers = {name: b.detach() for name, b in self.model.named_buffers()}
        self.chunks = _batches(data, self.device, chunk or HVP_CHUNK[self.device.type])
        self.loss, self.method, self.l2, self.progress = loss, method, float(l2), progress
        self.count = 0  # products taken
        self.lock = threading.Lock()  # one evaluation of self.model at a time

    def _params(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: t.contiguous() for name, t in unflatten(flat, self.shapes).items()}

    def _chunk_loss(self, xb: torch.Tensor, yb: torch.Tensor) -> Callable[[dict[str, torch.Tensor]], torch.Tensor]:
        def f(params: dict[str, torch.Tensor]) -> torch.Tensor:
            return self.loss(functional_call(self.model, (params, self.buffers), (xb,)), yb, reduction="sum")
        return f

    def _over_data(self, each: Callable[[Callable], torch.Tensor]) -> torch.Tensor:
        """Σ over the chunks of each(the chunk's summed loss), / N: the whole set's mean."""
        total, count = torch.zeros(self.size, device=self.device), 0
        for xb, yb in self.chunks():
            total += each(self._chunk_loss(xb, yb))
            count += len(yb)
        if count == 0:
            raise InvalidSpec("no data to take the Hessian over", "data")
        return total / count

    def _flat(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[name].reshape(-1) for name, _ in self.shapes])

    def loss_value(self) -> float:
        """L(θ), the mean loss over the data."""
        params = self._params(self.theta)
        total, count = 0.0, 0
        with self.lock, torch.no_grad():
            for xb, yb in self.chunks():
                total += float(self._chunk_loss(xb, yb)(params))
                count += len(yb)
        return total / max(1, count) + 0.5 * self.l2 * float(self.theta.square().sum())

    def gradient(self) -> torch.Tensor:
        """∇L(θ) (the cost a Hessian-vector product is compared with)."""
        params = self._params(self.theta)
        with self.lock:
            g = self._over_data(lambda f: self._flat(grad(f)(params)))
        return g + self.l2 * self.theta

    def hvp(self, v: torch.Tensor) -> torch.Tensor:
        """H·v for a flat vector v (float32, on any device)."""
        params = self._params(self.theta)
        flat = v.detach().to(self.device, torch.float32)
        tangent = self._params(flat)

        def product(f: Callable) -> torch.Tensor:
            if self.method == "forward":
                with FORWARD_AD:
                    _, out = jvp(grad(f), (params,), (tangent,))
            else:
                _, pullback = vjp(grad(f), params)
                (out,) = pullback(tangent)
            return self._flat(out)

        with self.lock:
            hv = self._over_data(product) + self.l2 * flat
            self.count += 1
            count = self.count
        if self.progress is not None:
            self.progress(count)
        return hv

    def as_operator(self, scale: torch.Tensor | None = None) -> LinearOperator:
        """H (or S·H·S with S = diag(scale), symmetric like H) as a float64 LinearOperator for scipy."""
        s = None if scale is None else scale.to(self.device, torch.float32)

        def matvec(x: np.ndarray) -> np.ndarray:
            v = torch.from_numpy(np.asarray(x, np.float64).reshape(-1)).float().to(self.device)
            hv = self.hvp(v) if s is None else s * self.hvp(s * v)
            return hv.double().cpu().numpy()

        return LinearOperator((self.size, self.size), matvec=matvec, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class Spectrum:
    """The top k eigenvalues of a Hessian (largest first) and their unit eigenvectors (k, P); the
    products it took, and whether ARPACK met its tolerance for all k (else the converged ones)."""

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    matvecs: int
    converged: bool = True

    @property
    def sharpness(self) -> float:
        return float(self.eigenvalues[0])


LANCZOS_TOL = 1e-4  # ARPACK's relative tolerance on the Ritz values (float32 products: ~1e-6)
MAX_MATVECS = 400


def _sign(vectors: np.ndarray) -> np.ndarray:
    """Each eigenvector's sign chosen so that its largest entry in magnitude is positive."""
    picks = vectors[np.arange(len(vectors)), np.abs(vectors).argmax(1)]
    return vectors * np.where(picks < 0, -1.0, 1.0)[:, None]


def top_eigen(hessian: LossHessian, k: int = 1, seed: int = 0, *, start: np.ndarray | None = None,
              max_matvecs: int = MAX_MATVECS, tol: float = LANCZOS_TOL, scale: torch.Tensor | None = None,
              ncv: int | None = None) -> Spectrum:
    """The k largest eigenvalues of the Hessian (of diag(scale)·H·diag(scale) when given) by
    scipy's eigsh, started from ``start`` or a Gaussian vector drawn from ``seed``; at most about
    ``max_matvecs`` products (ARPACK's restarts are capped; what converged is returned, and
    InvalidSpec when nothing did). ``ncv``: Lanczos vectors (ARPACK's; default max(2k + 1, 20));
    fewer suit a warm start."""
    n = hessian.size
    if not 1 <= k < n:
        raise InvalidSpec(f"k must be 1 to {n - 1} for a model of {n:,} parameters (got {k})", "k")
    v0 = start if start is not None else np.random.default_rng(seed).standard_normal(n)
    ncv = min(n, ncv or max(2 * k + 1, 20))
    restarts = max(1, (max_matvecs - ncv) // max(1, ncv - k))
    before = hessian.count
    converged = True
    try:
        values, vectors = eigsh(hessian.as_operator(scale), k=k, which="LA", v0=v0, ncv=ncv, maxiter=restarts, tol=tol)
    except ArpackNoConvergence as err:
        values, vectors, converged = err.eigenvalues, err.eigenvectors, False
        if len(values) == 0:
            raise InvalidSpec(f"Lanczos found no eigenvalue within {hessian.count - before} Hessian-vector products "
                              "(raise max_matvecs, or lower k)", "max_matvecs") from None
    except ArpackError as err:
        raise InvalidSpec(f"Lanczos failed: {str(err)[:120]}", "k") from None
    order = np.argsort(values)[::-1]
    vectors = _sign(np.asarray(vectors)[:, order].T)
    return Spectrum(np.asarray(values)[order].astype(np.float64), vectors.astype(np.float32),
                    hessian.count - before, converged)


@dataclass(frozen=True, slots=True)
class TraceEstimate:
    """Hutchinson's estimate of tr H: the mean of zᵀHz over the probes, its standard error, each value."""

    mean: float
    stderr: float
    values: np.ndarray


def hutchinson_trace(hessian: LossHessian, samples: int = 50, seed: int = 0) -> TraceEstimate:
    """tr H ≈ (1/m)·Σ zᵢᵀHzᵢ, zᵢ Rademacher (±1 entries) drawn from a generator seeded with ``seed``."""
    if samples < 1:
        raise InvalidSpec("the trace needs at least one probe vector", "trace_samples")
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(samples):
        z = torch.randint(0, 2, (hessian.size,), generator=generator).float() * 2 - 1
        values.append(float(z.to(hessian.device) @ hessian.hvp(z)))
    out = np.array(values)
    stderr = float(out.std(ddof=1) / math.sqrt(samples)) if samples > 1 else float("nan")
    return TraceEstimate(float(out.mean()), stderr, out)


def dense_hessian(model: torch.nn.Module, data: tuple[torch.Tensor, torch.Tensor],
                  loss: Callable = F.cross_entropy) -> torch.Tensor:
    """The whole P × P Hessian by torch.func.hessian of the loss as a function of the flat
    parameters (in eval mode, float64 model and data): the reference the products are tested
    against. Refused above MAX_DENSE parameters. Forward mode: holds FORWARD_AD."""
    model = copy.deepcopy(model).double().eval()
    shapes = param_shapes(model)
    size = sum(int(np.prod(s)) for _, s in shapes)
    if size > MAX_DENSE:
        raise InvalidSpec(f"a dense Hessian of {size:,} parameters is too large (at most {MAX_DENSE:,})", "model")
    buffers = {name: b.detach() for name, b in model.named_buffers()}
    x, y = data[0].double(), data[1]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(flat: torch.Tensor) -> torch.Tensor:
        return loss(functional_call(model, (unflatten(flat, shapes), buffers), (x,)), y, reduction="sum") / len(y)

    with FORWARD_AD:
        return torch.func.hessian(f)(theta)


# ---- a trained network's spectrum ------------------------------------------------------------

# The settings a spectrum and the sharpness during training share (the latter's defaults differ).
SAMPLES = Param("samples", int, 0, 0, 60000, slider=False,
                help="training images the Hessian averages over, a fixed seeded subset; 0: all")
TRACE_SAMPLES = Param("trace_samples", int, 0, 0, 1000, slider=False,
                      help="Hutchinson probe vectors for the trace (at each measurement); 0: no trace")
SEED = Param("seed", int, 0, 0, 2**32 - 1, slider=False,
             help="seed of the subset, Lanczos's (first) start vector and Hutchinson's probes")
SPECTRUM_PARAMS: tuple[Param, ...] = (
    Param("k", int, 5, 1, 50, help="eigenvalues, largest first", slider=False),
    SAMPLES,
    TRACE_SAMPLES,
    Param("max_matvecs", int, MAX_MATVECS, 10, 5000, log=True,
          help="Hessian-vector products Lanczos may take", slider=False),
    SEED,
)


@dataclass(frozen=True, slots=True)
@param_fields(SPECTRUM_PARAMS, "spectrum")
class SpectrumSpec(_Keyed):
    """The top k eigenvalues (and, with trace_samples, the trace) of a trained network's Hessian."""

    train: TrainSpec = field(default_factory=TrainSpec)
    hvp: str = "forward"

    def __post_init__(self) -> None:
        if self.hvp not in HVP_METHODS:
            raise InvalidSpec(f"hvp must be one of {', '.join(HVP_METHODS)} (got {self.hvp!r:.20})", "spectrum.hvp")


def subset(x: torch.Tensor, y: torch.Tensor, samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``samples`` images of a permutation seeded with ``seed`` (all when 0 or more than there are)."""
    if not 0 < samples < len(y):
        return x, y
    keep = torch.from_numpy(np.sort(np.random.default_rng([seed, 2]).permutation(len(y))[:samples]))
    return x[keep], y[keep]


def trained_hessian(train_spec: TrainSpec, state: np.ndarray, samples: int = 0, seed: int = 0,
                    device: str = "cpu", progress: Callable[[int], None] | None = None,
                    method: str = "forward") -> LossHessian:
    """The Hessian of a trained network (``state``: parameters then buffers, as Trained's
    final_state) over its training set (or ``samples`` of it), eval mode, as the landscapes draw it."""
    model = train_spec.build(0)
    state_tensor = torch.from_numpy(np.ascontiguousarray(state, dtype=np.float32))
    model.load_state_dict(unflatten(state_tensor, state_shapes(model)), strict=False)  # no batch counters
    split = load_split(train_spec.dataset)
    data = subset(split.x_train, split.y_train, samples, seed)
    return LossHessian(model, data, method=method, device=device, progress=progress)


def spectrum(spec: SpectrumSpec, trained: Trained, device: str = "cpu",
             progress: Callable[[int, int], None] | None = None) -> tuple[Spectrum, TraceEstimate | None]:
    """The top spec.k eigenvalues of the trained network's Hessian and, with trace_samples, its
    trace; ``progress(products, cap)``."""
    total = spec.max_matvecs + spec.trace_samples

    def report(count: int) -> None:
        if progress is not None:
            progress(min(count, total), total)

    hessian = trained_hessian(spec.train, trained.final_state, spec.samples, spec.seed, device, report, spec.hvp)
    found = top_eigen(hessian, spec.k, spec.seed, max_matvecs=spec.max_matvecs)
    trace = hutchinson_trace(hessian, spec.trace_samples, spec.seed) if spec.trace_samples else None
    if progress is not None:
        progress(total, total)
    return found, trace


# ---- sharpness during training ----------------------------------------------------------------

SHARPENING_PARAMS: tuple[Param, ...] = (
    Param("every", int, 10, 1, 10000, log=True, help="optimizer steps between two measurements of λmax"),
    dataclasses.replace(SAMPLES, default=1000),  # as Cohen et al.: a fixed subset, measured again and again
    dataclasses.replace(TRACE_SAMPLES, hi=100),
    SEED,
)
MAX_MEASUREMENTS = 2000
# Lanczos during training starts from the last measurement's eigenvector: a few vectors suffice.
WATCH_NCV, WATCH_MATVECS = 8, 60


@dataclass(frozen=True, slots=True)
@param_fields(SHARPENING_PARAMS, "sharpening")
class SharpeningSpec(_Keyed):
    """λmax (and the trace) every ``every`` steps of a training, on ``samples`` training images."""

    train: TrainSpec = field(default_factory=TrainSpec)

    def __post_init__(self) -> None:
        if self.measurements > MAX_MEASUREMENTS:
            raise InvalidSpec(f"{self.measurements:,} measurements of λmax; at most {MAX_MEASUREMENTS:,}: raise every",
                              "sharpening.every")

    @property
    def steps(self) -> int:
        """Optimizer steps in the training."""
        n = train_images(self.train)
        return self.train.epochs * math.ceil(n / self.train.batch_size)

    @property
    def measurements(self) -> int:
        return self.steps // self.every + 1

    @property
    def products(self) -> int:
        """Hessian-vector products one measurement takes at most: Lanczos on H, again on P⁻¹H
        where the optimizer's theory is a preconditioned one (Adam's), and the trace's probes."""
        theory = OPTIMIZERS[self.train.optimizer.name].stability
        return WATCH_MATVECS * (2 if theory is not None and theory.preconditioned else 1) + self.trace_samples


def train_images(train_spec: TrainSpec) -> int:
    return len(load_split(train_spec.dataset).y_train)


def threshold(optimizer: Any) -> tuple[float | None, str, bool]:
    """The stability threshold a training's optimizer sets on the measured sharpness (its registry
    row's ``stability``: K/lr), how it is named, and whether the sharpness is a preconditioned one
    (Adam's λmax(P⁻¹H)). None where no theory applies."""
    theory = OPTIMIZERS[optimizer.name].stability
    values = optimizer.values
    limit = None if theory is None else theory.threshold(values)
    if theory is None or limit is None:
        return None, "", False
    return limit, theory.label(values, theory.bound(values)), theory.preconditioned


@dataclass(frozen=True, slots=True)
class Sharpening:
    """λmax at ``steps`` (for Adam the preconditioned one, λmax(P⁻¹H)), the Hessian's own λmax
    there, the trace (NaN without probes) and the loss on the measured subset; the threshold."""

    steps: np.ndarray
    sharpness: np.ndarray
    hessian_max: np.ndarray
    trace: np.ndarray
    loss: np.ndarray
    threshold: float
    threshold_name: str
    preconditioned: bool
    # the threshold at each measurement, at the lr of the step that follows it (a schedule moves it: K/lr);
    # None: the same as ``threshold`` throughout
    thresholds: np.ndarray | None = None
    FIELDS: ClassVar[tuple[str, ...]] = ("steps", "sharpness", "hessian_max", "trace", "loss")

    @property
    def limits(self) -> np.ndarray:
        """The threshold at each measurement."""
        return self.thresholds if self.thresholds is not None else np.full(len(self.steps), self.threshold)

    @property
    def scheduled(self) -> bool:
        """Whether a schedule moved the threshold during the training."""
        finite = self.limits[np.isfinite(self.limits)]
        return bool(len(finite)) and bool(finite.max() > finite.min())

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (for an .npz, never a pickle); ``from_arrays`` reads them back."""
        return {**{name: np.asarray(getattr(self, name)) for name in self.FIELDS},
                "threshold": np.array(self.threshold), "threshold_name": np.array(self.threshold_name),
                "preconditioned": np.array(self.preconditioned), "thresholds": np.asarray(self.limits)}

    @classmethod
    def from_arrays(cls, saved: Any) -> Sharpening:
        """Back from ``to_arrays`` (KeyError when one is missing, ValueError when they disagree)."""
        columns = [np.asarray(saved[name]) for name in cls.FIELDS]
        if len({len(c) for c in columns}) != 1 or any(c.ndim != 1 for c in columns):
            raise ValueError("the sharpness's columns disagree")
        limits = np.asarray(saved["thresholds"], np.float64) if "thresholds" in saved else None  # (files before it)
        if limits is not None and limits.shape != columns[0].shape:
            raise ValueError("the sharpness's thresholds disagree with its steps")
        return cls(columns[0].astype(np.int64), *(c.astype(np.float64) for c in columns[1:]),
                   float(saved["threshold"]), str(saved["threshold_name"]), bool(saved["preconditioned"]), limits)


def _group_values(values: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
    """The optimizer's values as its first param group holds them now: the lr a schedule set, and the
    momentum (or betas[0]) a cycle set."""
    now = {**values, "lr": float(group["lr"])}
    if "momentum" in values and "momentum" in group:
        now["momentum"] = float(group["momentum"])
    if "beta1" in values and "betas" in group:
        now["beta1"] = float(group["betas"][0])
    return now


def sharpening(spec: SharpeningSpec, progress: Callable[[int, int], None] | None = None,
               device: str = "cpu") -> tuple[Sharpening, Trained]:
    """Train as ``compute.nets.train`` does and measure λmax every ``spec.every`` optimizer steps
    (and at step 0) on a fixed seeded subset of the training set, Lanczos started from the last
    measurement's eigenvector. Weight decay (SGD's, Adam's L2) adds to the Hessian; AdamW's
    decoupled decay does not. Where a schedule moves the lr, each measurement's threshold is at the lr
    of the step after it. ``progress(measurements done, measurements)``."""
    split = load_split(spec.train.dataset)
    data = subset(split.x_train, split.y_train, spec.samples, spec.seed)
    optimizer_spec = spec.train.optimizer
    limit, name, preconditioned = threshold(optimizer_spec)
    theory = OPTIMIZERS[optimizer_spec.name].stability
    l2 = float(OPTIMIZERS[optimizer_spec.name].l2(optimizer_spec.values))
    rows: list[tuple[int, float, float, float, float, float]] = []
    last: list[np.ndarray | None] = [None, None]
    total = spec.measurements

    def watch(step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> None:
        if step % spec.every:
            return
        hessian = LossHessian(model, data, l2=l2, device=device)
        found = top_eigen(hessian, 1, spec.seed, start=last[0], max_matvecs=WATCH_MATVECS, ncv=WATCH_NCV)
        last[0] = found.eigenvectors[0].astype(np.float64)
        measured = found.sharpness
        scale = theory.preconditioner(optimizer) if preconditioned else None
        if scale is not None:
            pre = top_eigen(hessian, 1, spec.seed, start=last[1], scale=scale, max_matvecs=WATCH_MATVECS,
                            ncv=WATCH_NCV)
            last[1], measured = pre.eigenvectors[0].astype(np.float64), pre.sharpness
        trace = hutchinson_trace(hessian, spec.trace_samples, spec.seed + step).mean if spec.trace_samples else math.nan
        # the threshold at the lr of the next step (a schedule has set it by now): K/lr as at the base lr
        values = _group_values(optimizer_spec.values, optimizer.param_groups[0])
        # (lr 0, a cosine's end: no step, so no sharpness is unstable)
        now = None if limit is None else theory.threshold(values) if values["lr"] > 0 else math.inf
        rows.append((step, measured, found.sharpness, trace, hessian.loss_value(), math.nan if now is None else now))
        if progress is not None:
            progress(len(rows), total)

    trained = train(spec.train, watch=watch)
    table = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return Sharpening(table[:, 0].astype(np.int64), table[:, 1], table[:, 2], table[:, 3], table[:, 4],
                      math.nan if limit is None else limit, name, preconditioned, table[:, 5]), trained


__all__ = ["HVP_METHODS", "LossHessian", "Sharpening", "SharpeningSpec", "Spectrum", "SpectrumSpec",
           "TraceEstimate", "adam_scale", "dense_hessian", "hutchinson_trace", "sharpening", "spectrum",
           "subset", "threshold", "top_eigen", "trained_hessian"]
