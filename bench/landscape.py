"""bench landscape: the default CNN's 31 × 31 filter-normalized plane over the full digits set.

(a) a naive loop: copy each point's weights into one model and run all 1,797 images through it;
(b) the ``loss-landscapes`` package's ``random_plane`` with filter normalization (installed only
in the benchmark's own environment: ``make bench-landscape`` makes .venv-bench); (c) ours,
``compute.landscape.evaluate_affine``. Achieved GFLOP/s come from torch's FlopCounterMode on one
forward pass, against this machine's float32 matmul rate measured in the same run.

Smoke mode (``--smoke``, in .venv): a 3 × 3 plane over 48 digits of the default CNN (the smallest
model) trained for one epoch on 32 of them, 2 points of the article's CNN on 16 images, one case of
points per pass; loss-landscapes, when not installed, is skipped and the output says so. Ours is
checked against the naive loop's losses in every run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.smoke import sane
from compute.engine import evaluate_affine
from compute.landscape import LandscapeSpec, directions
from compute.nets import DatasetSpec, TrainSpec, build_model, load_split, param_shapes, train, unflatten

PASS_CASES = (  # model, data set, images, points, points per pass tried
    ("mlp", "digits", 1797, 64, (1, 4, 16, 32, 64)),
    ("cnn-skip", "digits", 1797, 16, (1, 4, 16)),
    ("resnet8", "cifar10", 1000, 4, (1, 2, 4)),
    ("cnn-article", "mnist", 1000, 4, (1, 2, 4)),
)
SKIPPED = "skipped: loss-landscapes is not installed here (make bench-landscape runs it in .venv-bench)"


def _rows(naive: float, reference: float | None, ours: float, columns, what: str) -> None:
    """A table's three rows (the naive loop, loss-landscapes where installed, ours): each method's
    seconds through ``columns``, checked sane (``what`` names the number)."""
    for name, seconds in (("naive loop", naive), ("loss-landscapes", reference), ("ours", ours)):
        if seconds is None:
            print(f"{name:<22}{SKIPPED}")
            continue
        print(f"{name:<22}{columns(seconds)}")
        sane(what.format(name), seconds)


@dataclass(frozen=True)
class Sizes:
    """What one run measures."""

    train: TrainSpec  # the model whose plane is timed, trained as the page trains it
    resolution: int  # points per axis of the plane (the article's CNN: of the plane extrapolated to)
    article_images: int
    article_sample: int  # points of the article's plane timed per method
    matmul: int  # n of the n × n matmul that gives the machine's rate
    pass_cases: tuple = PASS_CASES


SIZES = {
    False: Sizes(train=TrainSpec(), resolution=31, article_images=10_000, article_sample=6, matmul=2048),
    True: Sizes(train=TrainSpec(dataset=DatasetSpec(train_size=32, test_size=16), epochs=1), resolution=3,
                article_images=16, article_sample=2, matmul=256, pass_cases=(("mlp", "digits", 16, 4, (1, 4)),)),
}


def _matmul_rate(n: int) -> float:
    a = torch.randn(n, n)
    torch.mm(a, a)
    start = time.perf_counter()
    for _ in range(10):
        torch.mm(a, a)
    return sane("matmul GFLOP/s", 10 * 2 * n**3 / (time.perf_counter() - start) / 1e9, low=1e-3)


def _naive(spec: TrainSpec, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[float, np.ndarray]:
    """Copy each point's weights into one model and run the images through it in one batch (seconds,
    and the losses)."""
    model = spec.build(0).eval()
    shapes = param_shapes(model)
    losses = []
    start = time.perf_counter()
    with torch.no_grad():
        for vector in points:
            for (_, p), value in zip(model.named_parameters(), unflatten(vector, shapes).values()):
                p.copy_(value)
            losses.append(torch.nn.functional.cross_entropy(model(x), y).item())
    return time.perf_counter() - start, np.array(losses)


def _same_losses(what: str, naive: np.ndarray, ours: np.ndarray) -> None:
    """Ours evaluates the very points the naive loop does: the losses agree to float32 rounding."""
    sane(f"{what}: losses", float(np.abs(ours).max()))
    sane(f"{what}: max |ours - naive| / max |naive|",
         float(np.abs(ours - naive).max() / max(1e-12, np.abs(naive).max())), high=1e-3)


def _loss_landscapes(spec: TrainSpec, final: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                     resolution: int) -> float | None:
    try:
        import loss_landscapes
        from loss_landscapes.metrics import Loss
    except ImportError:
        return None
    model = build_model(spec.model, 0)
    with torch.no_grad():
        for (_, p), value in zip(model.named_parameters(), unflatten(final, param_shapes(model)).values()):
            p.copy_(value)
    start = time.perf_counter()
    loss_landscapes.random_plane(model, Loss(torch.nn.CrossEntropyLoss(), x, y), distance=2, steps=resolution,
                                 normalization="filter", deepcopy_model=True)
    return time.perf_counter() - start


def main(repeat: int | None = None, smoke: bool = False) -> None:
    sizes = SIZES[smoke]
    spec, resolution = sizes.train, sizes.resolution
    trained = train(spec)
    split = load_split(spec.dataset)
    x, y = torch.cat([split.x_train, split.x_test]), torch.cat([split.y_train, split.y_test])
    d1, d2, _ = directions(LandscapeSpec(train=spec), trained)
    final = torch.from_numpy(trained.final)
    coords = torch.linspace(-1, 1, resolution)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    points = final + a.reshape(-1, 1) * d1 + b.reshape(-1, 1) * d2
    with FlopCounterMode(display=False) as counter:
        build_model(spec.model, 0)(x)
    flops = counter.get_total_flops() * len(points)
    rate = _matmul_rate(sizes.matmul)
    naive, naive_losses = _naive(spec, points, x, y)
    reference = _loss_landscapes(spec, final, x, y, resolution)
    start = time.perf_counter()
    losses, _ = evaluate_affine(spec, final, d1, d2, a.reshape(-1), b.reshape(-1), x, y)
    ours = time.perf_counter() - start
    print(f"bench landscape: {spec.model}, {resolution} x {resolution} plane, {len(y)} images, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"float32 matmul rate ({sizes.matmul} x {sizes.matmul}): {rate:.1f} GFLOP/s; "
          f"the plane: {flops / 1e9:.1f} GFLOP")
    print(f"{'method':<22}{'seconds':>9}{'÷ ours':>10}{'GFLOP/s':>9}{'of matmul':>11}")
    _rows(naive, reference, ours, lambda s: f"{s:>9.2f}{s / ours:>9.2f}x{flops / s / 1e9:>9.1f}"
                                            f"{100 * flops / s / 1e9 / rate:>10.0f}%", "{} s")
    _same_losses(f"{spec.model} plane", naive_losses, np.asarray(losses).reshape(-1))
    print("goal: ours at least 3x faster than both references and at least 40% of the matmul rate")
    article(sizes)
    points_per_pass(sizes.pass_cases)


def _article_data(images: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``images`` MNIST images from DATA_DIR/mnist when the files are there, else synthetic ones of
    the same shape (1 × 28 × 28, uniform in [0, 1], labels 0–9, seeded): the cost is the same."""
    from compute.datasets import DataFileError

    try:
        split = load_split(DatasetSpec("mnist", train_size=images))
        return split.x_train, split.y_train, "MNIST's own files (DATA_DIR/mnist)"
    except DataFileError:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(images, 1, 28, 28, generator=generator)
        return x, torch.randint(0, 10, (images,), generator=generator), "synthetic MNIST-shaped images"


