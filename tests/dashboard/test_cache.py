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


def test_background_jobs_use_the_cache_outside_any_request(monkeypatch):
    """A diskcache process or a Celery worker has no app context: the configured server serves."""
    server = Flask("t")
    fresh = cache_module.Cache()
    monkeypatch.setattr(cache_module, "cache", fresh)
    cache_module.configure(server, {"CACHE_TYPE": "SimpleCache"})
    before = dict(cache_module.STATS)
    first = cached(run_trajectory, RunSpec(epochs=9))
    again = cached(run_trajectory, RunSpec(epochs=9))
    assert first is again or np.array_equal(first.loss, again.loss)
    assert cache_module.STATS["misses"] == before["misses"] + 1
    assert cache_module.STATS["hits"] == before["hits"] + 1


def test_an_unreachable_redis_means_computing_without_the_cache(monkeypatch):
    server = Flask("t")
    fresh = cache_module.Cache()
    monkeypatch.setattr(cache_module, "cache", fresh)
    cache_module.configure(server, {"REDIS_URL": "redis://127.0.0.1:9/0"})  # nothing listens on port 9
    errors = cache_module.STATS["errors"]
    assert cached(run_trajectory, RunSpec(epochs=9)).loss.shape == (10,)
    assert cache_module.STATS["errors"] == errors + 1
    health = cache_module.cache_health()
    assert health["backend"] == "RedisCache" and health["reachable"] is False
