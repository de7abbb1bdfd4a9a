"""Fair share of the web workers: one heavy computation per browser session at a time.

A request that must compute (a cache miss) first takes its session's slot, held in the store every
web worker shares (the job store: a folder on one machine, Redis with REDIS_URL), and gives it back
when the request ends. A second request of the same session waits for the slot; if a newer request
of the same callback arrives meanwhile, the older one gives up at once (HTTP 204: the browser
would discard its answer anyway, as it shows only the newest). So one participant flooding the
server holds one thread computing and one waiting per callback, and everyone else's requests find
threads free. A slot whose holder died is free again after ``LEASE_S``; waiting longer than
``WAIT_S`` answers with a message instead of a figure.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any

from dash.exceptions import PreventUpdate
from flask import Flask, g, has_request_context, request

WAIT_S = 20.0
LEASE_S = 65.0  # gunicorn's timeout (60 s) and a margin: a slot outlives no worker by much
POLL_S = 0.05


class Busy(RuntimeError):
    """Waited too long for this session's previous computation: say so, draw nothing."""


class Gate:
    """Session slots in a shared store (``get``/``set``/``delete``/``locked``, as dashboard.jobs')."""

    def __init__(self, store: Any, wait_s: float = WAIT_S, lease_s: float = LEASE_S) -> None:
        self.store, self.wait_s, self.lease_s = store, wait_s, lease_s

    def acquire(self, session: str, callback: str) -> str:
        """Take ``session``'s slot for ``callback``; returns the token to release it with.
        Raises PreventUpdate when a newer request of the same callback replaced this one, and
        Busy when the slot stayed taken for ``wait_s``."""
        token = uuid.uuid4().hex
        slot, waiter = f"slot:{session}", f"waiter:{session}:{callback}"
        self.store.set(waiter, token, expire=self.wait_s + 5)
        deadline = time.monotonic() + self.wait_s
        while True:
            with self.store.locked():
                held = self._holder(slot)
                if held is None:
                    self.store.set(slot, json.dumps({"token": token, "until": time.time() + self.lease_s}),
                                   expire=self.lease_s)
                    return token
            if self.store.get(waiter) != token:
                raise PreventUpdate  # a newer request of this callback waits now; this one's answer is stale
            if time.monotonic() > deadline:
                raise Busy(f"Your previous change is still being computed (more than {self.wait_s:.0f} s); "
                           "this one was skipped. Try again in a moment.")
            time.sleep(POLL_S)

    def _holder(self, slot: str) -> str | None:
        try:
            held = json.loads(self.store.get(slot) or "null")
        except ValueError:
            return None
        if not isinstance(held, dict) or held.get("until", 0) < time.time():
            return None
        return held.get("token")

    def release(self, session: str, token: str) -> None:
        slot = f"slot:{session}"
        with self.store.locked():
            if self._holder(slot) == token:
                self.store.delete(slot)


_gate: Gate | None = None
_session: Any = None


def install(server: Flask, gate: Gate, session: Any) -> None:
    """Gate this server's heavy computations; ``session()`` names the browser asking."""
    global _gate, _session
    _gate, _session = gate, session

    @server.teardown_request
    def _release(_exc) -> None:
        token = g.pop("share_token", None)
        if token is not None and _gate is not None:
            _gate.release(*token)


def before_heavy_work() -> None:
    """Called before a computation in a request: takes the session's slot (once per request).
    Outside a request (background jobs, tests calling compute directly) it does nothing."""
    if _gate is None or not has_request_context() or "share_token" in g:
        return
    body = request.get_json(silent=True)
    output = body.get("output", "") if isinstance(body, dict) else ""
    callback = hashlib.sha256(str(output).encode()).hexdigest()[:16]
    session = _session()
    g.share_token = (session, _gate.acquire(session, callback))
