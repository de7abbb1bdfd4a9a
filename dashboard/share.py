"""Fair share of the web workers: one heavy computation per browser session at a time, a few per
client address.

A request that must compute (a cache miss) first takes its session's slot, held in the store every
web worker shares (the job store: a folder on one machine, Redis with REDIS_URL), and gives it back
when the request ends. A second request of the same session waits for the slot; if a newer request
of the same callback arrives meanwhile, the older one gives up at once (HTTP 204: the browser
would discard its answer anyway, as it shows only the newest). So one participant flooding the
server holds one thread computing and one waiting per callback, and everyone else's requests find
threads free. The session is one the server signed (dashboard/clients.py), so forged cookies count
as their address, and each client address computes at most ``ADDRESS_COMPUTING`` things at once with
at most ``ADDRESS_WAITING`` more waiting: many sessions from one address still hold a few threads.
Several requests that need the same result compute it once (``single_flight``). A slot whose holder
died is free again after ``LEASE_S``; waiting longer than ``WAIT_S`` answers with a message instead
of a figure.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from dash.exceptions import PreventUpdate
from flask import Flask, g, has_request_context, request

from dashboard.clients import Client
from dashboard.settings import ClientLimits
from dashboard.store import Store

log = logging.getLogger(__name__)
WAIT_S = 20.0
LEASE_S = 65.0  # gunicorn's timeout (60 s) and a margin: a slot outlives no worker by much
POLL_S = 0.05
CROWDED_S = 0.25  # a request that finds its address's waiting places taken tries this long before "busy"


class Busy(RuntimeError):
    """Waited too long for this session's previous computation, or its network has too many
    waiting already: say so, draw nothing."""


class Gate:
    """Slots in a shared ``Store``: one per session, ``ADDRESS_COMPUTING`` per client address, and
    at most ``ADDRESS_WAITING`` requests of one address waiting for them (each holds a thread)."""

    def __init__(self, store: Store, limits: ClientLimits | None = None, wait_s: float = WAIT_S,
                 lease_s: float = LEASE_S) -> None:
        self.store, self.limits = store, limits or ClientLimits()
        self.wait_s, self.lease_s = wait_s, lease_s

    def acquire(self, who: Client, callback: str, order: tuple[str, int] | None = None) -> str:
        """Take ``who``'s session slot and one of its address's slots for ``callback``; returns the
        token to release them with. Raises PreventUpdate when a newer request of the same callback
        replaced this one, and Busy when the slots stayed taken for ``wait_s`` or the address has
        ``ADDRESS_WAITING`` requests waiting already.

        ``order``: (the page, its request number) as the browser numbered it (``ORDER_HOOK``). Newer
        is then the browser's order, not the order the requests reached a thread (two requests sent
        10 ms apart may arrive the other way round: the newer one gave up, and the page kept the
        older answer); and each page of a session (two tabs) replaces only its own requests."""
        token = uuid.uuid4().hex
        page, number = order if order is not None else ("", None)
        # a newer request of the same callback replaces a waiting one: the same person's (a session
        # the server issued), never another's who shares an address (their change would be lost)
        slot = f"slot:{who.session}"
        waiter = f"waiter:{who.session}:{callback}:{page}" + ("" if who.signed else token)
        crowd, queue = f"crowd:{who.address}", f"queue:{who.address}"
        with self.store.locked(f"gate:{who.address}"):
            if number is not None and number < _waiter(self.store.get(waiter))[1]:
                raise PreventUpdate  # the browser sent a newer request of this callback already
            self.store.set(waiter, json.dumps([token, number]), expire=self.wait_s + 5)
        deadline = time.monotonic() + self.wait_s
        crowded_until = time.monotonic() + CROWDED_S
        waiting = False
        try:
            while True:
                with self.store.locked(f"gate:{who.address}"):
                    computing = self._entries(crowd)
                    if self._holder(slot) is None and len(computing) < self.limits.ADDRESS_COMPUTING:
                        until = time.time() + self.lease_s
                        self.store.set(slot, json.dumps({"token": token, "until": until}), expire=self.lease_s)
                        self._save(crowd, {**computing, token: until})
                        return token
                    if not waiting:
                        waiters = self._entries(queue)
                        if len(waiters) < self.limits.ADDRESS_WAITING:
                            self._save(queue, {**waiters, token: time.time() + self.wait_s + 5})
                            waiting = True
                        elif time.monotonic() > crowded_until:  # (a waiter this one replaced had time to leave)
                            raise Busy("Too many changes from your network are being computed just now; this "
                                       "one was skipped. Try again in a moment.")
                if _waiter(self.store.get(waiter))[0] != token:
                    raise PreventUpdate  # a newer request of this callback waits now; this one's answer is stale
                if time.monotonic() > deadline:
                    raise Busy(f"Your previous change is still being computed (more than {self.wait_s:.0f} s); "
                               "this one was skipped. Try again in a moment.")
                time.sleep(POLL_S)
        finally:
            if waiting:
                with self.store.locked(f"gate:{who.address}"):
                    self._save(queue, {k: v for k, v in self._entries(queue).items() if k != token})

    def _entries(self, key: str) -> dict[str, float]:
        """The live entries (token: until) of a slot list."""
        try:
            entries = json.loads(self.store.get(key) or "{}")
        except ValueError:
            return {}
        if not isinstance(entries, dict):
            return {}
        now = time.time()
        return {k: v for k, v in entries.items() if isinstance(v, int | float) and v > now}

    def _save(self, key: str, entries: dict[str, float]) -> None:
        if entries:
            self.store.set(key, json.dumps(entries), expire=self.lease_s)
        else:
            self.store.delete(key)

    def _holder(self, slot: str) -> str | None:
        try:
            held = json.loads(self.store.get(slot) or "null")
        except ValueError:
            return None
        if not isinstance(held, dict) or held.get("until", 0) < time.time():
            return None
        return held.get("token")

    def release(self, who: Client, token: str) -> None:
        slot, crowd = f"slot:{who.session}", f"crowd:{who.address}"
        with self.store.locked(f"gate:{who.address}"):
            if self._holder(slot) == token:
                self.store.delete(slot)
            self._save(crowd, {k: v for k, v in self._entries(crowd).items() if k != token})


def _waiter(value: str | None) -> tuple[str | None, int]:
    """A waiter entry's (token, the browser's request number; -1 when it gave none)."""
    try:
        entry = json.loads(value or "null")
    except ValueError:
        entry = None
    if not isinstance(entry, list) or len(entry) != 2:
        return None, -1
    token, number = entry
    return token, number if isinstance(number, int) else -1


# The browser numbers its callback requests (Dash's request_pre hook, app.py): each page load picks a
# random name and counts up, and the request carries [name, number] as ``descent_order``.
ORDER_HOOK = ("function(payload) { const w = window; if (!w.descentPage) "
              "{ w.descentPage = Math.random().toString(36).slice(2, 12); } "
              "w.descentRequests = (w.descentRequests || 0) + 1; "
              "payload.descent_order = [w.descentPage, w.descentRequests]; }")


def request_order(body: Any) -> tuple[str, int] | None:
    """The browser's (page, number) of a callback request, when it is well formed."""
    order = body.get("descent_order") if isinstance(body, dict) else None
    if (isinstance(order, list) and len(order) == 2 and isinstance(order[0], str) and 0 < len(order[0]) <= 16
            and isinstance(order[1], int) and not isinstance(order[1], bool) and 0 <= order[1] < 2**53):
        return order[0], order[1]
    return None


