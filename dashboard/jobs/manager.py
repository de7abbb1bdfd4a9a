"""The web side of the background jobs: the one manager Dash hands its background callbacks to.

Every value it keeps is JSON text in a shared ``Store``; every job goes through the job book
(dashboard/jobs/book.py). Where a job runs is the one thing that differs between deployments, so it
is injected: a ``Launcher`` starts a job somewhere (a forkserver's child on this machine,
dashboard/jobs/local.py; a Celery task with REDIS_URL, dashboard/jobs/celery.py), stops one at
once where it can, and says whether a job's process is alive where it can see it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from dashboard.clients import Client
from dashboard.compat import BaseBackgroundCallbackManager
from dashboard.jobs.book import JobBook, JobLimits, JobRefused, progress_key, props_key, queued_text
from dashboard.store import Store

log = logging.getLogger(__name__)


class Launcher(Protocol):
    """Where jobs run."""

    def launch(self, job: str) -> None:
        """Start ``job`` (its payload is in the book); it runs ``Executor.execute(job)`` there."""

    def kill(self, pid: Any) -> None:
        """Stop the job process ``pid`` at once where possible (else it stops at its next progress report)."""

    def alive(self, beat: dict[str, Any]) -> bool | None:
        """Whether the process that wrote heartbeat ``beat`` runs; None where it cannot be seen."""

    def warm(self) -> None:
        """Get ready off the request path (a forkserver imports the pages once)."""


class Jobs(BaseBackgroundCallbackManager):
    """Dash's background-callback manager over the job book, with jobs started by ``launcher``."""

    def __init__(self, store: Store, limits: JobLimits, client: Callable[[], Client],
                 queued_progress: Callable[[str], list[Any]], launcher: Launcher) -> None:
        super().__init__(cache_by=None)
        self.store, self.launcher, self.client, self.queued_progress = store, launcher, client, queued_progress
        self.book = JobBook(store, limits, alive=launcher.alive)

    def warm(self) -> None:
        self.launcher.warm()

    # Dash's manager API ---------------------------------------------------------------
    def build_cache_key(self, fn, args, cache_args_to_ignore, triggered):
        return uuid.uuid4().hex  # one key per job: two people asking the same never share a result

    def make_job_fn(self, fn, progress, key=None):
        return {"key": key, "fn": fn, "progress": bool(progress)}

    def call_job_fn(self, key, job_fn, args, context):
        context = {k: v for k, v in dict(context).items() if k != "updated_props"}
        payload = {"callback": job_fn["key"], "args": args, "context": context}
        try:
            started = self.book.submit(key, self.client(), payload)
        except JobRefused:
            raise
        except Exception as err:
            raise JobRefused(f"Not started: {self.store.name} is unreachable just now. The other views "
                             "still work; try again in a moment.") from err
        self._start(started)
        return key

    def _start(self, jobs: list[str]) -> None:
        for job in jobs:
            try:
                self.launcher.launch(job)
            except Exception:
                log.exception("job %s could not be started", job)
                self.book.end(job, "failed", "Not started: the server could not start a job process just now; "
                                             "try again in a moment.")

    @contextlib.contextmanager
    def _followed(self) -> Iterator[None]:
        """A poll that cannot reach the store says so (the job cannot report there either)."""
        try:
            yield
        except JobRefused:
            raise
        except Exception as err:
            log.warning("job store unreachable during a poll: %s", err)
            raise JobRefused(f"Lost: {self.store.name} became unreachable while this job ran. "
                             "Run it again when it is back.") from err

    def get_progress(self, key):
        with self._followed():
            return self._progress(key)

    def _progress(self, key):
        self.book.polled(key)
        self._start(self.book.admit())
        state = self.book.state(key)
        if state.state == "queued":
            return self.queued_progress(queued_text(state.ahead))
        value = self.store.get(progress_key(key))
        if value is None:
            return None
        self.store.delete(progress_key(key))
        return json.loads(value)

    def result_ready(self, key):
        return self.store.get(key) is not None

    def get_result(self, key, job):
        with self._followed():
            return self._result(key)

    def _result(self, key):
        self.book.polled(key)
        value = self.store.get(key)
        if value is not None:
            self.store.delete(key, progress_key(key))
            self.book.release(key)  # (the job releases itself too; this is idempotent)
            self.book.forget(key)
            self._start(self.book.admit())
            try:
                return json.loads(value)
            except ValueError:
                return {"background_callback_error": {"msg": "The job's result could not be read.", "tb": ""}}
        state = self.book.state(key)
        if state.state == "ended":
            self.book.forget(key)
            return {"background_callback_error": {"msg": state.message, "tb": ""}}
        return self.UNDEFINED

    def job_running(self, job):
        if job is None:
            return False
        with self._followed():
            # A result stored after this poll's get_result looked is collected by the next poll: the
            # job counts as running until then (else Dash would answer "no update" and stop polling).
            # So does an ending recorded meanwhile (Cancel, sent while this poll was under way: the
            # page kept its last progress and never said "Cancelled."). One collected by this poll
            # was taken off the book, so Dash does not cancel it.
            return (self.book.state(job).state in ("queued", "running", "ended")
                    or self.store.get(job) is not None)

    def terminate_job(self, job):
        if job is None:
            return
        self.book.ask_to_stop(job, "cancelled")
        self.book.end(job, "cancelled", "Cancelled.")
        beat = self.book.heartbeat(job)
        if beat is not None:
            self.launcher.kill(beat.get("pid"))
        self._start(self.book.admit())

    def terminate_unhealthy_job(self, job):
        return False

    def get_updated_props(self, key):
        value = self.store.get(props_key(key))
        if value is None:
            return {}
        self.store.delete(props_key(key))
        return json.loads(value)

    def clear_cache_entry(self, key):
        self.store.delete(key)

    def get_or_create_signing_secret(self, generate):
        raise NotImplementedError  # the app always sets SECRET_KEY (see dashboard.hosting.secret_key)
