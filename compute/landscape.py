"""Loss landscapes of trained networks along chosen directions.

1D (Goodfellow et al. 2015): θ(α) = θ₀ + α·(θ₁ − θ₀) from the initial to the trained weights.
2D (Li et al. 2018): θ(a, b) = θ* + a·d₁ + b·d₂ around the trained weights θ*, d₁ and d₂
seeded Gaussian directions, filter-normalized: each filter of a direction is rescaled to the
norm of the same filter of θ*. PCA: d₁, d₂ the top principal directions of the training path
(the parameters after each epoch minus the final ones), as Li et al. draw trajectories.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

from compute.errors import InvalidSpec
from compute.nets import MODELS, Trained, TrainSpec, build_model, load_split, param_shapes, unflatten
from compute.params import Param, check_fields, defaults
from compute.specs import _Keyed

MODES = {"line": "initial → trained", "plane": "random filter-normalized plane", "pca": "PCA of the path"}
BIAS_MODES = {"ignore": "directions are 0 on biases", "keep": "directions equal the weights on biases"}
LANDSCAPE_PARAMS: tuple[Param, ...] = (
    Param("resolution", int, 31, 3, 101, help="points per axis"),
    Param("lo", float, -1.0, -100.0, 100.0, help="first coordinate along each direction", span=(-25.0, 25.0)),
    Param("hi", float, 1.0, -100.0, 100.0, help="last coordinate along each direction", span=(-25.0, 25.0)),
    Param("seed", int, 0, 0, 2**32 - 1, help="seed of the random directions", slider=False),
)
_DEFAULT = defaults(LANDSCAPE_PARAMS)


@dataclass(frozen=True, slots=True)
class LandscapeSpec(_Keyed):
    """Which trained model, which directions, over which range and resolution."""

    train: TrainSpec = field(default_factory=TrainSpec)
    mode: str = "plane"
    resolution: int = _DEFAULT["resolution"]
    lo: float = _DEFAULT["lo"]
    hi: float = _DEFAULT["hi"]
    seed: int = _DEFAULT["seed"]
    bias: str = "ignore"
    PARAMS: ClassVar[tuple[Param, ...]] = LANDSCAPE_PARAMS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidSpec(f"mode must be one of {', '.join(MODES)} (got {self.mode!r:.40})", "landscape.mode")
        if self.bias not in BIAS_MODES:
            raise InvalidSpec(f"bias must be one of {', '.join(BIAS_MODES)}", "landscape.bias")
        check_fields(self, LANDSCAPE_PARAMS, "landscape")
        if self.lo >= self.hi:
            raise InvalidSpec("lo must be below hi", "landscape.hi")


def filter_normalized(direction: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                      bias: str = "ignore") -> dict[str, torch.Tensor]:
    """Li et al.'s filter normalization, on new tensors.

    For a weight of two or more dimensions, each filter d[i] (slice along the first dimension)
    becomes d[i]·‖w[i]‖/‖d[i]‖. One-dimensional parameters (biases) get 0 ("ignore") or the
    weights themselves ("keep"), as the paper's code does.
    """
    out = {}
    for name, d in direction.items():
        w = weights[name]
        if d.dim() <= 1:
            out[name] = torch.zeros_like(w) if bias == "ignore" else w.clone()
            continue
        d_norms = d.reshape(len(d), -1).norm(dim=1)
        w_norms = w.reshape(len(w), -1).norm(dim=1)
        scale = (w_norms / (d_norms + 1e-10)).reshape(-1, *([1] * (d.dim() - 1)))
        out[name] = d * scale
    return out


def random_direction(shapes: list[tuple[str, torch.Size]], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A Gaussian direction with one entry per parameter, drawn in parameter order."""
    return {name: torch.randn(shape, generator=generator) for name, shape in shapes}


def _flat(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors.values()])


@dataclass(frozen=True, slots=True)
class Landscape:
    """Loss (and accuracy) over the chosen directions.

    Line: ``coords`` is α, ``train_loss``… have shape (R,). Plane and PCA: ``coords`` is each
    axis's values, the grids have shape (R, R) indexed [b, a]; ``path`` holds the training path's
    coordinates in the plane (PCA) and ``explained`` each PCA direction's share of the variance.
    """

    mode: str
    coords: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    path: np.ndarray | None = None
    explained: np.ndarray | None = None
    description: str = ""


DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """"auto" is the GPU when torch sees one, else the CPU; "cuda" without a GPU is an error."""
    if name not in DEVICES:
        raise InvalidSpec(f"device must be one of {', '.join(DEVICES)} (got {name!r:.40})", "device")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidSpec("device cuda asked for, but torch sees no CUDA GPU here (use auto or cpu)", "device")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def evaluate_points(train_spec: TrainSpec, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cross-entropy and accuracy of the model at each row of ``points`` (flat parameters).

    Each point's parameters are handed to ``torch.func.functional_call`` on a model built
    once (on the data's device); no model is modified.
    """
    model = build_model(train_spec.model, 0).to(x.device)
    shapes = param_shapes(model)
    losses, accs = np.empty(len(points)), np.empty(len(points))
    with torch.inference_mode():
        for i, vector in enumerate(points):
            logits = functional_call(model, unflatten(vector, shapes), (x,))
            losses[i] = torch.nn.functional.cross_entropy(logits, y).item()
            accs[i] = (logits.argmax(1) == y).float().mean().item()
            if progress is not None and i % 16 == 0:
                progress(i, len(points))
    if progress is not None:
        progress(len(points), len(points))
    return losses, accs


IMAGE_CHUNK = 512  # images per pass: a chunk's activations (1 MB each) stay in cache between ops


def _cnn_affine(skip: bool) -> Callable:
    """SmallCNN over points base + a·d₁ + b·d₂, in channels_last (max-pool there is 6× faster).

    conv1 is linear in its weights and its input is shared, so conv(x, W₀ + a·D₁ + b·D₂) is
    conv(x, W₀) + a·conv(x, D₁) + b·conv(x, D₂): three convolutions for the whole plane. Pooling
    before the ReLU gives the same values (ReLU is monotone) on a quarter of the elements. The
    images go through in chunks of IMAGE_CHUNK, so each chunk's activations stay in cache from
    one op to the next and glibc reuses its buffers instead of mapping fresh pages.
    """

    def evaluate(weights: list[dict[str, torch.Tensor]], a: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                 y: torch.Tensor, progress: Callable[[int, int], None] | None) -> tuple[np.ndarray, np.ndarray]:
        base, d1, d2 = weights
        cl = torch.channels_last
        xs = x.contiguous(memory_format=cl)
        first = [F.conv2d(xs, w["conv1.weight"], w["conv1.bias"], padding=1).contiguous(memory_format=cl)
                 for w in weights]
        chunks = [(slice(s, s + IMAGE_CHUNK), y[s:s + IMAGE_CHUNK]) for s in range(0, len(y), IMAGE_CHUNK)]
        losses, accs = np.empty(len(a)), np.empty(len(a))
        for i, (ai, bi) in enumerate(zip(a.tolist(), b.tolist())):
            w2, b2, fw, fb = (base[name] + ai * d1[name] + bi * d2[name]
                              for name in ("conv2.weight", "conv2.bias", "fc.weight", "fc.bias"))
            total = torch.zeros((), dtype=x.dtype, device=x.device)
            correct = torch.zeros((), dtype=torch.long, device=x.device)
            for part, target in chunks:
                h = torch.add(first[0][part], first[1][part], alpha=ai).add_(first[2][part], alpha=bi).relu_()
                z = F.conv2d(h, w2, b2, padding=1)
                if skip:
                    z = z.add_(h)
                logits = F.linear(F.max_pool2d(z, 2).relu_().flatten(1), fw, fb)
                total += F.cross_entropy(logits, target, reduction="sum")
                correct += (logits.argmax(1) == target).sum()
            losses[i] = total.item() / len(y)
            accs[i] = correct.item() / len(y)
            if progress is not None and i % 16 == 0:
                progress(i, len(a))
        return losses, accs

    return evaluate


# Model-specific evaluators of a plane; models without one fall back to evaluate_points.
AFFINE_EVALUATORS: dict[str, Callable] = {"cnn": _cnn_affine(False), "cnn-skip": _cnn_affine(True)}


def evaluate_affine(train_spec: TrainSpec, base: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor,
                    a: torch.Tensor, b: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                    progress: Callable[[int, int], None] | None = None,
                    device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy at base + a[i]·d₁ + b[i]·d₂ for every i (a line is the case d₂ = 0).

    On the CPU the points are shared out to one thread per core, each running torch
    single-threaded: these small convolutions gain little from torch's intra-op threads, and
    twice as much from running side by side (measured: 2.0 s → 1.0 s for 256 points on 2 cores).
    The intra-op thread count is restored afterwards. ``device`` is "cpu", "cuda" or "auto"
    (the GPU when there is one); on a GPU the points run in one stream, in order.
    """
    target = resolve_device(device)
    base, d1, d2, x, y = (t.to(target) for t in (base, d1, d2, x, y))
    evaluator = AFFINE_EVALUATORS.get(train_spec.model)
    if evaluator is None:
        points = base + a.to(target)[:, None] * d1 + b.to(target)[:, None] * d2
        return evaluate_points(train_spec, points, x, y, progress)
    shapes = param_shapes(build_model(train_spec.model, 0))
    weights = [unflatten(v, shapes) for v in (base, d1, d2)]
    if target.type != "cpu":
        with torch.inference_mode():
            return evaluator(weights, a, b, x, y, progress)
    workers = min(torch.get_num_threads(), max(1, len(a) // 8))
    chunks = np.array_split(np.arange(len(a)), workers)
    done = [0] * workers
    lock = threading.Lock()

    def run(k: int) -> tuple[np.ndarray, np.ndarray]:
        def report(i: int, _total: int) -> None:
            with lock:
                done[k] = i
                if progress is not None:
                    progress(sum(done), len(a))

        index = torch.from_numpy(chunks[k])
        with torch.inference_mode():
            return evaluator(weights, a[index], b[index], x, y, report)

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(run, range(workers)))
    finally:
        torch.set_num_threads(threads)
    if progress is not None:
        progress(len(a), len(a))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def directions(spec: LandscapeSpec, trained: Trained) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """The plane's two flat directions (and PCA's explained-variance ratios)."""
    model = build_model(spec.train.model, 0)
    shapes = param_shapes(model)
    final = torch.from_numpy(trained.final)
    if spec.mode == "pca":
        deltas = torch.from_numpy(trained.path) - final
        _, s, vh = torch.linalg.svd(deltas.double(), full_matrices=False)
        explained = (s**2 / (s**2).sum()).numpy()
        return vh[0].float(), vh[1].float(), explained[:2]
    weights = unflatten(final, shapes)
    generator = torch.Generator().manual_seed(spec.seed)
    d1 = filter_normalized(random_direction(shapes, generator), weights, spec.bias)
    d2 = filter_normalized(random_direction(shapes, generator), weights, spec.bias)
    return _flat(d1), _flat(d2), None


def line(spec: LandscapeSpec, start: np.ndarray, end: np.ndarray, description: str,
         progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> Landscape:
    """Loss and accuracy, train and test, along start + α(end − start), α over the spec's range."""
    split = load_split(spec.train.dataset)
    alphas = torch.linspace(spec.lo, spec.hi, spec.resolution)
    first, last = torch.from_numpy(start), torch.from_numpy(end)
    zeros, n = torch.zeros_like(alphas), len(alphas)

    def report(offset: int) -> Callable[[int, int], None]:
        return lambda i, _total: progress(offset + i, 2 * n) if progress is not None else None

    along = (spec.train, first, last - first, torch.zeros_like(first), alphas, zeros)
    train_loss, train_acc = evaluate_affine(*along, split.x_train, split.y_train, report(0), device)
    test_loss, test_acc = evaluate_affine(*along, split.x_test, split.y_test, report(n), device)
    return Landscape("line", alphas.numpy(), train_loss, train_acc, test_loss, test_acc, description=description)


def landscape(spec: LandscapeSpec, trained: Trained,
              progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> Landscape:
    """Evaluate the loss over the spec's line or plane around ``trained`` (see the module's note).

    ``device`` picks where the points are evaluated ("auto": the GPU when there is one); the
    directions are drawn on the CPU, so a seed gives the same plane on every device."""
    split = load_split(spec.train.dataset)
    r = spec.resolution
    if spec.mode == "line":
        return line(spec, trained.initial, trained.final,
                    "θ(α) = θ₀ + α(θ₁ − θ₀), θ₀ initial, θ₁ trained", progress, device)
    d1, d2, explained = directions(spec, trained)
    final = torch.from_numpy(trained.final)
    path = None
    lo, hi = spec.lo, spec.hi
    if spec.mode == "pca":
        path = ((torch.from_numpy(trained.path) - final) @ torch.stack((d1, d2)).T).numpy()
        reach = float(np.abs(path).max()) * 1.25 + 1e-6
        lo, hi = -reach, reach
    coords = torch.linspace(lo, hi, r)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    loss, acc = evaluate_affine(spec.train, final, d1, d2, a.reshape(-1), b.reshape(-1), split.x_train,
                                split.y_train, progress, device)
    what = ("PCA of the training path" if spec.mode == "pca"
            else f"seeded Gaussian directions (seed {spec.seed}), filter-normalized, biases {spec.bias}")
    return Landscape(spec.mode, coords.numpy(), loss.reshape(r, r), acc.reshape(r, r), None, None,
                     path=path, explained=explained, description=f"θ* + a·d₁ + b·d₂: {what}")


def between(spec: LandscapeSpec, first: Trained, second: Trained,
            progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> Landscape:
    """The 1D interpolation from one trained model (α = 0) to another (α = 1), Keskar et al.'s
    sharpness picture: a sharp minimum rises fast as α leaves it, a flat one slowly."""
    return line(spec, first.final, second.final, "θ(α) = θ_A + α(θ_B − θ_A), A and B trained", progress,
                device)


__all__ = [
    "BIAS_MODES",
    "DEVICES",
    "MODELS",
    "MODES",
    "Landscape",
    "LandscapeSpec",
    "between",
    "directions",
    "evaluate_affine",
    "evaluate_points",
    "filter_normalized",
    "landscape",
    "line",
    "random_direction",
    "resolve_device",
]
