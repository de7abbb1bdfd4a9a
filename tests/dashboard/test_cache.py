"""The compute cache: configured from the environment, keyed on specs, never fatal."""

import numpy as np
import pytest
from flask import Flask

from compute import GridSpec, RunSpec, loss_grid, run_trajectory
from dashboard import cache as cache_module
from dashboard.cache import cache_config, cached


@pytest.mark.parametrize(("env", "kind"), [
    ({}, "SimpleCache"),
    ({"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": "/tmp/x"}, "FileSystemCache"),
    ({"REDIS_URL": "redis://127.0.0.1:6399/0"}, "RedisCache"),
])
def test_backend_comes_from_the_environment(env, kind):
    config = cache_config(env)
    assert config["CACHE_TYPE"] == kind
    if kind == "FileSystemCache":
        assert config["CACHE_DIR"] == "/tmp/x"
    if kind == "RedisCache":
        assert config["CACHE_REDIS_URL"] == env["REDIS_URL"]


@pytest.fixture
def file_cache(tmp_path, monkeypatch):
    server = Flask("t")
    cache = cache_module.Cache()
    cache.init_app(server, config=cache_config({"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(tmp_path)}))
    monkeypatch.setattr(cache_module, "cache", cache)
    with server.app_context():
        yield cache


def test_results_survive_a_file_cache_round_trip(file_cache):
    calls = []

    def counted(spec):
        calls.append(spec)
        return run_trajectory(spec)

    first = cached(counted, RunSpec(epochs=10))
    again = cached(counted, RunSpec(epochs=10))
    assert len(calls) == 1
    np.testing.assert_array_equal(first.loss, again.loss)
    grid = cached(loss_grid, GridSpec(resolution=11))
    np.testing.assert_array_equal(cached(loss_grid, GridSpec(resolution=11)).loss, grid.loss)


def test_a_failing_backend_means_computing_without_it(monkeypatch):
    class Broken:
        def get(self, key):
            raise ConnectionError("redis went away")

        def set(self, key, value):
            raise ConnectionError("redis went away")

    monkeypatch.setattr(cache_module, "cache", Broken())
    traj = cached(run_trajectory, RunSpec(epochs=5))
    assert len(traj.loss) == 6
