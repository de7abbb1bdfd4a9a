"""bench grid: the naive per-point loss loop against the vectorized loss map, 101 × 101.

The naive reference calls the torch.nn loss once per grid point and reads it with
``.item()``; ours is ``compute.loss_grid``. Both run here, now, on the same data. Smoke mode:
a 5 × 5 map, timed once.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from bench.smoke import sane
from compute import LOSSES, DataSpec, GridSpec, LossSpec, grid_axes, loss_data, loss_grid

SIZES = {False: (101, 30), True: (5, 1)}  # (resolution, timed repetitions): the full run's, the smoke's


def naive_grid(spec: GridSpec) -> np.ndarray:
    x, y = loss_data(spec.data, spec.loss.name)
    xs, ys = torch.tensor(x), torch.tensor(y)
    biases, weights = grid_axes(spec)
    loss_fn = LOSSES[spec.loss.name].module(spec.loss.values)
    out = np.empty((len(weights), len(biases)), dtype=np.float32)
    with torch.no_grad():
        for i, w in enumerate(weights.tolist()):
            for j, b in enumerate(biases.tolist()):
                out[i, j] = loss_fn(w * xs + b, ys).item()
    return out


def _best_and_median(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main(repeat: int | None = None, smoke: bool = False) -> None:
    resolution, repeat = SIZES[smoke][0], repeat or SIZES[smoke][1]
    print(f"bench grid: {resolution} x {resolution} loss map, n = 50, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; vectorized timed {repeat}x, naive once")
    print(f"{'loss':<13}{'naive s':>10}{'ours ms (median)':>18}{'ratio':>9}{'max |diff|':>12}")
    ratios = []
    for key, row in LOSSES.items():
        spec = GridSpec(data=DataSpec(), loss=LossSpec(key), resolution=resolution)
        loss_grid(spec)  # warm-up
        start = time.perf_counter()
        reference = naive_grid(spec)
        naive = time.perf_counter() - start
        _, ours = _best_and_median(lambda s=spec: loss_grid(s), repeat)
        diff = float(np.max(np.abs(loss_grid(spec).loss - reference)))
        ratios.append(naive / ours)
        print(f"{row.title:<13}{naive:>10.3f}{ours * 1e3:>18.3f}{naive / ours:>8.0f}x{diff:>12.2e}")
        for what, value in (("naive s", naive), ("ours s", ours), ("ratio", naive / ours)):
            sane(f"{row.title} {what}", value)
        sane(f"{row.title} max |diff|", diff, high=1e-4)  # the same float32 operations per point: equal
    print(f"smallest ratio: {min(ratios):.0f}x (goal: at least 300x for every loss)")
