"""Bounded folders: the weights/landscape store and the file cache keep to their size caps,
dropping the least recently used files first; a read counts as a use."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from flask import Flask

from compute import RunSpec, run_trajectory
from compute.landscape import Landscape
from dashboard import cache as cache_module
from dashboard.cache import cache_config, cached
from dashboard.disk import prune_lru, write_atomically
from dashboard.settings import Settings
from dashboard.weights import stored_landscape


def _file(folder, name: str, size: int, age: float):
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (1_000_000 - age, 1_000_000 - age))
    return path


def test_the_least_recently_used_files_go_first(tmp_path):
    old, middle, new = (_file(tmp_path, n, 1000, age) for n, age in (("old", 30), ("middle", 20), ("new", 10)))
    assert prune_lru(tmp_path, 2500) == [old]
    assert prune_lru(tmp_path, 1000, keep=middle) == [new], "the file just written stays"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["middle"]
    assert prune_lru(tmp_path, 10_000) == []


def test_an_atomic_write_leaves_no_temporary_file_when_it_fails(tmp_path):
    def broken(path: str) -> None:
        Path(path).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_atomically(tmp_path / "x.npz", broken, ".tmp")
    assert list(tmp_path.iterdir()) == []


def _landscape(value: float) -> Landscape:
    grid = np.full((40, 40), value)
    return Landscape(mode="plane", coords=np.linspace(-1, 1, 40), train_loss=grid, train_acc=grid,
                     test_loss=grid, test_acc=grid, description=f"v{value}")


def test_the_landscape_store_keeps_to_weights_max_mb(tmp_path, setenv):
    setenv("WEIGHTS_DIR", str(tmp_path))
    stored_landscape("a", lambda: _landscape(1.0))
    size = (tmp_path / "landscape-a.npz").stat().st_size
    setenv("WEIGHTS_MAX_MB", str(2.5 * size / 2**20))
    os.utime(tmp_path / "landscape-a.npz", (1, 1))
    stored_landscape("b", lambda: _landscape(2.0))
    os.utime(tmp_path / "landscape-b.npz", (2, 2))
    assert stored_landscape("a", lambda: pytest.fail("stored: must not recompute")).description == "v1.0"
    stored_landscape("c", lambda: _landscape(3.0))  # over the cap: b is the least recently used
    assert sorted(p.name for p in tmp_path.iterdir()) == ["landscape-a.npz", "landscape-c.npz"]


def test_the_file_cache_keeps_to_cache_dir_max_mb(tmp_path, monkeypatch, setenv):
    server = Flask("t")
    cache = cache_module.Cache()
    cache.init_app(server, config=cache_config(Settings.from_env({"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(tmp_path)})))
    monkeypatch.setattr(cache_module, "cache", cache)
    setenv("CACHE_DIR_MAX_MB", str(6_000 / 2**20))
    with server.app_context():
        for epochs in range(1, 30):
            cached(run_trajectory, RunSpec(epochs=epochs))
        total = sum(p.stat().st_size for p in tmp_path.iterdir())
        assert total <= 6_000 + max(p.stat().st_size for p in tmp_path.iterdir())
        latest = cached(run_trajectory, RunSpec(epochs=29))  # the newest is still there
        np.testing.assert_array_equal(latest.loss, run_trajectory(RunSpec(epochs=29)).loss)