def article(sizes: Sizes = SIZES[False]) -> None:
    """The article's CNN (1.2M parameters) on 10,000 MNIST-shaped images: 6 points of a 31 × 31
    filter-normalized plane per method, extrapolated to the plane's 961 points (``sizes``' numbers).
    The cost of a point does not depend on the weights, so θ* is the seeded initial model."""
    from compute.datasets import SOURCES
    from compute.landscape import random_plane
    from compute.nets import buffer_shapes, flat_state

    resolution, sample = sizes.resolution, sizes.article_sample
    x, y, source = _article_data(sizes.article_images)
    spec = TrainSpec(model="cnn-article", dataset=DatasetSpec("mnist"))
    model = spec.build(0)
    base = flat_state(model)
    d1, d2 = random_plane(base, param_shapes(model), buffer_shapes(model), 0)
    coords = torch.linspace(-1, 1, resolution)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    pick = torch.linspace(0, resolution**2 - 1, sample).round().long()
    a, b = a.reshape(-1)[pick], b.reshape(-1)[pick]
    points = base + a[:, None] * d1 + b[:, None] * d2
    with FlopCounterMode(display=False) as counter:
        model(x[:100])
    flops_point = counter.get_total_flops() * len(y) / len(x[:100])
    rate = _matmul_rate(sizes.matmul)
    naive, naive_losses = _naive(spec, points, x, y)
    naive /= len(points)
    reference = _loss_landscapes_article(spec, base, x, y)
    start = time.perf_counter()
    losses, _ = evaluate_affine(spec, base, d1, d2, a, b, x, y)
    ours = (time.perf_counter() - start) / sample
    plane = resolution**2
    print(f"\nbench landscape, the article's CNN ({sum(p.numel() for p in model.parameters()):,} parameters) on "
          f"{len(y):,} {source}; {SOURCES['mnist'].shape} inputs")
    print(f"{sample} points of the {resolution} x {resolution} plane timed per method, extrapolated to "
          f"{plane}; {flops_point / 1e9:.1f} GFLOP a point, matmul {rate:.1f} GFLOP/s")
    print(f"{'method':<22}{'s/point':>9}{'plane (min)':>13}{'÷ ours':>9}{'GFLOP/s':>9}{'of matmul':>11}")
    _rows(naive, reference, ours, lambda s: f"{s:>9.2f}{s * plane / 60:>13.1f}{s / ours:>8.2f}x"
                                            f"{flops_point / s / 1e9:>9.1f}{100 * flops_point / s / 1e9 / rate:>10.0f}%",
          "article's CNN, {} s/point")
    _same_losses("article's CNN", naive_losses, np.asarray(losses).reshape(-1))


