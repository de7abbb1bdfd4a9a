"""bench sweep: 10,000 configurations × 100 epochs on the batched engine vs the torch.optim loop.

The reference is the toy lab's own loop (``run_trajectory``: torch.optim stepping a real
torch.nn.Linear), timed on a sample of configurations and scaled to all 10,000.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from compute import OptimizerSpec, RunSpec, run_trajectory
from compute.sweep import SweepAxis, SweepSpec, run_sweep

CASES = {
    "SGD nesterov (lr × momentum)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5), ("nesterov", True)))),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("momentum", 0.01, 0.99, 100)),
    "Adam (lr × betas[0])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adam")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta1", 0.0, 0.99, 100)),
}


def main(repeat: int | None = None) -> None:
    repeat = repeat or 5
    sample = 20
    print(f"bench sweep: 100 x 100 configurations x 100 epochs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; engine median of {repeat}, loop {sample} runs scaled")
    print(f"{'sweep':<30}{'engine s':>10}{'loop s (est.)':>15}{'ratio':>9}")
    for name, spec in CASES.items():
        run_sweep(spec)  # warm-up
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            run_sweep(spec)
            times.append(time.perf_counter() - start)
        engine = statistics.median(times)
        rng = np.random.default_rng(0)
        xs, ys = spec.x.values(), spec.y.values()
        start = time.perf_counter()
        for _ in range(sample):
            values = dict(spec.run.optimizer.params)
            values[spec.x.name] = float(rng.choice(xs))
            values[spec.y.name] = float(rng.choice(ys))
            run_trajectory(RunSpec(optimizer=OptimizerSpec(spec.run.optimizer.name, tuple(values.items()))))
        loop = (time.perf_counter() - start) / sample * spec.runs
        print(f"{name:<30}{engine:>10.3f}{loop:>15.1f}{loop / engine:>8.0f}x")
    print("goal: the 10,000-run sweep in under 0.2 s and at least 1,000x the loop")
    _sweep_view(repeat)


def _sweep_view(repeat: int) -> None:
    """The sweep page's job, uncached: checks, 100 × 100 runs, the figure (as the worker runs it)."""
    import importlib

    import app
    from dashboard.cache import cache
    from dashboard.state import default_state

    page = importlib.import_module("dashboard.pages.sweep")
    request = {"state": default_state(), "query": ""}
    times = []
    with app.server.app_context():
        for _ in range(repeat + 1):
            cache.clear()
            start = time.perf_counter()
            page.sweep(lambda _progress: None, request, 0)
            times.append(time.perf_counter() - start)
    print(f"sweep view, 100 x 100 uncached (the job, median of {repeat}): {statistics.median(times[1:]):.3f} s "
          "(goal: under 1 s)")
