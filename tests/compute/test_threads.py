"""Every compute function a request thread or a job calls, from eight threads at once: each result
bit for bit the single-threaded one, no exception, and nothing shared left changed.

gunicorn serves the dashboard with request threads, so whatever a callback calls runs in eight
threads of one process. What breaks there is process-wide state: torch's forward-mode AD levels
(torch.func.hessian and jvp), a module whose tensors functional_call swaps while it runs, torch's
intra-op thread count. The threads wait at a barrier so that they really start together.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from compute import run_trajectories, run_trajectory
from compute.api import loss_plane, model_state
from compute.curvature import run_curvature, toy_hessians
from compute.engine import evaluate_affine
from compute.nets import DatasetSpec, TrainSpec, build_model, load_split, state_shapes
from compute.preview import PreviewSpec, run_preview
from compute.specs import DataSpec, GridSpec, LossSpec, OptimizerSpec, RunSpec
from compute.spectrum import LossHessian
from compute.sweep import SweepAxis, SweepSpec, run_sweep
from compute.toy import loss_grid

THREADS, CALLS = 8, 3
SMALL = DatasetSpec("digits", train_size=300, test_size=100)
MOMENTUM = OptimizerSpec("sgd", (("lr", 0.05), ("momentum", 0.9)))


@functools.cache
def _digits(n: int = 48) -> tuple[torch.Tensor, torch.Tensor]:
    split = load_split(SMALL)
    return split.x_train[:n], split.y_train[:n]


class _BNNet(nn.Module):
    """Linear, BatchNorm, tanh, linear: a small model with buffers and a non-zero Hessian."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 8)
        self.bn = nn.BatchNorm1d(8)
        self.out = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(torch.tanh(self.bn(self.fc(x.flatten(1)))))


@functools.cache
def _shared_model() -> nn.Module:
    """One model object every thread is handed (as a caller of the API may): in train mode, its
    running statistics moved away from 0 and 1."""
    torch.manual_seed(7)
    model = _BNNet().train()
    with torch.no_grad():
        model(_digits()[0] * 2 + 0.5)
    return model


@functools.cache
def _vector() -> torch.Tensor:
    size = sum(p.numel() for p in _shared_model().parameters())
    return torch.randn(size, generator=torch.Generator().manual_seed(1))


@functools.cache
def _shared_hessian() -> LossHessian:
    return LossHessian(_shared_model(), _digits(), method="reverse", chunk=16)


def _toy_runs() -> Any:
    specs = [RunSpec(loss=LossSpec(name), optimizer=MOMENTUM, epochs=40) for name in ("mse", "huber", "bce")]
    return run_trajectory(RunSpec(batch_size=8, epochs=3)), run_trajectories(specs)


def _toy_hessians() -> Any:
    points = np.random.default_rng(0).normal(0.0, 3.0, (2, 200))
    spec = RunSpec(loss=LossSpec("huber", (("delta", 0.5),)), epochs=30)
    return ([toy_hessians(DataSpec(), LossSpec(name), *points) for name in ("mse", "huber", "bce")],
            run_curvature(spec, run_trajectory(spec)))


@functools.cache
def _plane_points(model: str) -> tuple[torch.Tensor, ...]:
    """A 3 × 3 plane around a built model's state."""
    base = model_state(build_model(model, 0))  # parameters only: neither model has buffers
    generator = torch.Generator().manual_seed(2)
    d1, d2 = (torch.randn(len(base), generator=generator) * 0.1 for _ in range(2))
    coords = torch.linspace(-1.0, 1.0, 3)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    return base, d1, d2, a.reshape(-1), b.reshape(-1)


def _plane(model: str) -> Any:
    """The plane on the model's own fast path: the CNN's side by side, the MLP's vmap over points."""
    return evaluate_affine(TrainSpec(model=model, dataset=SMALL), *_plane_points(model), *_digits())


def _own_model_plane(points_per_pass: int, batches: bool = False) -> Any:
    """Your own model's plane, the same model object in every thread; ``batches``: the data as a
    list of batches, evaluated in the calling thread (tensors go side by side)."""
    x, y = _digits()
    data = [(x[:16], y[:16]), (x[16:], y[16:])] if batches else (x, y)
    return loss_plane(_shared_model(), F.cross_entropy, data, resolution=3, seed=5, bias="keep",
                      dir_type="states", points_per_pass=points_per_pass)


def _hvp(method: str) -> torch.Tensor:
    return LossHessian(_shared_model(), _digits(), method=method, chunk=16).hvp(_vector())


