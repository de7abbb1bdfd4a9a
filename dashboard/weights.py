"""Trained networks and their landscapes kept on disk, keyed by their full specs (seeds included).

Weights are safetensors files and landscapes .npz files of plain arrays, read back with
``allow_pickle=False``: nothing here unpickles. Any process (the web server, a background job, a
Celery worker on the same volume) finds what another one computed. WEIGHTS_DIR (default
cache-dir/weights) says where; WEIGHTS_MAX_MB (default 500) caps its size, the least recently used
files going first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from compute.landscape import LANDSCAPE_ARRAYS, Landscape, LandscapeSpec, write_landscape
from compute.nets import Trained, TrainSpec, train
from dashboard.disk import megabytes, prune_lru, touch, write_atomically


class NotStored(LookupError):
    """Asked for what is on disk only (``stored_only``), and it is not there."""


def weights_dir() -> Path:
    default = Path(__file__).resolve().parent.parent / "cache-dir" / "weights"
    return Path(os.environ.get("WEIGHTS_DIR", default))


def _store(target: Path, write: Callable[[str], None], suffix: str) -> None:
    """Write ``target`` atomically, then keep the folder within WEIGHTS_MAX_MB."""
    write_atomically(target, write, suffix)
    prune_lru(target.parent, megabytes("WEIGHTS_MAX_MB", 500), keep=target)




def stored_landscape(key: str, compute: Callable[[], Landscape], stored_only: bool = False) -> Landscape:
    """The landscape stored under ``key`` (a spec's cache key), or ``compute()`` stored there
    (NotStored instead, when ``stored_only``)."""
    target = weights_dir() / f"landscape-{key}.npz"
    if target.exists():
        try:
            with np.load(target, allow_pickle=False) as saved:
                arrays = {name: saved[name] if name in saved.files else None for name in LANDSCAPE_ARRAYS}
                touch(target)
                return Landscape(mode=str(saved["mode"]), description=str(saved["description"]), **arrays)
        except (OSError, KeyError, ValueError):
            target.unlink(missing_ok=True)
    if stored_only:
        raise NotStored(target.name)
    result = compute()

    def write(path: str) -> None:
        with open(path, "wb") as out:
            write_landscape(out, result)

    _store(target, write, ".npz.tmp")
    return result


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
    tensors = result.to_tensors()
    _store(target, lambda path: save_file(tensors, path, metadata={"model": spec.model}), ".tmp")
    return result
