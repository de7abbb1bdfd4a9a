"""A landscape's points shared out across Celery workers (REDIS_URL): one job, one progress bar.

The job that draws a landscape runs on one Celery worker. With REDIS_URL it splits the plan's
missing points into blocks of SPREAD_BLOCK, writes the plan to Redis (a safetensors file and JSON
text: nothing read back is unpickled) with the block numbers on one list, and sends
LANDSCAPE_HELPERS helper tasks. The job and its helpers take blocks off the list until it is empty:

- The job never waits on helpers that do not come: with every worker busy it takes every block
  itself, as one process would.
- A helper refreshes a heartbeat key (time to live SPREAD_LOST_S) while it holds a block. A block
  that is neither finished nor held by a live heartbeat (its worker was killed) goes back on the
  list, and its points are computed again.
- A point's value does not depend on who computes it or on the other points of its block
  (``compute.landscape.evaluate_block``), so the values are one process's.
- The job reports one progress: the points finished anywhere, plus those of its own block so far.
- When the job ends (finished, cancelled, failed) it raises a stop flag: a helper finishes the
  block it holds and takes no other. If Redis fails mid-way, the job computes what is left itself.

It speaks to Redis directly, not through dashboard.store's ``Store``: it needs a list and bytes (a
plan of megabytes), which the store's protocol of short texts and counters does not carry, and it
exists only where there is a Redis.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from compute.errors import InvalidSpec
from compute.landscape import Evaluate, Plan, Values, evaluate_block, evaluate_plan, plan_data

log = logging.getLogger(__name__)

SPREAD_BLOCK = 16  # points a block: one ResNet-8 point on 10,000 images is ~2 s here
SPREAD_LOST_S = 5.0  # a held block whose heartbeat is older than this is lost and computed again
BEAT_S = 1.0  # how often a holder refreshes its heartbeat
POLL_S = 0.2  # how often the job looks for finished and lost blocks when it has none to take
GRACE_S = 1.0  # a block must look unheld this long before it is put back (a helper between take and beat)
# A block held longer than this many times the job's own slowest block (at least HELD_MIN_S) is
# put back too: a helper that hangs with a live heartbeat cannot hold the job forever.
HELD_FACTOR, HELD_MIN_S = 5.0, 30.0
EXPIRE_S = 3600  # every key of a spread expires: nothing is left behind by a job that died


def _key(spread: str, *parts: Any) -> str:
    return ":".join(["descent-lab:spread", spread, *map(str, parts)])


def _chunks(rows: np.ndarray, size: int) -> list[np.ndarray]:
    return [rows[s:s + size] for s in range(0, len(rows), size)]


class Spreader:
    """``evaluate_plan`` with the points shared out (see the module's note). ``client`` is a
    redis.Redis (bytes in and out); ``send(spread)`` starts one helper task on ``help_plan``."""

    def __init__(self, client: Any, send: Callable[[str], None], helpers: int, block: int = SPREAD_BLOCK,
                 lost_s: float = SPREAD_LOST_S) -> None:
        self.client, self.send, self.helpers = client, send, helpers
        self.block, self.lost_s = block, lost_s
        self.last: dict[str, int] = {}  # the last spread's counts: blocks, here, helped, requeued

    def __call__(self, plan: Plan, values: Values | None = None,
                 progress: Callable[[int, int], None] | None = None, device: str = "cpu") -> Values:
        import redis

        values = values or Values.empty(plan)
        blocks = [(name, rows) for name in plan.sets for rows in _chunks(np.flatnonzero(~values.done[name]), self.block)]
        if len(blocks) < 2 or self.helpers < 1:
            return evaluate_plan(plan, values, progress, device)
        spread = uuid.uuid4().hex
        pending = set(range(len(blocks)))
        self.last = {"blocks": len(blocks), "here": 0, "helped": 0, "requeued": 0}
        data = plan_data(plan)
        try:
            self._publish(spread, plan, blocks, device)
            for _ in range(min(self.helpers, len(blocks) - 1)):
                self.send(spread)
            self._run(spread, plan, blocks, pending, values, data, progress, device)
        except redis.RedisError as err:  # the store went away: finish here, as one process
            log.warning("spread %s: %s; computing the %d blocks left here", spread[:8], err, len(pending))
            for k in sorted(pending):
                self._here(plan, blocks[k], values, data, progress, device)
        finally:
            self._close(spread)
        if progress is not None:
            progress(plan.size, plan.size)
        return values

    def _publish(self, spread: str, plan: Plan, blocks: list[tuple[str, np.ndarray]], device: str) -> None:
        tensors, metadata = plan.to_tensors()
        with self.client.pipeline() as pipe:
            pipe.set(_key(spread, "plan"), save_tensors(tensors), ex=EXPIRE_S)
            pipe.set(_key(spread, "meta"), json.dumps({"plan": metadata, "device": device, "lost_s": self.lost_s,
                                                       "blocks": [[n, r.tolist()] for n, r in blocks]}), ex=EXPIRE_S)
            pipe.rpush(_key(spread, "todo"), *range(len(blocks)))
            pipe.expire(_key(spread, "todo"), EXPIRE_S)
            pipe.execute()

    def _run(self, spread: str, plan: Plan, blocks: list[tuple[str, np.ndarray]], pending: set[int],
             values: Values, data: dict, progress: Callable[[int, int], None] | None, device: str) -> None:
        unheld: dict[int, float] = {}
        held: dict[int, float] = {}
        slowest = 0.0
        while pending:
            self._collect(spread, blocks, pending, values)
            taken = self.client.lpop(_key(spread, "todo"))
            if taken is not None:
                k = int(taken)
                if k in pending:
                    def report(i: int, _n: int) -> None:
                        self._collect(spread, blocks, pending, values)
                        if progress is not None:
                            progress(min(plan.size, values.count + i), plan.size)

                    started = time.monotonic()
                    self._here(plan, blocks[k], values, data, report, device)
                    slowest = max(slowest, time.monotonic() - started)
                    pending.discard(k)
                    self.last["here"] += 1
                continue
            self._put_back_lost(spread, pending, unheld, held, max(HELD_MIN_S, HELD_FACTOR * slowest))
            if progress is not None:
                progress(values.count, plan.size)
            if pending:
                time.sleep(POLL_S)

    @staticmethod
    def _here(plan: Plan, block: tuple[str, np.ndarray], values: Values, data: dict,
              progress: Callable[[int, int], None] | None, device: str) -> None:
        name, rows = block
        loss, acc = evaluate_block(plan, name, rows, data, progress, device)
        values.loss[name][rows], values.acc[name][rows] = loss, acc
        values.done[name][rows] = True

    def _collect(self, spread: str, blocks: list[tuple[str, np.ndarray]], pending: set[int], values: Values) -> None:
        """Take the helpers' finished blocks into ``values``; a result that is not two float64
        arrays of the block's length is ignored (the block stays pending and is computed again)."""
        order = sorted(pending)
        with self.client.pipeline() as pipe:
            for k in order:
                pipe.get(_key(spread, "done", k))
            found = pipe.execute()
        for k, raw in zip(order, found):
            if raw is None:
                continue
            name, rows = blocks[k]
            try:
                tensors = load_tensors(raw)
                loss, acc = tensors["loss"].numpy(), tensors["acc"].numpy()
            except (SafetensorError, KeyError, ValueError):
                continue
            if loss.shape != rows.shape or acc.shape != rows.shape or loss.dtype != np.float64:
                continue
            values.loss[name][rows], values.acc[name][rows] = loss, acc
            values.done[name][rows] = True
            pending.discard(k)
            self.last["helped"] += 1

    def _put_back_lost(self, spread: str, pending: set[int], unheld: dict[int, float], held: dict[int, float],
                       held_max: float) -> None:
        """The list is empty: every pending block is held or lost. One with neither a live heartbeat
        nor a result for GRACE_S goes back on the list, and so does one held for over ``held_max``."""
        order = sorted(pending)
        with self.client.pipeline() as pipe:
            for k in order:
                pipe.exists(_key(spread, "beat", k), _key(spread, "done", k))
            found = pipe.execute()
        now = time.monotonic()
        for k, alive in zip(order, found):
            if alive:
                unheld.pop(k, None)
                if now - held.setdefault(k, now) <= held_max:
                    continue
                log.warning("spread %s: block %d held for over %.0f s; computing it again", spread[:8], k, held_max)
            elif now - unheld.setdefault(k, now) <= GRACE_S:
                continue
            else:
                log.warning("spread %s: block %d was lost with its worker; computing it again", spread[:8], k)
            self.client.rpush(_key(spread, "todo"), k)
            unheld.pop(k, None)
            held.pop(k, None)
            self.last["requeued"] += 1

    def _close(self, spread: str) -> None:
        try:
            with self.client.pipeline() as pipe:
                pipe.set(_key(spread, "stop"), 1, ex=EXPIRE_S)
                pipe.delete(_key(spread, "todo"), _key(spread, "plan"), _key(spread, "meta"))
                pipe.execute()
        except Exception as err:  # the keys expire on their own
            log.warning("spread %s: not closed (%s)", spread[:8], err)


def help_plan(client: Any, spread: str) -> int:
    """A helper task: take blocks of ``spread`` off its list and compute them until the list is
    empty or the job says stop; returns the number of blocks computed. A plan that cannot be
    read is left to the job (which computes every block nobody finishes)."""
    raw, meta = client.get(_key(spread, "plan")), client.get(_key(spread, "meta"))
    if raw is None or meta is None or client.exists(_key(spread, "stop")):
        return 0
    try:
        described = json.loads(meta)
        plan = Plan.from_tensors(load_tensors(raw), described["plan"])
        blocks = [(str(name), np.asarray(rows, dtype=np.int64)) for name, rows in described["blocks"]]
        device, lost_s = str(described["device"]), float(described["lost_s"])
        data = plan_data(plan)
    except (InvalidSpec, SafetensorError, KeyError, TypeError, ValueError) as err:
        log.warning("spread %s: the plan cannot be read (%s); leaving it to its job", spread[:8], err)
        return 0
    me = f"{socket.gethostname()}:{os.getpid()}"
    count = 0
    while not client.exists(_key(spread, "stop")):
        taken = client.lpop(_key(spread, "todo"))
        if taken is None:
            break
        k = int(taken)
        if not 0 <= k < len(blocks):
            continue
        beat = _Beat(client, _key(spread, "beat", k), me, lost_s)
        try:
            name, rows = blocks[k]
            loss, acc = evaluate_block(plan, name, rows, data, None, device)
            result = save_tensors({"loss": torch.from_numpy(np.asarray(loss, np.float64)),
                                   "acc": torch.from_numpy(np.asarray(acc, np.float64))})
            client.set(_key(spread, "done", k), result, ex=EXPIRE_S)
            count += 1
        finally:
            beat.stop()
    return count


class _Beat:
    """A held block's heartbeat: the key lives ``lost_s`` and is refreshed every BEAT_S until stopped."""

    def __init__(self, client: Any, key: str, me: str, lost_s: float) -> None:
        self.client, self.key, self.me, self.lost_s = client, key, me, lost_s
        self.done = threading.Event()
        self._set()
        threading.Thread(target=self._run, daemon=True, name="spread-beat").start()

    def _set(self) -> None:
        self.client.set(self.key, self.me, px=int(self.lost_s * 1000))

    def _run(self) -> None:
        while not self.done.wait(BEAT_S):
            try:
                self._set()
            except Exception as err:  # a store that blinks: the job may put the block back; that is all
                log.warning("spread heartbeat not written (%s)", err)

    def stop(self) -> None:
        self.done.set()
        try:
            self.client.delete(self.key)
        except Exception as err:
            log.warning("spread heartbeat not removed (%s)", err)


_CURRENT: dict[str, Spreader] = {}  # this process's spreader, when the app made one


def configure(spreader: Spreader | None) -> None:
    """Set the spreader of this process (the app does, with REDIS_URL); None: no spreading."""
    _CURRENT.clear()
    if spreader is not None:
        _CURRENT["spreader"] = spreader


def evaluator() -> Evaluate:
    """How this process evaluates a landscape's points: spread out when configured, else here."""
    return _CURRENT.get("spreader", evaluate_plan)
