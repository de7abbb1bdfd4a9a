"""The compute cache: results memoized on their frozen spec's ``cache_key()``.

One ``Cache`` object, bound to the Flask server by ``configure``; callbacks import
``cached`` and never touch the cache directly. Arrays are cached, never Plotly figures.
When the cache backend fails (Redis gone), the value is computed and served uncached.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from flask import Flask
from flask_caching import Cache

log = logging.getLogger(__name__)
cache = Cache()
T = TypeVar("T")


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
    return config


def configure(server: Flask, env: Mapping[str, str] = os.environ) -> None:
    cache.init_app(server, config=cache_config(env))


def cached(fn: Callable[..., T], spec: Any, **extra: Any) -> T:
    """``fn(spec, **extra)``, memoized under the spec's cache key (``extra`` such as a progress
    callback must not change the result)."""
    key = f"{fn.__module__}.{fn.__qualname__}:{spec.cache_key()}"
    try:
        value = cache.get(key)
    except Exception:  # a cache backend that is down must not take the page down
        log.warning("cache get failed; computing without the cache", exc_info=True)
        return fn(spec, **extra)
    if value is not None:
        return value
    value = fn(spec, **extra)
    try:
        cache.set(key, value)
    except Exception:
        log.warning("cache set failed; serving an uncached result", exc_info=True)
    return value
