"""The compute cache: results memoized on their frozen spec's ``cache_key()``.

One ``Cache`` object, bound to the Flask server by ``configure``; callbacks import
``cached`` and never touch the cache directly. Arrays are cached, never Plotly figures.
When the cache backend fails (Redis gone), the value is computed and served uncached.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask
from flask_caching import Cache
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)
cache = Cache()
T = TypeVar("T")
# This process's cache traffic, shown by /healthz: a hit was served from the cache, a miss was
# computed and stored, an error was computed without the cache (backend unreachable).
STATS = Counter(hits=0, misses=0, errors=0)
REDIS_TIMEOUT_S = 0.5  # a Redis that does not answer within this is treated as down


def cache_config(env: Mapping[str, str]) -> dict[str, Any]:
    """flask-caching settings from the environment.

    CACHE_TYPE: SimpleCache (default), FileSystemCache (with CACHE_DIR) or RedisCache
    (the default when REDIS_URL is set); CACHE_DEFAULT_TIMEOUT in seconds (default 3600);
    CACHE_THRESHOLD: most entries kept by SimpleCache/FileSystemCache (default 500).
    """
    kind = env.get("CACHE_TYPE") or ("RedisCache" if env.get("REDIS_URL") else "SimpleCache")
    config: dict[str, Any] = {
        "CACHE_TYPE": kind,
        "CACHE_DEFAULT_TIMEOUT": int(env.get("CACHE_DEFAULT_TIMEOUT", "3600")),
        "CACHE_THRESHOLD": int(env.get("CACHE_THRESHOLD", "500")),
        "CACHE_KEY_PREFIX": "descent-lab:",
    }
    if kind == "FileSystemCache":
        config["CACHE_DIR"] = env.get("CACHE_DIR", "cache-dir")
    if kind == "RedisCache":
        config["CACHE_REDIS_URL"] = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        # one try, no back-off: while Redis is down each request computes at once instead of waiting
        config["CACHE_OPTIONS"] = {"socket_timeout": REDIS_TIMEOUT_S, "socket_connect_timeout": REDIS_TIMEOUT_S,
                                   "retry": Retry(NoBackoff(), 0)}
    return config


def cache_health() -> dict[str, Any]:
    """The backend's name, whether it answers (a write and a read), and this process's counts."""
    backend = type(cache.cache).__name__
    try:
        cache.set("healthz", os.getpid(), timeout=60)
        reachable = cache.get("healthz") is not None
    except Exception:
        reachable = False
    return {"backend": backend, "reachable": reachable, **STATS}


def configure(server: Flask, env: Mapping[str, str] = os.environ) -> None:
    """Bind the cache to ``server``; it is also the cache's app outside any request, as in
    background jobs (a diskcache process or a Celery worker), which have no app context."""
    cache.init_app(server, config=cache_config(env))
    cache.app = server


def cached(fn: Callable[..., T], spec: Any, **extra: Any) -> T:
    """``fn(spec, **extra)``, memoized under the spec's cache key (``extra`` such as a progress
    callback must not change the result)."""
    key = f"{fn.__module__}.{fn.__qualname__}:{spec.cache_key()}"
    try:
        value = cache.get(key)
    except Exception as err:  # a cache backend that is down must not take the page down
        log.warning("cache get failed (%s); computing without the cache", err)
        STATS["errors"] += 1
        return fn(spec, **extra)
    if value is not None:
        STATS["hits"] += 1
        return value
    value = fn(spec, **extra)
    try:
        cache.set(key, value)
        STATS["misses"] += 1
    except Exception as err:
        log.warning("cache set failed (%s); serving an uncached result", err)
        STATS["errors"] += 1
    return value
