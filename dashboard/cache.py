"""The compute cache: results memoized on their frozen spec's ``cache_key()``.

One ``Cache`` object, bound to the Flask server by ``configure``; callbacks import
``cached`` and never touch the cache directly. Arrays are cached, never Plotly figures.
When the cache backend fails (Redis gone), the value is computed and served uncached.

Values are stored in a format that cannot run code, in every backend: compute results (frozen
dataclasses of arrays and plain values, from an allow-list) as safetensors bytes (the arrays, with
the other fields as JSON in its metadata; as fast to read as a pickle, 40x faster than .npz),
anything else as JSON. An entry that does not decode reads as a miss, so
it is computed again and overwritten; nothing in it runs.

It is flask-caching's, not dashboard.store's ``Store``: its values are large and may be evicted at
any time (least recently used first), where the store holds small ledgers that must never be.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from typing import IO, Any, TypeVar

import numpy as np
from flask import Flask
from flask_caching import Cache
from flask_caching.backends import filesystemcache, rediscache, simplecache
from redis.backoff import NoBackoff
from redis.retry import Retry
from safetensors.numpy import load as load_arrays
from safetensors.numpy import save as save_arrays

from compute.preview import Preview
from compute.sweep import SweepResult
from compute.toy import LossGrid, Trajectory
from dashboard import share
from dashboard.disk import megabytes, prune_lru, touch
from dashboard.settings import Settings, settings

log = logging.getLogger(__name__)
cache = Cache()
T = TypeVar("T")
# This process's cache traffic, shown by /healthz: a hit was served from the cache, a miss was
# computed and stored, an error was computed without the cache (backend unreachable).
STATS = Counter(hits=0, misses=0, errors=0)
REDIS_TIMEOUT_S = 0.5  # a Redis that does not answer within this is treated as down


# the compute results that may be cached, by name: decoding builds nothing else
CACHEABLE = {cls.__name__: cls for cls in (Trajectory, LossGrid, SweepResult, Preview)}
ARRAYS, PLAIN = b"DLsft1", b"DLjsn1"


def encode(value: Any) -> bytes:
    """Bytes of a cacheable result (safetensors: its arrays, its type and other fields as JSON in
    the metadata) or of plain JSON data. Raises TypeError for anything else."""
    if type(value).__name__ in CACHEABLE and type(value) is CACHEABLE[type(value).__name__]:
        arrays, fields = {}, {}
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, np.ndarray):
                arrays[field.name] = item
            else:
                fields[field.name] = item.item() if isinstance(item, np.generic) else item
        header = json.dumps({"type": type(value).__name__, "fields": fields})
        return ARRAYS + save_arrays(arrays, metadata={"descent_lab": header})
    return PLAIN + json.dumps(value, allow_nan=True).encode()


def decode(data: bytes | None) -> Any:
    """The value ``encode`` wrote, or None for anything that does not decode (never runs code)."""
    if not data:
        return None
    try:
        if data.startswith(PLAIN):
            return json.loads(data[len(PLAIN):])
        if data.startswith(ARRAYS):
            body = data[len(ARRAYS):]
            size = int.from_bytes(body[:8], "little")  # safetensors: 8-byte header length, JSON header
            header = json.loads(json.loads(body[8:8 + size])["__metadata__"]["descent_lab"])
            cls = CACHEABLE[header["type"]]
            return cls(**header["fields"], **load_arrays(body))
    except Exception as err:  # a damaged or foreign entry: a miss
        log.warning("cache entry dropped: %s", type(err).__name__)
    return None


class SafeSerializer:
    """cachelib's serializer interface (bytes for Redis and the in-process cache, a stream for the
    file cache) over ``encode``/``decode``: no pickle either way."""

    def dumps(self, value: Any) -> bytes:
        return encode(value)

    def loads(self, data: bytes | None) -> Any:
        return decode(data)

    def dump(self, value: Any, out: IO[bytes]) -> None:
        out.write(encode(value))

    def load(self, stream: IO[bytes]) -> Any:
        return decode(stream.read())


class SimpleCache(simplecache.SimpleCache):
    serializer = SafeSerializer()


class FileSystemCache(filesystemcache.FileSystemCache):
    """The file cache, in the safe format, within CACHE_DIR_MAX_MB (least recently used out first)."""

    serializer = SafeSerializer()

    def get(self, key: str) -> Any:
        value = super().get(key)
        if value is not None:
            touch(self._get_filename(key))
        return value

    def set(self, key: str, value: Any, timeout: Any = None, mgmt_element: bool = False) -> bool:
        stored = super().set(key, value, timeout, mgmt_element)
        if stored and not mgmt_element:
            prune_lru(self._path, megabytes(settings().stores.CACHE_DIR_MAX_MB), keep=self._get_filename(key))
        return stored


class RedisCache(rediscache.RedisCache):
    serializer = SafeSerializer()


BACKENDS = {cls.__name__: f"{__name__}.{cls.__name__}" for cls in (SimpleCache, FileSystemCache, RedisCache)}


def cache_config(config: Settings) -> dict[str, Any]:
    """flask-caching settings from the server's settings.

    CACHE_TYPE: SimpleCache (default), FileSystemCache (in CACHE_DIR) or RedisCache (the default
    when REDIS_URL is set), on CACHE_REDIS_URL (default REDIS_URL: a Redis of its own lets the cache
    evict freely without touching the job book, rooms and rates).
    """
    stores = config.stores
    kind = stores.cache_type
    options: dict[str, Any] = {
        "CACHE_TYPE": BACKENDS[kind],
        "CACHE_DEFAULT_TIMEOUT": stores.CACHE_DEFAULT_TIMEOUT,
        "CACHE_THRESHOLD": stores.CACHE_THRESHOLD,
        "CACHE_KEY_PREFIX": "descent-lab:",
    }
    if kind == "FileSystemCache":
        options["CACHE_DIR"] = str(config.folders.path("CACHE_DIR"))
    if kind == "RedisCache":
        options["CACHE_REDIS_URL"] = stores.CACHE_REDIS_URL or stores.REDIS_URL or "redis://127.0.0.1:6379/0"
        # one try, no back-off: while Redis is down each request computes at once instead of waiting
        options["CACHE_OPTIONS"] = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S,
                                    "retry": Retry(NoBackoff(), 0)}
    return options


def cache_health() -> dict[str, Any]:
    """The backend's name, whether it answers (a write and a read), and this process's counts."""
    backend = type(cache.cache).__name__
    try:
        cache.set("healthz", os.getpid(), timeout=60)
        reachable = cache.get("healthz") is not None
    except Exception:
        reachable = False
    return {"backend": backend, "reachable": reachable, **STATS}


def configure(server: Flask, config: Settings | None = None) -> None:
    """Bind the cache to ``server``; it is also the cache's app outside any request, as in
    background jobs (a diskcache process or a Celery worker), which have no app context."""
    cache.init_app(server, config=cache_config(config or settings()))
    cache.app = server


def _key(fn: Callable[..., Any], spec: Any) -> str:
    return f"{fn.__module__}.{fn.__qualname__}:{spec.cache_key()}"


_DOWN = object()  # the backend failed: compute, and do not try to store


def _get(key: str) -> Any:
    """The cached value, None on a miss, or _DOWN when the backend fails (logged, counted)."""
    try:
        return cache.get(key)
    except Exception as err:  # a cache backend that is down must not take the page down
        log.warning("cache get failed (%s); computing without the cache", err)
        STATS["errors"] += 1
        return _DOWN


def _set(key: str, value: Any) -> None:
    try:
        cache.set(key, value)
        STATS["misses"] += 1
    except Exception as err:
        log.warning("cache set failed (%s); serving an uncached result", err)
        STATS["errors"] += 1


def cached(fn: Callable[..., T], spec: Any, **extra: Any) -> T:
    """``fn(spec, **extra)``, memoized under the spec's cache key (``extra`` such as a progress
    callback must not change the result)."""
    return cached_each(fn, lambda specs: [fn(s, **extra) for s in specs], [spec])[0]


def cached_each(fn: Callable[..., T], together: Callable[[list], list[T]], specs: list) -> list[T]:
    """``[fn(s) for s in specs]``, each memoized under ``fn``'s key; the misses are computed in
    one call of ``together`` (which must equal ``fn`` on each, as ``run_trajectories`` does for
    ``run_trajectory``)."""
    if getattr(cache, "app", None) is None:  # no app (the exports' CLI): nothing to share, compute
        return together(list(specs))
    keys = [_key(fn, spec) for spec in specs]
    values = [_get(k) for k in keys]
    missing = [i for i, value in enumerate(values) if value is None or value is _DOWN]
    STATS["hits"] += len(specs) - len(missing)
    if missing:
        claim = [keys[i] for i in missing if values[i] is None]  # a store that is down shares nothing
        with share.single_flight(claim, _fetch) as found:
            for i in missing:
                values[i] = found.get(keys[i], values[i])
            STATS["hits"] += len(found)
            todo = [i for i in missing if keys[i] not in found]
            if todo:
                if any(values[i] is None for i in todo):
                    share.before_heavy_work()  # one computation per browser session at a time
                for i, value in zip(todo, together([specs[i] for i in todo]), strict=True):
                    if values[i] is None:
                        _set(keys[i], value)
                    values[i] = value
    return values


def _fetch(key: str) -> Any:
    """The cached value, or None (a miss, or the backend down)."""
    value = _get(key)
    return None if value is _DOWN else value
