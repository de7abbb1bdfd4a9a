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

from compute.landscape import LandscapeSpec, directions, evaluate_affine
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
    model = build_model(spec.model, 0)
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
