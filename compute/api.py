"""Loss landscapes of your own model: any ``torch.nn.Module``, any loss, a DataLoader or tensors.

The same functions draw the page's and the CLI's landscapes (``evaluate_module``, ``random_plane``,
``normalize_direction`` in compute/landscape.py); here they take a model instead of a spec::

    from compute.api import loss_plane, loss_line, save_landscape

    plane = loss_plane(model, torch.nn.functional.cross_entropy, loader, norm="filter", seed=0)
    save_landscape("mine.npz", plane)        # opens in the dashboard: Landscapes → upload

    line = loss_line(model, torch.nn.functional.cross_entropy, (x, y), start=initial_model)

Nothing here changes the model (its parameters, buffers and train/eval mode are as they were);
every random draw takes a seed. Results are dicts of numpy arrays with the names the landscape
files use (``mode``, ``coords``, ``train_loss``, ``train_acc``, ``description``).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from compute.engine import Data, evaluate_module, resolve_device
from compute.errors import InvalidSpec
from compute.landscape import (
    BIAS_MODES,
    DIR_TYPES,
    LANDSCAPE_ARRAYS,
    MARK_NAMES,
    NORMS,
    THREE_MARKS,
    Landscape,
    random_plane,
    write_landscape,
)
from compute.nets import buffer_shapes, flat_state, param_shapes
from compute.npzfile import read_npz


def model_state(model: torch.nn.Module) -> torch.Tensor:
    """The model's state vector: its parameters in ``named_parameters`` order, then its
    floating-point buffers (BatchNorm's running statistics), as one detached float32 copy."""
    return flat_state(model)


def _check(choice: str, table: dict, name: str) -> None:
    if choice not in table:
        raise InvalidSpec(f"{name} must be one of {', '.join(table)} (got {choice!r:.40})", name)


def _grid(lo: float, hi: float, resolution: int) -> torch.Tensor:
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise InvalidSpec(f"lo must be below hi, both finite (got {lo}, {hi})", "lo")
    if not 2 <= int(resolution) <= 1001:
        raise InvalidSpec(f"resolution must be 2 to 1001 (got {resolution})", "resolution")
    return torch.linspace(lo, hi, int(resolution))


def loss_plane(model: torch.nn.Module, loss: Callable, data: Data, *, norm: str = "filter",
               bias: str = "ignore", dir_type: str = "weights", resolution: int = 31, lo: float = -1.0,
               hi: float = 1.0, seed: int = 0, device: str = "cpu", points_per_pass: int = 1,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The loss over θ* + a·d₁ + b·d₂ for a, b in [lo, hi], θ* the model's current state.

    d₁, d₂: Gaussian directions from a generator seeded with ``seed``, normalized by ``norm``
    (filter, layer, weight, model, none), biases and BatchNorm ``bias`` ("ignore" or "keep"),
    ``dir_type`` "weights" or "states" (also BatchNorm's running statistics): see
    ``compute.landscape.normalize_direction``. ``loss(outputs, targets, reduction="sum")``;
    ``data`` is (x, y) tensors or an iterable of (x, y) batches. ``points_per_pass`` > 1 runs
    that many grid points in one forward pass (torch.func.vmap): faster for small dense models,
    slower for convolutions (``ModelInfo.points_per_pass``). Returns ``coords`` (R,),
    ``train_loss`` and ``train_acc`` (R, R) indexed [b, a], and the directions ``d1``, ``d2``.
    """
    _check(norm, NORMS, "norm")
    _check(bias, BIAS_MODES, "bias")
    _check(dir_type, DIR_TYPES, "dir_type")
    coords = _grid(lo, hi, resolution)
    target = resolve_device(device)
    params, buffers = param_shapes(model), buffer_shapes(model)
    base = model_state(model)
    d1, d2 = random_plane(base, params, buffers, seed, norm, bias, dir_type)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    evaluated = _on(model, target, lambda m: evaluate_module(
        m, params + buffers, base.to(target), d1.to(target), d2.to(target), a.reshape(-1), b.reshape(-1),
        data, loss, progress, points_per_pass))
    r = len(coords)
    return {"mode": "plane", "coords": coords.numpy(), "train_loss": evaluated[0].reshape(r, r),
            "train_acc": evaluated[1].reshape(r, r), "d1": d1.numpy(), "d2": d2.numpy(),
            "description": f"θ* + a·d₁ + b·d₂: your model, seeded Gaussian directions (seed {seed}), "
                           f"{norm}-normalized, biases and BN {bias}, {dir_type}"}


def loss_line(model: torch.nn.Module, loss: Callable, data: Data, *, start: torch.nn.Module | None = None,
              end: torch.nn.Module | None = None, resolution: int = 41, lo: float = -0.5, hi: float = 1.5,
              device: str = "cpu", points_per_pass: int = 1,
              progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The loss along θ(α) = θ_start + α(θ_end − θ_start) for α in [lo, hi] (Goodfellow et al.).

    ``start`` and ``end`` are models of the same architecture; by default the line runs from
    ``start`` to ``model`` (give ``start``, e.g. the initial model), or from ``model`` to ``end``.
    Evaluated with ``model``'s forward. Returns ``coords`` (α), ``train_loss`` and ``train_acc``.
    """
    if (start is None) == (end is None):
        raise InvalidSpec("give one of start (the line runs start → model) or end (model → end)", "start")
    first, last = (model_state(start), model_state(model)) if start is not None else \
        (model_state(model), model_state(end))  # type: ignore[arg-type]
    if first.shape != last.shape:
        raise InvalidSpec("start/end must have the model's parameters and buffers (the same architecture)", "start")
    alphas = _grid(lo, hi, resolution)
    target = resolve_device(device)
    params, buffers = param_shapes(model), buffer_shapes(model)
    zeros = torch.zeros_like(alphas)
    evaluated = _on(model, target, lambda m: evaluate_module(
        m, params + buffers, first.to(target), (last - first).to(target), torch.zeros_like(first).to(target),
        alphas, zeros, data, loss, progress, points_per_pass))
    return {"mode": "line", "coords": alphas.numpy(), "train_loss": evaluated[0], "train_acc": evaluated[1],
            "description": "θ(α) = θ_start + α(θ_end − θ_start): your models"}


def loss_plane_through(model: torch.nn.Module, second: torch.nn.Module, third: torch.nn.Module, loss: Callable,
                       data: Data, *, resolution: int = 31, lo: float = -0.5, hi: float = 1.5,
                       device: str = "cpu", points_per_pass: int = 1,
                       progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The loss over the plane through three models of one architecture (Li et al.'s
    model_file2/model_file3): θ_A + a(θ_B − θ_A) + b(θ_C − θ_A) for a, b in [lo, hi], A being
    ``model``, B ``second``, C ``third``; A lies at (0, 0), B at (1, 0), C at (0, 1) (``marks``).
    Evaluated with ``model``'s forward; no model is changed. Returns ``coords``, ``train_loss``
    and ``train_acc`` (R, R) indexed [b, a], and ``marks``."""
    states = [model_state(m) for m in (model, second, third)]
    if not states[0].shape == states[1].shape == states[2].shape:
        raise InvalidSpec("second and third must have the model's parameters and buffers (one architecture)",
                          "second")
    coords = _grid(lo, hi, resolution)
    target = resolve_device(device)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    first = states[0]
    evaluated = _on(model, target, lambda m: evaluate_module(
        m, param_shapes(model) + buffer_shapes(model), first.to(target), (states[1] - first).to(target),
        (states[2] - first).to(target), a.reshape(-1), b.reshape(-1), data, loss, progress, points_per_pass))
    r = len(coords)
    return {"mode": "three", "coords": coords.numpy(), "train_loss": evaluated[0].reshape(r, r),
            "train_acc": evaluated[1].reshape(r, r), "marks": np.array(THREE_MARKS),
            "description": "θ_A + a(θ_B − θ_A) + b(θ_C − θ_A): your three models"}


def _on(model: torch.nn.Module, device: torch.device, run: Callable[[torch.nn.Module], Any]) -> Any:
    """Run on the model as it is when it already lives on ``device``, else on a copy moved there
    (the caller's model never moves)."""
    here = next(iter(model.parameters()), torch.zeros(0)).device
    if here == device:
        return run(model)
    return run(copy.deepcopy(model).to(device))


def save_landscape(target: str | Path | io.IOBase, result: dict[str, Any]) -> None:
    """Write a landscape as the CLI does: a .npz of plain arrays and strings, never a pickle;
    it opens in the dashboard (Landscapes → upload) and with ``np.load(..., allow_pickle=False)``."""
    write_landscape(target, result, result.get("spec", {}))


MAX_FILE_BYTES = 8 << 20  # a landscape file read back is at most this large
MAX_RESOLUTION = 1001
MAX_PATH = 100_000
MODES_IN_FILES = ("line", "plane", "pca", "three", "hessian")
FILE_NAMES = ("mode", "description", *LANDSCAPE_ARRAYS)  # what is read of a file (its spec is not used)
# what a file's arrays may inflate to: the largest legal landscape's (a plane's coords, loss and
# accuracy, and a path, in float64), and 4 MiB for the strings, the small arrays and the .npy headers
MAX_ARRAY_BYTES = (np.dtype(np.float64).itemsize * (MAX_RESOLUTION + 2 * MAX_RESOLUTION**2 + 2 * MAX_PATH)
                   + (4 << 20))


def load_landscape(data: bytes) -> Landscape:
    """A landscape file (as the CLI, the page's store and ``save_landscape`` write it) read back and
    checked: a .npz of plain numeric arrays and strings, read with ``compute.npzfile.read_npz``:
    only the arrays FILE_NAMES (others are ignored), stored or deflated, at most MAX_ARRAY_BYTES
    inflated in all, checked before a byte is inflated (an object array is refused, never
    unpickled). InvalidSpec says what is wrong.

    Required: ``mode`` (line, plane or pca), ``coords`` (R increasing finite values), ``train_loss``
    ((R,) for a line, (R, R) for a plane). Optional: ``train_acc`` of the same shape, ``test_loss``
    and ``test_acc`` (lines), ``path`` (K, 2), ``explained`` (2,), ``marks`` (up to 3, 2): where
    models A, B, C lie in a plane through them, ``eigenvalues`` (2,): the Hessian's λ₁ and λ₂ along
    the axes of mode "hessian", ``description``.
    """
    if len(data) > MAX_FILE_BYTES:
        raise InvalidSpec(f"the file is {len(data):,} bytes; at most {MAX_FILE_BYTES:,} are read", "file")
    try:
        arrays = read_npz(data, FILE_NAMES, MAX_ARRAY_BYTES)
    except InvalidSpec as err:
        raise InvalidSpec(f"not a landscape file: {err.message}", "file") from None
    mode = _text(arrays, "mode")
    if mode not in MODES_IN_FILES:
        raise InvalidSpec(f"mode must be one of {', '.join(MODES_IN_FILES)} (got {mode!r:.40})", "file")
    coords = _numbers(arrays, "coords", None)
    if coords.ndim != 1 or not 2 <= len(coords) <= MAX_RESOLUTION or not np.all(np.diff(coords) > 0):
        raise InvalidSpec(f"coords must be 2 to {MAX_RESOLUTION} increasing numbers", "file")
    shape = (len(coords),) if mode == "line" else (len(coords), len(coords))
    loss = _numbers(arrays, "train_loss", shape)
    acc = _numbers(arrays, "train_acc", shape) if "train_acc" in arrays else np.full(shape, np.nan)
    test_loss = test_acc = None
    if mode == "line":
        test_loss = _numbers(arrays, "test_loss", shape) if "test_loss" in arrays else np.full(shape, np.nan)
        test_acc = _numbers(arrays, "test_acc", shape) if "test_acc" in arrays else np.full(shape, np.nan)
    path = _numbers(arrays, "path", None) if "path" in arrays else None
    if path is not None and (path.ndim != 2 or path.shape[1] != 2 or len(path) > MAX_PATH
                             or not np.isfinite(path).all()):
        raise InvalidSpec(f"path must be at most {MAX_PATH:,} finite (a, b) pairs", "file")
    explained = _numbers(arrays, "explained", (2,)) if "explained" in arrays else None
    marks = _numbers(arrays, "marks", None) if "marks" in arrays else None
    if marks is not None and (marks.ndim != 2 or marks.shape[1] != 2 or not 1 <= len(marks) <= len(MARK_NAMES)
                              or not np.isfinite(marks).all()):
        raise InvalidSpec(f"marks must be 1 to {len(MARK_NAMES)} finite (a, b) pairs", "file")
    eigenvalues = _numbers(arrays, "eigenvalues", (2,)) if "eigenvalues" in arrays else None
    if eigenvalues is not None and not np.isfinite(eigenvalues).all():
        raise InvalidSpec("eigenvalues must be finite", "file")
    description = _text(arrays, "description") if "description" in arrays else ""
    return Landscape(mode, coords, loss, acc, test_loss, test_acc, path, explained, description[:300], marks,
                     eigenvalues)


def _text(arrays: dict[str, np.ndarray], name: str) -> str:
    value = arrays.get(name)
    if value is None or value.shape != () or value.dtype.kind != "U":
        raise InvalidSpec(f"{name} must be a string", "file")
    return str(value)


def _numbers(arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...] | None) -> np.ndarray:
    value = arrays.get(name)
    if value is None:
        raise InvalidSpec(f"the file has no {name}", "file")
    if value.dtype.kind not in "fiu":
        raise InvalidSpec(f"{name} must hold numbers (got {value.dtype})", "file")
    if shape is not None and value.shape != shape:
        raise InvalidSpec(f"{name} must have shape {shape} (got {value.shape})", "file")
    value = value.astype(np.float64)
    if name == "coords" and not np.isfinite(value).all():
        raise InvalidSpec("coords must be finite", "file")
    return value
