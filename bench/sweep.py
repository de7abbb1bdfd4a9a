"""bench sweep: 10,000 configurations × 100 epochs on the batched engine vs the torch.optim loop.

The reference is the toy lab's own loop (``run_trajectory``: torch.optim stepping a real
torch.nn.Linear), timed on a sample of configurations and scaled to all 10,000. Smoke mode: 5 × 5
configurations, 2 loop runs, timed once.
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np
import torch

from bench.smoke import require, sane
from compute import OptimizerSpec, RunSpec, ScheduleSpec, run_trajectory
from compute.batched import SCHEDULE_PREFIX
from compute.specs import SurfaceSpec
from compute.sweep import SweepAxis, SweepSpec, run_sweep

CASES = {
    "SGD nesterov (lr × momentum)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5), ("nesterov", True)))),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("momentum", 0.01, 0.99, 100)),
    "Adam (lr × betas[0])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adam")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta1", 0.0, 0.99, 100)),
    "Adamax (lr × betas[0])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adamax")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta1", 0.0, 0.99, 100)),
    "NAdam (lr × betas[0])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("nadam")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta1", 0.0, 0.99, 100)),
    "RAdam (lr × betas[1])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("radam")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta2", 0.9, 0.9999, 100)),
    "Adadelta (lr × rho)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adadelta")),
        x=SweepAxis("lr", 0.01, 10.0, 100, True), y=SweepAxis("rho", 0.5, 0.999, 100)),
    "ASGD (lr × lambd)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("asgd")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("lambd", 1e-6, 1.0, 100, True)),
    "Rprop (lr × etas[1])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("rprop")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("etaplus", 1.01, 3.0, 100)),
    "Adafactor (lr × beta2_decay)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adafactor")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta2_decay", -1.0, 0.0, 100)),
    "Muon + AdamW (lr × momentum)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("muon", (("adamw_lr", 0.1),))),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("momentum", 0.0, 0.99, 100)),
    "SGD + warm-up, cosine (lr × momentum)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5),)), schedule=ScheduleSpec("warmup")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("momentum", 0.01, 0.99, 100)),
    "SGD 0.9 + warm-up (lr × warm-up steps)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.9),)), schedule=ScheduleSpec("warmup")),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("schedule.warmup_steps", 1, 100, 100)),
    # a classic surface: f(x, y) and its gradient by autograd on all runs at once (compute/surfaces.py)
    "SGD on Rosenbrock (lr × momentum)": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("sgd", (("momentum", 0.5),)), surface=SurfaceSpec("rosenbrock"),
                    init_bias=-1.5, init_weight=2.0),
        x=SweepAxis("lr", 1e-5, 1e-2, 100, True), y=SweepAxis("momentum", 0.0, 0.99, 100)),
    "Adam on Rastrigin (lr × betas[0])": SweepSpec(
        run=RunSpec(optimizer=OptimizerSpec("adam"), surface=SurfaceSpec("rastrigin"), init_bias=-2.0, init_weight=3.5),
        x=SweepAxis("lr", 0.001, 1.0, 100, True), y=SweepAxis("beta1", 0.0, 0.99, 100)),
}
SIZES = {False: (100, 20, 5), True: (5, 2, 1)}  # (points an axis, loop runs, timed repetitions): full, smoke


def main(repeat: int | None = None, smoke: bool = False) -> None:
    points, sample, default_repeat = SIZES[smoke]
    repeat = repeat or default_repeat
    print(f"bench sweep: {points} x {points} configurations x 100 epochs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; engine median of {repeat}, loop {sample} runs scaled")
    print(f"{'sweep':<40}{'engine s':>10}{'loop s (est.)':>15}{'ratio':>9}")
    for name, full in CASES.items():
        spec = dataclasses.replace(full, x=dataclasses.replace(full.x, points=points),
                                   y=dataclasses.replace(full.y, points=points))
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
            values, schedule = dict(spec.run.optimizer.params), dict(spec.run.schedule.params)
            for axis, options in ((spec.x, xs), (spec.y, ys)):
                value = float(rng.choice(options))
                if axis.name.startswith(SCHEDULE_PREFIX):
                    schedule[axis.name[len(SCHEDULE_PREFIX):]] = round(value)
                else:
                    values[axis.name] = value
            run_trajectory(dataclasses.replace(
                spec.run, optimizer=OptimizerSpec(spec.run.optimizer.name, tuple(values.items())),
                schedule=ScheduleSpec(spec.run.schedule.name, tuple(schedule.items()))))
        loop = (time.perf_counter() - start) / sample * spec.runs
        print(f"{name:<40}{engine:>10.3f}{loop:>15.1f}{loop / engine:>8.0f}x")
        for what, value in (("engine s", engine), ("loop s", loop), ("ratio", loop / engine)):
            sane(f"{name}: {what}", value)
    print("goal: the 10,000-run sweep in under 0.2 s and at least 1,000x the loop")
    _largest(smoke)
    _sweep_view(repeat, points)


def _largest(smoke: bool) -> None:
    """The largest sweep the page allows (300 × 300 runs on 400 points): in blocks of runs (what the
    engine does) against all runs at once (the reference; its temporaries are runs × points)."""
    from compute import batched

    points, epochs = (20, 5) if smoke else (300, 110)
    spec = SweepSpec(run=RunSpec(data=dataclasses.replace(RunSpec().data, n=400), epochs=epochs),
                     x=SweepAxis("lr", 0.001, 1.0, points, True), y=SweepAxis("momentum", 0.0, 0.99, points))
    block = batched.BLOCK_ELEMENTS
    times = {}
    for name, elements in (("all at once", 1 << 62), ("in blocks", block)):
        batched.BLOCK_ELEMENTS = elements
        try:
            start = time.perf_counter()
            run_sweep(spec)
            times[name] = time.perf_counter() - start
        finally:
            batched.BLOCK_ELEMENTS = block
    whole_mb = spec.runs * 400 * 4 / 2**20
    block_mb = min(spec.runs * 400, block) * 4 / 2**20
    print(f"largest sweep, {points} x {points} runs x {epochs} epochs on 400 points: all at once "
          f"{times['all at once']:.2f} s ({whole_mb:,.0f} MB a temporary), in blocks {times['in blocks']:.2f} s "
          f"({block_mb:,.0f} MB a temporary): {times['all at once'] / times['in blocks']:.1f}x")
    for name, value in times.items():
        sane(f"largest sweep {name} s", value)


def _sweep_view(repeat: int, points: int) -> None:
    """The sweep page's job, uncached: checks, points × points runs, the figure (as the worker runs it)."""
    import importlib

    import app
    from dashboard.cache import cache
    from dashboard.state import SWEEP, default_state

    page = importlib.import_module("dashboard.pages.sweep")
    state = {**default_state(SWEEP), "sweep.x_points": points, "sweep.y_points": points}
    request = {"state": state, "query": ""}
    times = []
    with app.server.app_context():
        for _ in range(repeat + 1):
            cache.clear()
            start = time.perf_counter()
            text = page.sweep(lambda _progress: None, request, 0)["text"]
            times.append(time.perf_counter() - start)
    median = statistics.median(times[1:])
    print(f"sweep view, {points} x {points} uncached (the job, median of {repeat}): {median:.3f} s "
          f"(goal: under 1 s); the job said: {text.split('.')[0]}")
    sane("sweep view s", median)
    require(f"the sweep job ran its {points * points:,} runs", text.startswith(f"{points * points:,} runs"))
