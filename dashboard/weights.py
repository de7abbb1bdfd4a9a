"""Trained networks and their landscapes kept on disk, keyed by their full specs (seeds included).

Weights are safetensors files and landscapes .npz files of plain arrays, read back with
``allow_pickle=False``: nothing here unpickles. Any process (the web server, a background job, a
Celery worker on the same volume) finds what another one computed. WEIGHTS_DIR (default
cache-dir/weights) says where; WEIGHTS_MAX_MB (default 500) caps its size, the least recently used
files going first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from compute.landscape import LANDSCAPE_ARRAYS, Landscape, LandscapeSpec, write_landscape
from compute.nets import Trained, TrainSpec, train
from compute.spectrum import Sharpening, SharpeningSpec, SpectrumSpec
from dashboard.disk import megabytes, prune_lru, touch, write_atomically
from dashboard.settings import settings

T = TypeVar("T")


class NotStored(LookupError):
    """Asked for what is on disk only (``stored_only``), and it is not there."""


def weights_dir() -> Path:
    """WEIGHTS_DIR, default CACHE_ROOT/weights."""
    return settings().folders.path("WEIGHTS_DIR")


def _store(target: Path, write: Callable[[str], None], suffix: str) -> None:
    """Write ``target`` atomically, then keep the folder within WEIGHTS_MAX_MB."""
    write_atomically(target, write, suffix)
    prune_lru(target.parent, megabytes(settings().stores.WEIGHTS_MAX_MB), keep=target)




def _stored_npz(name: str, compute: Callable[[], T], write: Callable[[Any, T], None],
                read: Callable[[Any], T], stored_only: bool) -> T:
    """What is stored in the .npz ``name`` (read back with ``read`` from plain arrays, never
    unpickled; a damaged file is computed again), or ``compute()`` written there by ``write``
    (NotStored instead, when ``stored_only``)."""
    target = weights_dir() / name
    if target.exists():
        try:
            with np.load(target, allow_pickle=False) as saved:
                value = read(saved)
            touch(target)
            return value
        except (OSError, KeyError, ValueError):
            target.unlink(missing_ok=True)
    if stored_only:
        raise NotStored(target.name)
    value = compute()

    def write_file(path: str) -> None:
        with open(path, "wb") as out:
            write(out, value)

    _store(target, write_file, ".npz.tmp")
    return value


def _read_landscape(saved: Any) -> Landscape:
    arrays = {name: saved[name] if name in saved.files else None for name in LANDSCAPE_ARRAYS}
    return Landscape(mode=str(saved["mode"]), description=str(saved["description"]), **arrays)


def stored_landscape(key: str, compute: Callable[[], Landscape], stored_only: bool = False) -> Landscape:
    """The landscape stored under ``key`` (a spec's cache key), or ``compute()`` stored there
    (NotStored instead, when ``stored_only``)."""
    return _stored_npz(f"landscape-{key}.npz", compute, write_landscape, _read_landscape, stored_only)


def stored_sharpening(spec: SharpeningSpec, compute: Callable[[], Sharpening], stored_only: bool = False) -> Sharpening:
    """The sharpness during training of ``spec``, stored, or ``compute()`` stored."""
    return _stored_npz(f"sharpening-{spec.cache_key()}.npz", compute,
                       lambda out, result: np.savez(out, **result.to_arrays()), Sharpening.from_arrays, stored_only)


def stored_eigenvalues(spec: SpectrumSpec, compute: Callable[[], np.ndarray], stored_only: bool = False) -> np.ndarray:
    """The top eigenvalues of ``spec``'s trained network, stored, or ``compute()`` stored."""
    return _stored_npz(f"eigenvalues-{spec.cache_key()}.npz", compute,
                       lambda out, values: np.savez(out, eigenvalues=np.asarray(values, np.float64)),
                       lambda saved: np.asarray(saved["eigenvalues"], np.float64), stored_only)


def landscape_key(spec: LandscapeSpec, *more: Any) -> str:
    """A key for a landscape of ``spec`` (and anything else it depends on, as cache-keyed specs)."""
    return "-".join([spec.cache_key(), *(m.cache_key() if hasattr(m, "cache_key") else str(m) for m in more)])[:200]


def trained_model(spec: TrainSpec, progress: Callable[[int, int], None] | None = None,
                  stored_only: bool = False) -> Trained:
    """The spec's trained network: read from its safetensors file, or trained and written there
    (NotStored instead, when ``stored_only``)."""
    target = weights_dir() / f"{spec.cache_key()}.safetensors"
    if target.exists():
        try:
            tensors = load_file(str(target))
            touch(target)
            if progress is not None:
                progress(spec.epochs, spec.epochs)
            return Trained.from_tensors(tensors)
        except (OSError, KeyError, RuntimeError, ValueError, SafetensorError):
            target.unlink(missing_ok=True)  # a damaged file is trained again
    if stored_only:
        raise NotStored(target.name)
    result = train(spec, progress)
    keep_trained(spec, result)
    return result


def keep_trained(spec: TrainSpec, trained: Trained) -> None:
    """Write a training of ``spec`` where ``trained_model`` finds it (a training made elsewhere:
    the sharpness during training trains as ``train`` does)."""
    tensors = trained.to_tensors()
    _store(weights_dir() / f"{spec.cache_key()}.safetensors",
           lambda path: save_file(tensors, path, metadata={"model": spec.model}), ".tmp")
