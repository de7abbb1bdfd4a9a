"""Rates per client address: Flask-Limiter (fixed windows) counting in the shared ``Store``.

The limiter is the maintained library; what is ours is only the storage it counts in: the store
every web worker already shares (a folder on one machine, Redis with REDIS_URL), so a limit holds
across workers and machines. A limit that is reached answers 429 with one plain sentence.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, jsonify, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import Storage

from dashboard.store import Store

SCHEME = "descent-store"


class StoreStorage(Storage):
    """limits' storage interface (fixed windows: incr, get, get_expiry) over a ``Store``."""

    STORAGE_SCHEME = [SCHEME]  # noqa: RUF012 (limits' registry reads a list)

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, store: Store | None = None,
                 **options: Any) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        if store is None:
            raise ValueError("StoreStorage needs store=")
        self.store = store

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return Exception  # a store that fails (Redis gone) is the limiter's to swallow

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count = 0
        for _ in range(amount):
            count = self.store.incr(f"rate:{key}", expiry)
        return count

    def get(self, key: str) -> int:
        try:
            return int(self.store.get(f"rate:{key}") or 0)
        except ValueError:
            return 0

    def get_expiry(self, key: str) -> float:
        return self.store.expires_at(f"rate:{key}") or time.time()

    def check(self) -> bool:
        try:
            self.store.get("rate:check")
            return True
        except Exception:
            return False

    def reset(self) -> int | None:
        return None  # the store holds more than the limiter's counts: never cleared from here

    def clear(self, key: str) -> None:
        self.store.delete(f"rate:{key}")


def client_address() -> str:
    """The client's address (the peer's, or the one the trusted proxies forwarded: see ProxyFix)."""
    return get_remote_address() or "unknown"


def make_limiter(server: Flask, store: Store, json_under: str = "/room") -> Limiter:
    """A Flask-Limiter bound to ``server`` counting in ``store``, keyed by client address; routes opt
    in with ``@limiter.limit(...)``. A store that fails lets requests through (``swallow_errors``).
    Refusals are JSON under ``json_under`` (the rooms' endpoints, under the app's path), text elsewhere."""

    limiter = Limiter(client_address, app=server, storage_uri=f"{SCHEME}://", storage_options={"store": store},
                      strategy="fixed-window", swallow_errors=True, headers_enabled=True)

    @server.errorhandler(429)
    def _too_many(err: Any) -> tuple[Response, int]:
        sentence = (f"Too many requests from your network ({getattr(err, 'description', '') or 'a limit'}); "
                    "wait a minute and try again.")
        if request.path.startswith(json_under):
            return jsonify(error=sentence), 429
        return Response(sentence, status=429, mimetype="text/plain"), 429

    return limiter


def allowed(limiter: Limiter, rate: str, *identifiers: str) -> bool:
    """Count one more against ``rate`` ("60/minute") for ``identifiers``; whether it is still within.
    A store that fails allows it."""
    item: RateLimitItem = parse(rate)
    try:
        return limiter.limiter.hit(item, *identifiers)
    except Exception:
        return True
