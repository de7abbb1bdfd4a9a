"""The job book: a small ledger of who runs, who waits (in order) and how each job ended, in the
shared store (JSON text only), with the caps and deadlines it keeps.

- **Admission.** At most ``JOBS_MAX`` jobs run at once on the server, a browser session holds at
  most ``JOBS_PER_SESSION`` (running or queued) and a client address ``JOBS_PER_ADDRESS``; the rest
  wait in one FIFO queue of at most ``JOBS_QUEUE`` entries, and the page shows its position.
- **Liveness.** A running job writes a heartbeat every second (its pid, and when it last reported
  progress). A poll that finds it dead (its process gone, or its heartbeat older than
  ``JOBS_LOST_S`` where the process cannot be seen) reports the job lost; one that finds no
  progress for ``JOBS_STALL_S`` stops it and says so: a page never polls forever.
- **Abandoned jobs stop.** Each poll is recorded; a job nobody has polled for ``JOBS_ABANDON_S``
  stops itself (dashboard/jobs/run.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _plotly_utils.utils import PlotlyJSONEncoder

from dashboard.clients import Client
from dashboard.settings import JobLimits
from dashboard.store import Store

HEARTBEAT_S = 1.0
GRACE_S = 10.0  # a stopped job that does not reach its next progress report exits after this


class JobRefused(RuntimeError):
    """A job that cannot be queued (queue full, session at its cap) or followed (its store is
    unreachable): the message says why, to the person waiting."""


class JobStopped(Exception):
    """Raised inside a job at a progress report once it was cancelled or abandoned."""


def dumps(value: Any) -> str:
    """JSON text of a callback value (figures, NoUpdate, numpy scalars) as Dash's Celery path writes it."""
    return json.dumps(value, cls=PlotlyJSONEncoder)


@dataclass(frozen=True, slots=True)
class JobState:
    """What a poll learns: ``state`` is queued, running, done, or ended (with ``message``)."""

    state: str
    ahead: int = 0
    message: str = ""


