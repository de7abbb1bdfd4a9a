"""The compute cache: configured from the environment, keyed on specs, never fatal."""

import numpy as np
import pytest
from flask import Flask

from compute import GridSpec, OptimizerSpec, RunSpec, loss_grid, run_trajectory
from dashboard import cache as cache_module
from dashboard.cache import cache_config, cached
from dashboard.settings import Settings


@pytest.mark.parametrize(("env", "kind"), [
    ({}, "SimpleCache"),
    ({"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": "/tmp/x"}, "FileSystemCache"),
    ({"REDIS_URL": "redis://127.0.0.1:6399/0"}, "RedisCache"),
])
def test_backend_comes_from_the_environment(env, kind):
    config = cache_config(Settings.from_env(env))
    assert config["CACHE_TYPE"] == f"dashboard.cache.{kind}"
    if kind == "FileSystemCache":
        assert config["CACHE_DIR"] == "/tmp/x"
    if kind == "RedisCache":
        assert config["CACHE_REDIS_URL"] == env["REDIS_URL"]


def test_the_cache_may_have_a_redis_of_its_own():
    """compose.yaml gives the cache its own Redis (evicting freely) beside the store's (evicting nothing)."""
    config = cache_config(Settings.from_env({"REDIS_URL": "redis://store:6379/0", "CACHE_REDIS_URL": "redis://cache:6379/0"}))
    assert config["CACHE_TYPE"] == "dashboard.cache.RedisCache" and config["CACHE_REDIS_URL"] == "redis://cache:6379/0"


@pytest.fixture
def file_cache(tmp_path, monkeypatch):
    server = Flask("t")
    cache = cache_module.Cache()
    cache.init_app(server, config=cache_config(Settings.from_env({"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": str(tmp_path)})))
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
    cache_module.configure(server, Settings.from_env({"CACHE_TYPE": "SimpleCache"}))
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
    cache_module.configure(server, Settings.from_env({"REDIS_URL": "redis://127.0.0.1:9/0"}))  # nothing listens on port 9
    errors = cache_module.STATS["errors"]
    shared = []  # the fair share's slots live in the same store: not asked for while it is down
    monkeypatch.setattr(cache_module.share, "before_heavy_work", lambda: shared.append(1))
    assert cached(run_trajectory, RunSpec(epochs=9)).loss.shape == (10,)
    assert cache_module.STATS["errors"] == errors + 1 and shared == []
    health = cache_module.cache_health()
    assert health["backend"] == "RedisCache" and health["reachable"] is False


class Boom:
    """A pickle that would leave a file behind if anything unpickled it."""

    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


def _sweep():
    from compute.sweep import run_sweep
    from dashboard.state import build_sweep, from_query

    return run_sweep(build_sweep(from_query({"sweep.x_points": "7", "sweep.y_points": "5"})[0]))


@pytest.mark.parametrize("make", [
    lambda: run_trajectory(RunSpec(epochs=7, batch_size=10)),
    lambda: run_trajectory(RunSpec(epochs=50, optimizer=OptimizerSpec("sgd", (("lr", 3.0),)))),  # diverges
    lambda: loss_grid(GridSpec(resolution=9)),
    _sweep,
])
def test_cached_values_round_trip_exactly_without_pickle(make):
    value = make()
    data = cache_module.encode(value)
    assert b"\x80\x04" not in data[:8] and data.startswith(cache_module.ARRAYS)
    again = cache_module.decode(data)
    assert type(again) is type(value)
    for field in value.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(again, field), getattr(value, field))  # NaN == NaN here
    assert cache_module.decode(cache_module.encode({"a": [1, 2.5, None]})) == {"a": [1, 2.5, None]}
    with pytest.raises(TypeError):
        cache_module.encode(object())


def test_a_poisoned_file_cache_entry_is_never_run_and_is_recomputed(file_cache, tmp_path):
    import pickle
    import struct

    spec = RunSpec(epochs=6)
    expected = cached(run_trajectory, spec)
    key = f"compute.toy.run_trajectory:{spec.cache_key()}"
    backend = file_cache.cache
    path = backend._get_filename(key)
    marker = tmp_path / "ran"
    with open(path, "wb") as out:  # what an attacker with the folder would write: a pickle
        out.write(struct.pack("I", 0) + pickle.dumps(Boom(marker)))
    value = cached(run_trajectory, spec)
    assert not marker.exists()
    np.testing.assert_array_equal(value.loss, expected.loss)
    with open(path, "rb") as saved:
        assert saved.read()[4:].startswith(cache_module.ARRAYS), "the entry was rewritten in the safe format"


@pytest.mark.parametrize("data", [b"", b"garbage", cache_module.ARRAYS + b"not a zip", cache_module.PLAIN + b"{",
                                  cache_module.ARRAYS + b"PK\x03\x04"])
def test_entries_that_do_not_decode_are_misses(data):
    assert cache_module.decode(data) is None
