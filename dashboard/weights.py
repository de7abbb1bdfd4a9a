"""Trained networks kept on disk, keyed by their full TrainSpec (seeds included).

Files are safetensors (tensors and a little metadata, never pickle), so any process (the web
server, a background job, a Celery worker on the same volume) finds what another one trained.
WEIGHTS_DIR (default cache-dir/weights) says where.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from compute.nets import Trained, TrainSpec, train

FIELDS = ("path", "train_loss", "train_acc", "test_loss", "test_acc")


def weights_dir() -> Path:
    default = Path(__file__).resolve().parent.parent / "cache-dir" / "weights"
    return Path(os.environ.get("WEIGHTS_DIR", default))


def trained_model(spec: TrainSpec, progress: Callable[[int, int], None] | None = None) -> Trained:
    """The spec's trained network: read from its safetensors file, or trained and written there."""
    target = weights_dir() / f"{spec.cache_key()}.safetensors"
    if target.exists():
        try:
            tensors = load_file(str(target))
            if progress is not None:
                progress(spec.epochs, spec.epochs)
            return Trained(*(tensors[name].numpy() for name in FIELDS))
        except (OSError, KeyError, RuntimeError, ValueError, SafetensorError):
            target.unlink(missing_ok=True)  # a damaged file is trained again
    result = train(spec, progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    os.close(handle)
    save_file({name: torch.from_numpy(getattr(result, name)).contiguous() for name in FIELDS}, temporary,
              metadata={"model": spec.model, "epochs": str(spec.epochs)})
    os.replace(temporary, target)  # atomic: readers see the old file or the whole new one
    return result
