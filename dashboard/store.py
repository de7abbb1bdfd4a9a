"""The store every web worker and job shares: JSON text and counters, never a pickle.

One small protocol, ``Store``, with two implementations: ``DiskStore`` (a diskcache folder, one
machine) and ``RedisStore`` (REDIS_URL). The job book, the fair-share gate, rooms, the rate
limiter and the job manager's values all take a ``Store``; nothing read back can run code.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Protocol

import diskcache

from dashboard.settings import Settings, settings

PREFIX = "descent-lab:job:"


class Store(Protocol):
    """Text values and counters with expiry, and one lock for read-modify-write sequences."""

    name: str  # how a message names it ("the job queue (Redis)")

    def get(self, key: str) -> str | None: ...

    def set(self, key: str, value: str, expire: float | None) -> None: ...

    def add(self, key: str, value: str, expire: float) -> bool:
        """Set ``key`` only when it is absent; whether it was set (atomic)."""

    def delete(self, *keys: str) -> None: ...

    def incr(self, key: str, expire: float) -> int:
        """Add one to a counter (0 when missing), atomically; it expires ``expire`` s after it was made."""

    def expires_at(self, key: str) -> float | None:
        """When ``key`` expires (epoch seconds), None when it is missing or never expires."""

    def locked(self, name: str = "book") -> contextlib.AbstractContextManager[None]:
        """Hold the lock ``name`` (one per thing kept consistent: the job book, one address's slots, rooms)."""


class SafeDisk(diskcache.Disk):
    """diskcache's Disk that stores only text, bytes and numbers and never unpickles a value or key:
    an entry in pickle mode (written by anyone else) reads as missing."""

    def store(self, value, read, key=diskcache.UNKNOWN):
        if not isinstance(value, str | bytes | int | float) or isinstance(value, bool):
            raise TypeError(f"the job store keeps text, not {type(value).__name__}")
        return super().store(value, read, key)

    def fetch(self, mode, filename, value, read):
        if mode == diskcache.core.MODE_PICKLE:
            raise KeyError("pickled entry refused")
        return super().fetch(mode, filename, value, read)

    def get(self, key, raw):
        if not raw:
            raise KeyError("pickled key refused")
        return super().get(key, raw)


class DiskStore:
    """The store on one machine: a diskcache folder shared by the web workers and the jobs."""

    name = "the job store (a folder)"

    def __init__(self, directory: str) -> None:
        self.cache = diskcache.Cache(directory, disk=SafeDisk, eviction_policy="none")

    def get(self, key: str) -> str | None:
        try:
            value = self.cache.get(PREFIX + key)
        except KeyError:
            return None
        if isinstance(value, int) and not isinstance(value, bool):  # a counter (incr)
            return str(value)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str, expire: float | None) -> None:
        self.cache.set(PREFIX + key, value, expire=expire)

    def add(self, key: str, value: str, expire: float) -> bool:
        return bool(self.cache.add(PREFIX + key, value, expire=expire))

    def delete(self, *keys: str) -> None:
        for key in keys:
            self.cache.delete(PREFIX + key)

    def incr(self, key: str, expire: float) -> int:
        self.cache.add(PREFIX + key, 0, expire=expire)
        return self.cache.incr(PREFIX + key)

    def expires_at(self, key: str) -> float | None:
        try:
            value, at = self.cache.get(PREFIX + key, expire_time=True)
        except KeyError:
            return None
        return None if value is None else at

    @contextlib.contextmanager
    def locked(self, name: str = "book") -> Iterator[None]:
        with self.cache.transact():  # sqlite's write lock (one for all names): held for microseconds
            yield

    def close(self) -> None:
        """Drop the connection (a forked job process opens its own)."""
        self.cache.close()


class RedisStore:
    """The store with REDIS_URL: shared by every web worker and Celery worker."""

    name = "the job queue (Redis)"

    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)

    def get(self, key: str) -> str | None:
        value = self.client.get(PREFIX + key)
        return value.decode() if value is not None else None

    def set(self, key: str, value: str, expire: float | None) -> None:
        self.client.set(PREFIX + key, value, ex=None if expire is None else max(1, int(expire)))

    def add(self, key: str, value: str, expire: float) -> bool:
        return bool(self.client.set(PREFIX + key, value, ex=max(1, int(expire)), nx=True))

    def delete(self, *keys: str) -> None:
        if keys:
            self.client.delete(*(PREFIX + k for k in keys))

    def incr(self, key: str, expire: float) -> int:
        with self.client.pipeline() as pipe:
            pipe.incr(PREFIX + key)
            pipe.expire(PREFIX + key, max(1, int(expire)), nx=True)
            return int(pipe.execute()[0])

    def expires_at(self, key: str) -> float | None:
        ttl = self.client.pttl(PREFIX + key)
        return None if ttl < 0 else time.time() + ttl / 1000

    @contextlib.contextmanager
    def locked(self, name: str = "book") -> Iterator[None]:
        # a lock per name, retried every 5 ms (redis-py's 100 ms made every waiter wait 100 ms: bench
        # load's flood put one global lock's waits at p95 103 ms)
        with self.client.lock(f"{PREFIX}lock:{name}", timeout=10, blocking_timeout=10, sleep=0.005):
            yield

    def close(self) -> None:
        self.client.close()


def shared_store(config: Settings | None = None) -> Store:
    """This deployment's store: Redis where jobs go to Celery, else the folder BACKGROUND_CACHE_DIR
    (default CACHE_ROOT/background) that this machine's web workers and jobs share."""
    config = config or settings()
    if config.stores.uses_celery:
        return RedisStore(config.stores.REDIS_URL)
    return DiskStore(str(config.folders.path("BACKGROUND_CACHE_DIR")))
