"""bench landscape: the default CNN's 31 × 31 filter-normalized plane over the full digits set.

(a) a naive loop: copy each point's weights into one model and run all 1,797 images through it;
(b) the ``loss-landscapes`` package's ``random_plane`` with filter normalization (installed only
in the benchmark's own environment: ``make bench-landscape`` makes .venv-bench); (c) ours,
``compute.landscape.evaluate_affine``. Achieved GFLOP/s come from torch's FlopCounterMode on one
forward pass, against this machine's float32 matmul rate measured in the same run.
"""

from __future__ import annotations

import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from compute.engine import evaluate_affine
from compute.landscape import LandscapeSpec, directions
from compute.nets import TrainSpec, build_model, load_split, param_shapes, train, unflatten

RESOLUTION = 31


def _matmul_rate() -> float:
    a = torch.randn(2048, 2048)
    torch.mm(a, a)
    start = time.perf_counter()
    for _ in range(10):
        torch.mm(a, a)
    return 10 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def _naive(spec: TrainSpec, points: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float:
    """Copy each point's weights into one model and run the images through it in one batch (seconds)."""
    model = spec.build(0).eval()
    shapes = param_shapes(model)
    start = time.perf_counter()
    with torch.no_grad():
        for vector in points:
            for (_, p), value in zip(model.named_parameters(), unflatten(vector, shapes).values()):
                p.copy_(value)
            torch.nn.functional.cross_entropy(model(x), y).item()
    return time.perf_counter() - start


def _loss_landscapes(spec: TrainSpec, final: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> float | None:
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
    loss_landscapes.random_plane(model, Loss(torch.nn.CrossEntropyLoss(), x, y), distance=2, steps=RESOLUTION,
                                 normalization="filter", deepcopy_model=True)
    return time.perf_counter() - start


def main(repeat: int | None = None) -> None:
    spec = TrainSpec()  # the default CNN
    trained = train(spec)
    split = load_split(spec.dataset)
    x, y = torch.cat([split.x_train, split.x_test]), torch.cat([split.y_train, split.y_test])
    d1, d2, _ = directions(LandscapeSpec(train=spec), trained)
    final = torch.from_numpy(trained.final)
    coords = torch.linspace(-1, 1, RESOLUTION)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    points = final + a.reshape(-1, 1) * d1 + b.reshape(-1, 1) * d2
    with FlopCounterMode(display=False) as counter:
        build_model(spec.model, 0)(x)
    flops = counter.get_total_flops() * len(points)
    rate = _matmul_rate()
    naive = _naive(spec, points, x, y)
    reference = _loss_landscapes(spec, final, x, y)
    start = time.perf_counter()
    evaluate_affine(spec, final, d1, d2, a.reshape(-1), b.reshape(-1), x, y)
    ours = time.perf_counter() - start
    print(f"bench landscape: {spec.model}, {RESOLUTION} x {RESOLUTION} plane, {len(y)} images, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"float32 matmul rate (2048 x 2048): {rate:.1f} GFLOP/s; the plane: {flops / 1e9:.1f} GFLOP")
    print(f"{'method':<22}{'seconds':>9}{'÷ ours':>10}{'GFLOP/s':>9}{'of matmul':>11}")
    rows = [("naive loop", naive), ("loss-landscapes", reference), ("ours", ours)]
    for name, seconds in rows:
        if seconds is None:
            print(f"{name:<22}{'skipped: run in .venv-bench (make bench-landscape)':>40}")
            continue
        print(f"{name:<22}{seconds:>9.2f}{seconds / ours:>9.2f}x{flops / seconds / 1e9:>9.1f}"
              f"{100 * flops / seconds / 1e9 / rate:>10.0f}%")
    print("goal: ours at least 3x faster than both references and at least 40% of the matmul rate")
    article(repeat)
    points_per_pass()


ARTICLE_IMAGES = 10_000
ARTICLE_SAMPLE = 6  # points of the 31 × 31 plane timed per method; the plane's time is extrapolated


def _article_data() -> tuple[torch.Tensor, torch.Tensor, str]:
    """10,000 MNIST images from DATA_DIR/mnist when the files are there, else synthetic ones of
    the same shape (1 × 28 × 28, uniform in [0, 1], labels 0–9, seeded): the cost is the same."""
    from compute.datasets import DataFileError
    from compute.nets import DatasetSpec

    try:
        split = load_split(DatasetSpec("mnist", train_size=ARTICLE_IMAGES))
        return split.x_train, split.y_train, "MNIST's own files (DATA_DIR/mnist)"
    except DataFileError:
        generator = torch.Generator().manual_seed(0)
        x = torch.rand(ARTICLE_IMAGES, 1, 28, 28, generator=generator)
        return x, torch.randint(0, 10, (ARTICLE_IMAGES,), generator=generator), "synthetic MNIST-shaped images"


def article(repeat: int | None = None) -> None:
    """The article's CNN (1.2M parameters) on 10,000 MNIST-shaped images: ARTICLE_SAMPLE points of
    a 31 × 31 filter-normalized plane per method, extrapolated to the plane's 961 points. The
    cost of a point does not depend on the weights, so θ* is the seeded initial model."""
    from compute.datasets import SOURCES
    from compute.landscape import random_plane
    from compute.nets import DatasetSpec, buffer_shapes, flat_state

    x, y, source = _article_data()
    spec = TrainSpec(model="cnn-article", dataset=DatasetSpec("mnist"))
    model = spec.build(0)
    base = flat_state(model)
    d1, d2 = random_plane(base, param_shapes(model), buffer_shapes(model), 0)
    coords = torch.linspace(-1, 1, RESOLUTION)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    pick = torch.linspace(0, RESOLUTION**2 - 1, ARTICLE_SAMPLE).round().long()
    a, b = a.reshape(-1)[pick], b.reshape(-1)[pick]
    points = base + a[:, None] * d1 + b[:, None] * d2
    with FlopCounterMode(display=False) as counter:
        model(x[:100])
    flops_point = counter.get_total_flops() * len(y) / 100
    rate = _matmul_rate()
    naive = _naive(spec, points, x, y) / len(points)
    reference = _loss_landscapes_article(spec, base, x, y)
    start = time.perf_counter()
    evaluate_affine(spec, base, d1, d2, a, b, x, y)
    ours = (time.perf_counter() - start) / ARTICLE_SAMPLE
    plane = RESOLUTION**2
    print(f"\nbench landscape, the article's CNN ({sum(p.numel() for p in model.parameters()):,} parameters) on "
          f"{len(y):,} {source}; {SOURCES['mnist'].shape} inputs")
    print(f"{ARTICLE_SAMPLE} points of the {RESOLUTION} x {RESOLUTION} plane timed per method, extrapolated to "
          f"{plane}; {flops_point / 1e9:.1f} GFLOP a point, matmul {rate:.1f} GFLOP/s")
    print(f"{'method':<22}{'s/point':>9}{'plane (min)':>13}{'÷ ours':>9}{'GFLOP/s':>9}{'of matmul':>11}")
    for name, seconds in (("naive loop", naive), ("loss-landscapes", reference), ("ours", ours)):
        if seconds is None:
            print(f"{name:<22}{'skipped: run in .venv-bench (make bench-landscape)':>40}")
            continue
        print(f"{name:<22}{seconds:>9.2f}{seconds * plane / 60:>13.1f}{seconds / ours:>8.2f}x"
              f"{flops_point / seconds / 1e9:>9.1f}{100 * flops_point / seconds / 1e9 / rate:>10.0f}%")


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


PASS_CASES = (  # model, data set, images, points, points per pass tried
    ("mlp", "digits", 1797, 64, (1, 4, 16, 32, 64)),
    ("cnn-skip", "digits", 1797, 16, (1, 4, 16)),
    ("resnet8", "cifar10", 1000, 4, (1, 2, 4)),
    ("cnn-article", "mnist", 1000, 4, (1, 2, 4)),
)


def points_per_pass() -> None:
    """Grid points per forward pass: ``evaluate_module`` with ``points_per_pass`` K (torch.func.vmap
    over K stacked states) against one point a pass, on synthetic inputs of each data set's shape,
    in the same run. The model's registry row (ModelInfo.points_per_pass) keeps K > 1 only where
    this is faster."""
    from compute.engine import evaluate_module
    from compute.landscape import random_plane
    from compute.nets import MODELS, DatasetSpec, buffer_shapes, flat_state, state_shapes

    print("\ngrid points per forward pass (evaluate_module, vmap over K states), ms a point")
    for key, dataset, images, count, passes in PASS_CASES:
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
            timings.append((k, (time.perf_counter() - start) / count * 1000))
        one = timings[0][1]
        cells = "  ".join(f"K={k}: {ms:.1f} ({one / ms:.2f}x)" for k, ms in timings)
        print(f"{key:<13}{dataset:<9}{images:>6} images  {cells}   kept: K={MODELS[key].points_per_pass}")
