"""Folders that cannot fill the disk: atomic writes and a size cap with least-recently-used eviction.

A read marks a file as used (its mtime is set to now), so eviction drops what nobody asked for
longest. Used by the trained weights and landscapes (WEIGHTS_DIR, WEIGHTS_MAX_MB) and the file
compute cache (CACHE_DIR, CACHE_DIR_MAX_MB). (diskcache's own ``size_limit`` evicts only inside a
diskcache: these folders are plain safetensors/npz files that any process reads by name, and
cachelib's FileSystemCache; the job store, which is a diskcache, holds only small JSON that expires.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def megabytes(value: float) -> int:
    """A size cap in bytes from megabytes (the settings' *_MAX_MB)."""
    return int(value * 1024 * 1024)


def write_atomically(target: Path, write: Callable[[str], None], suffix: str) -> None:
    """Write ``target`` through ``write(temporary path)``: readers see the old file or the whole new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def touch(path: Path | str) -> None:
    """Mark ``path`` as just used (it is evicted last)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def prune_lru(folder: Path | str, max_bytes: int, keep: Path | str | None = None) -> list[Path]:
    """Delete the least recently used files of ``folder`` until it holds at most ``max_bytes``
    (``keep``, the file just written, stays). Returns what was deleted."""
    entries = []
    for path in Path(folder).iterdir():
        with contextlib.suppress(OSError):
            stat = path.stat()
            if path.is_file():
                entries.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in entries)
    removed = []
    for _, size, path in sorted(entries, key=lambda e: e[0]):
        if total <= max_bytes:
            break
        if keep is not None and path == Path(keep):
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed.append(path)
        total -= size
    if removed:
        log.info("%s: %d least recently used files removed (cap %.0f MB)", folder, len(removed), max_bytes / 2**20)
    return removed