_gate: Gate | None = None
_client: Callable[[], Client] | None = None


def install(server: Flask, gate: Gate, client: Callable[[], Client]) -> None:
    """Gate this server's heavy computations; ``client()`` names who asks."""
    global _gate, _client
    _gate, _client = gate, client

    @server.teardown_request
    def _release(_exc) -> None:
        token = g.pop("share_token", None)
        if token is not None and _gate is not None:
            _gate.release(*token)


def before_heavy_work() -> None:
    """Called before a computation in a request: takes the client's slots (once per request).
    Outside a request (background jobs, tests calling compute directly) it does nothing."""
    if _gate is None or _client is None or not has_request_context() or "share_token" in g:
        return
    body = request.get_json(silent=True)
    output = body.get("output", "") if isinstance(body, dict) else ""
    callback = hashlib.sha256(str(output).encode()).hexdigest()[:16]
    who = _client()
    g.share_token = (who, _gate.acquire(who, callback, request_order(body)))


@contextlib.contextmanager
def single_flight(keys: list[str], fetch: Callable[[str], Any]) -> Iterator[dict[str, Any]]:
    """Compute each result once however many requests need it at the same moment (a room's
    followers opening the presenter's new view): ``keys`` that no request computes now are claimed
    for this one; for those another request computes, wait (up to ``WAIT_S``) until ``fetch(key)``
    finds its value, which is yielded. The caller computes whatever is not yielded; its claims are
    let go when the block ends. Outside a request it yields nothing and claims nothing."""
    if _gate is None or not has_request_context() or not keys:
        yield {}
        return
    store, token = _gate.store, uuid.uuid4().hex
    try:
        mine = [k for k in keys if store.add(f"flight:{k}", token, expire=_gate.lease_s)]
    except Exception as err:  # the store does not answer: compute without sharing (the gate says why)
        log.warning("single flight skipped: %s", err)
        mine = []
        keys = []
    others, found = [k for k in keys if k not in mine], {}
    deadline = time.monotonic() + _gate.wait_s
    while others and time.monotonic() < deadline:
        time.sleep(POLL_S)
        for key in list(others):
            value = fetch(key)
            if value is not None:
                found[key] = value
                others.remove(key)
            elif _flying(store, key) is None:  # its computer is done (another worker's cache) or gone
                others.remove(key)
    try:
        yield found
    finally:
        with contextlib.suppress(Exception):
            for key in mine:
                if store.get(f"flight:{key}") == token:
                    store.delete(f"flight:{key}")


def _flying(store: Store, key: str) -> str | None:
    """Who computes ``key`` now (None: nobody, or the store does not answer)."""
    try:
        return store.get(f"flight:{key}")
    except Exception:
        return None