CASES: dict[str, Callable[[], Any]] = {
    "toy run": _toy_runs,
    "loss grid": lambda: [loss_grid(GridSpec(loss=LossSpec(name), resolution=41)) for name in ("mse", "bce")],
    "toy hessians": _toy_hessians,
    "preview": lambda: run_preview(PreviewSpec(RunSpec(optimizer=MOMENTUM, epochs=40), "lr")),
    "sweep": lambda: run_sweep(SweepSpec(RunSpec(epochs=30), SweepAxis("lr", 0.01, 0.5, 5, True),
                                         SweepAxis("momentum", 0.0, 0.9, 4))),
    "landscape cnn": lambda: _plane("cnn"),
    "landscape mlp": lambda: _plane("mlp"),
    "own model plane": lambda: _own_model_plane(1),
    "own model plane vmap": lambda: _own_model_plane(3),
    "own model plane vmap, batches": lambda: _own_model_plane(3, batches=True),
    "hvp forward": lambda: _hvp("forward"),
    "hvp reverse": lambda: _hvp("reverse"),
    "hvp one shared hessian": lambda: _shared_hessian().hvp(_vector()),
    "build a model": lambda: [model_state(build_model(name, seed)) for name, seed in (("mlp", 3), ("cnn", 4))],
}


def _same(got: Any, expected: Any) -> bool:
    """Bit for bit equal: arrays (NaN where NaN, same dtype), tensors, dataclasses, containers."""
    if isinstance(expected, torch.Tensor):
        expected, got = expected.numpy(), got.numpy() if isinstance(got, torch.Tensor) else got
    if isinstance(expected, np.ndarray | float):
        got, expected = np.asarray(got), np.asarray(expected)
        return got.dtype == expected.dtype and np.array_equal(got, expected, equal_nan=expected.dtype.kind == "f")
    if dataclasses.is_dataclass(expected):
        return type(got) is type(expected) and all(
            _same(getattr(got, f.name), getattr(expected, f.name)) for f in dataclasses.fields(expected))
    if isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_same(got[k], expected[k]) for k in expected)
    if isinstance(expected, list | tuple):
        return len(got) == len(expected) and all(_same(g, e) for g, e in zip(got, expected, strict=True))
    return got == expected


def _in_threads(calls: list[Callable[[], Any]]) -> list[list[Any]]:
    """Each of ``calls`` in its own thread, all released together, CALLS times each; an exception
    in any is raised here."""
    barrier = threading.Barrier(len(calls), timeout=60)
    results: list[list[Any]] = [[] for _ in calls]
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            barrier.wait()
            for _ in range(CALLS):
                results[k].append(calls[k]())
        except BaseException as err:  # handed to the test's thread
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def _shared_state() -> tuple[Any, ...]:
    model = _shared_model()
    return torch.get_num_threads(), model.training, {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(CASES))
def test_eight_threads_at_once_get_the_single_threaded_result(name):
    call = CASES[name]
    expected = call()
    before = _shared_state()
    results = _in_threads([call] * THREADS)
    wrong = sum(not _same(got, expected) for row in results for got in row)
    assert wrong == 0, f"{wrong} of {THREADS * CALLS} results differ from the single-threaded one"
    assert sum(len(row) for row in results) == THREADS * CALLS
    assert _same(_shared_state(), before)  # the thread count, the shared model's mode and tensors


def test_every_function_at_once_in_its_own_thread():
    """Forward mode in some threads while others run vmap, functional_call and plain autograd.

    The planes that go side by side are not among them: while those run, torch's process-wide
    intra-op thread count is 1 (compute/engine.py's _SINGLE), which other threads' ops share, and
    their float rounding may then differ from a run at full width (measured: 1 ulp in float32)."""
    names = ["toy hessians", "hvp forward", "own model plane vmap, batches", "hvp reverse", "hvp forward", "toy run",
             "hvp one shared hessian", "loss grid"]
    expected = {name: CASES[name]() for name in names}
    before = _shared_state()
    results = _in_threads([CASES[name] for name in names])
    for name, row in zip(names, results, strict=True):
        assert all(_same(got, expected[name]) for got in row), name
    assert _same(_shared_state(), before)


def test_the_comparison_sees_a_last_bit_and_a_moved_nan():
    a = np.array([1.0, np.nan])
    assert _same((a, {"x": [a]}), (a.copy(), {"x": [a.copy()]}))
    assert not _same(np.array([np.nextafter(1.0, 2.0), np.nan]), a)
    assert not _same(np.array([np.nan, 1.0]), a)
    assert not _same(a.astype(np.float32), a)
    assert not _same(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0000002]))
    assert _same(state_shapes(_shared_model()), state_shapes(_shared_model()))