class JobBook:
    """The shared ledger: who runs, who waits (in order), and how each job ended.

    Keys: ``book`` (``{"running": [...], "queued": [...]}``, entries ``{id, session, address, at}``),
    ``payload:ID`` (what to run), ``beat:ID`` (heartbeat), ``poll:ID`` (last poll),
    ``end:ID`` (why a job ended without a result), ``stop:ID`` (a request to stop).
    """

    def __init__(self, store: Store, limits: JobLimits, clock: Callable[[], float] = time.time,
                 alive: Callable[[dict[str, Any]], bool | None] | None = None) -> None:
        """``alive(heartbeat)``, where jobs run on this machine: whether the process that wrote the
        heartbeat still runs (None: cannot tell). Without it, only the heartbeat's age speaks."""
        self.store, self.limits, self.clock, self.alive = store, limits, clock, alive

    # --- the ledger ---
    def _book(self) -> dict[str, list[dict[str, Any]]]:
        try:
            book = json.loads(self.store.get("book") or "{}")
        except ValueError:
            book = {}
        return {"running": list(book.get("running", [])), "queued": list(book.get("queued", []))}

    def _save(self, book: dict[str, list[dict[str, Any]]]) -> None:
        self.store.set("book", json.dumps(book), expire=None)  # no time to live: Redis never evicts it

    def _get_json(self, key: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self.store.get(key) or "null")
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def submit(self, job: str, who: Client, payload: dict[str, Any]) -> list[str]:
        """Queue ``job`` for ``who``; returns the jobs to start now (admitted in order: it may be
        this one, or others that were waiting). Raises JobRefused when the session, its address or
        the queue is full."""
        now = self.clock()
        self.store.set(f"payload:{job}", dumps(payload), expire=self.limits.JOBS_EXPIRE_S)
        self.store.set(f"poll:{job}", str(now), expire=self.limits.JOBS_EXPIRE_S)
        with self.store.locked():
            book = self._book()
            self._drop_gone(book, now)
            held = book["running"] + book["queued"]
            mine = sum(e["session"] == who.session for e in held)
            if mine >= self.limits.JOBS_PER_SESSION:
                raise JobRefused(f"Not started: you already have {mine} jobs running or waiting "
                                 f"(at most {self.limits.JOBS_PER_SESSION} a person); cancel one or "
                                 "wait for it to finish.")
            if len(book["queued"]) >= self.limits.JOBS_QUEUE:
                raise JobRefused(f"Not started: the server is busy ({len(book['running'])} jobs running, "
                                 f"{len(book['queued'])} waiting); try again in a minute.")
            ours = sum(e.get("address") == who.address for e in held)
            if ours >= self.limits.JOBS_PER_ADDRESS:
                raise JobRefused(f"Not started: your network already has {ours} jobs running or waiting (at "
                                 f"most {self.limits.JOBS_PER_ADDRESS} an address); try again in a minute.")
            book["queued"].append({"id": job, "session": who.session, "address": who.address, "at": now})
            started = self._admit(book, now)
            self._save(book)
        return started

    def _admit(self, book: dict[str, list[dict[str, Any]]], now: float) -> list[str]:
        started = []
        while book["queued"] and len(book["running"]) < self.limits.JOBS_MAX:
            entry = book["queued"].pop(0)
            entry["at"] = now
            book["running"].append(entry)
            started.append(entry["id"])
        return started

    def _drop_gone(self, book: dict[str, list[dict[str, Any]]], now: float) -> None:
        """Take off the book what is gone: queued jobs nobody polls any more (running ones stop
        themselves), and running jobs whose process is gone, even when nobody polls them."""
        kept = []
        for entry in book["queued"]:
            if now - self.last_poll(entry["id"]) > self.limits.JOBS_ABANDON_S:
                self._end(entry["id"], "abandoned", ABANDONED)
            else:
                kept.append(entry)
        book["queued"] = kept
        alive = []
        for entry in book["running"]:
            why = self._dead(entry, now)
            if why:
                self._end(entry["id"], "lost", why)
            else:
                alive.append(entry)
        book["running"] = alive

    def _dead(self, entry: dict[str, Any], now: float) -> str | None:
        """Why a running entry is dead (no heartbeat since its start; its process gone; or, where
        the process cannot be seen, an old heartbeat), or None. A live process whose heartbeat is
        late (a loaded machine) is not lost; one that makes no progress meets JOBS_STALL_S."""
        beat = self.heartbeat(entry["id"])
        if beat is None:
            return NEVER_STARTED if now - entry["at"] > self.limits.JOBS_START_S else None
        alive = self.alive(beat) if self.alive is not None else None
        if alive is not None:
            return None if alive else LOST
        return LOST if now - beat.get("at", 0.0) > self.limits.JOBS_LOST_S else None

    def admit(self) -> list[str]:
        """Move waiting jobs into free slots; returns the ones to start now."""
        book, now = self._book(), self.clock()
        if not book["queued"] or (len(book["running"]) >= self.limits.JOBS_MAX
                                  and not any(self._dead(e, now) for e in book["running"])):
            return []
        with self.store.locked():
            book = self._book()
            self._drop_gone(book, now)
            started = self._admit(book, now)
            self._save(book)
        return started

    def release(self, job: str) -> None:
        """Take ``job`` off the book (it ended). The slot goes to a waiting job at the next ``admit``."""
        with self.store.locked():
            book = self._book()
            self._save({part: [e for e in entries if e["id"] != job] for part, entries in book.items()})

    def counts(self) -> dict[str, int]:
        """How many jobs run and wait now, and the cap (for /healthz)."""
        book = self._book()
        return {"running": len(book["running"]), "queued": len(book["queued"]), "max": self.limits.JOBS_MAX}

    # --- one job ---
    def payload(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"payload:{job}")

    def polled(self, job: str) -> None:
        self.store.set(f"poll:{job}", str(self.clock()), expire=self.limits.JOBS_EXPIRE_S)

    def last_poll(self, job: str) -> float:
        try:
            return float(self.store.get(f"poll:{job}") or 0.0)
        except ValueError:
            return 0.0

    def beat(self, job: str, progress_at: float) -> None:
        self.store.set(f"beat:{job}", json.dumps({"at": self.clock(), "pid": os.getpid(),
                                                   "progress_at": progress_at}),
                       expire=self.limits.JOBS_EXPIRE_S)

    def heartbeat(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"beat:{job}")

    def _end(self, job: str, state: str, message: str) -> None:
        self.store.set(f"end:{job}", json.dumps({"state": state, "message": message}),
                       expire=self.limits.JOBS_EXPIRE_S)

    def end(self, job: str, state: str, message: str) -> None:
        """Record why ``job`` ended without a result and take it off the book."""
        self._end(job, state, message)
        self.release(job)

    def ending(self, job: str) -> dict[str, Any] | None:
        return self._get_json(f"end:{job}")

    def ask_to_stop(self, job: str, why: str) -> None:
        self.store.set(f"stop:{job}", why, expire=self.limits.JOBS_EXPIRE_S)

    def stop_reason(self, job: str) -> str | None:
        return self.store.get(f"stop:{job}")

    def state(self, job: str) -> JobState:
        """Where ``job`` stands; a running job past its deadlines is ended here (lost or stalled)."""
        ended = self.ending(job)
        if ended is not None:
            return JobState("ended", message=ended.get("message", "The job ended."))
        book = self._book()
        queued = [e["id"] for e in book["queued"]]
        if job in queued:
            return JobState("queued", ahead=queued.index(job))
        running = next((e for e in book["running"] if e["id"] == job), None)
        if running is None:
            return JobState("done")  # finished (its result is in the store) or never known
        now = self.clock()
        why = self._dead(running, now)
        if why and any(e["id"] == job for e in self._book()["running"]):
            return self._lost(job, why)
        if why:  # it ended between the two reads of the book: its result is stored, not lost
            return JobState("done")
        beat = self.heartbeat(job) or {}
        if now - beat.get("progress_at", now) > self.limits.JOBS_STALL_S:
            self.ask_to_stop(job, "stalled")
            return self._lost(job, f"Stopped: the job made no progress for {self.limits.JOBS_STALL_S:.0f} s.")
        return JobState("running")

    def _lost(self, job: str, message: str) -> JobState:
        self.end(job, "lost", message)
        return JobState("ended", message=message)

    def forget(self, job: str) -> None:
        self.store.delete(*(f"{part}:{job}" for part in ("payload", "beat", "poll", "end", "stop")))


ABANDONED = "Stopped: nobody was watching this job."
LOST = "Lost: the process running this job stopped. Run it again."
NEVER_STARTED = "Lost: the job never started (its worker is gone or busy). Run it again."


def queued_text(ahead: int) -> str:
    return ("Waiting: yours is next." if ahead == 0
            else f"Waiting: {ahead} job{'s' if ahead > 1 else ''} ahead of yours.")


def progress_key(job: str) -> str:
    """Where a running job leaves its latest progress for the next poll."""
    return f"{job}-progress"


def props_key(job: str) -> str:
    """Where a running job leaves the properties it sets (``set_props``) for the next poll."""
    return f"{job}-set_props"