def _loss_landscapes_article(spec: TrainSpec, base: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float | None:
    """loss-landscapes' random_plane at 3 × 3 points (its smallest plane with a centre), per point."""
    try:
        import loss_landscapes
        from loss_landscapes.metrics import Loss
    except ImportError:
        return None
    model = spec.build(0).eval()
    start = time.perf_counter()
    loss_landscapes.random_plane(model, Loss(torch.nn.CrossEntropyLoss(), x, y), distance=2, steps=3,
                                 normalization="filter", deepcopy_model=True)
    return (time.perf_counter() - start) / 9


def points_per_pass(cases: tuple = PASS_CASES) -> None:
    """Grid points per forward pass: ``evaluate_module`` with ``points_per_pass`` K (torch.func.vmap
    over K stacked states) against one point a pass, on synthetic inputs of each data set's shape,
    in the same run. The model's registry row (ModelInfo.points_per_pass) keeps K > 1 only where
    this is faster."""
    from compute.engine import evaluate_module
    from compute.landscape import random_plane
    from compute.nets import MODELS, buffer_shapes, flat_state, state_shapes

    print("\ngrid points per forward pass (evaluate_module, vmap over K states), ms a point")
    for key, dataset, images, count, passes in cases:
        spec = TrainSpec(model=key, dataset=DatasetSpec(dataset))
        model = spec.build(0)
        base = flat_state(model)
        d1, d2 = random_plane(base, param_shapes(model), buffer_shapes(model), 0)
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(images, *spec.dataset.shape, generator=generator)
        y = torch.randint(0, 10, (images,), generator=generator)
        a, b = torch.linspace(-1, 1, count), torch.linspace(1, -1, count)
        timings = []
        for k in passes:
            evaluate_module(model, state_shapes(model), base, d1, d2, a[:2], b[:2], (x, y), points_per_pass=k)
            start = time.perf_counter()
            evaluate_module(model, state_shapes(model), base, d1, d2, a, b, (x, y), points_per_pass=k)
            timings.append((k, sane(f"{key}, K={k}: ms a point", (time.perf_counter() - start) / count * 1000)))
        one = timings[0][1]
        cells = "  ".join(f"K={k}: {ms:.1f} ({one / ms:.2f}x)" for k, ms in timings)
        print(f"{key:<13}{dataset:<9}{images:>6} images  {cells}   kept: K={MODELS[key].points_per_pass}")
