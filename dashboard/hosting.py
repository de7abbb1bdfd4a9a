"""How the app is hosted: which background-callback manager runs the long jobs, and /healthz.

One machine (the default): background jobs (sweeps, landscapes) run in processes on the web
machine, their progress and results in a diskcache folder. Scale-out (REDIS_URL set): Dash's
CeleryManager sends the jobs to Celery workers (``make worker``) through the same Redis that
holds the compute cache, so web and worker machines can be added independently.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import diskcache
from dash import CeleryManager, DiskcacheManager
from flask import Flask, jsonify

from dashboard.cache import REDIS_TIMEOUT_S, cache_health
from dashboard.errors import JobQueueDown

ROOT = Path(__file__).resolve().parents[1]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
JOB_EXPIRE_S = 600  # a finished job's result is kept this long for the page to collect


def make_celery(redis_url: str) -> Any:
    """The Celery app of the background jobs: Redis as broker and result backend.

    Connection attempts are short and few, so a web request never hangs on a Redis that is
    gone: the job fails with a message instead and the next one tries again.
    """
    from celery import Celery

    celery = Celery("descent_lab", broker=redis_url, backend=redis_url)
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": REDIS_TIMEOUT_S * 4}
    celery.conf.update(
        broker_transport_options={**timeouts, "max_retries": 1},
        result_backend_transport_options={**timeouts, "retry_policy": {"max_retries": 0}},
        redis_socket_timeout=5,
        redis_socket_connect_timeout=REDIS_TIMEOUT_S * 4,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        broker_connection_retry_on_startup=True,
        result_expires=JOB_EXPIRE_S,
        worker_prefetch_multiplier=1,  # long jobs: a worker takes one at a time
        task_acks_late=True,
    )
    return celery


class QueueManager(CeleryManager):
    """CeleryManager that says so when the queue is unreachable, instead of a bare traceback."""

    def call_job_fn(self, key, job_fn, args, context):
        try:
            return super().call_job_fn(key, job_fn, args, context)
        except Exception as err:
            raise JobQueueDown("Not started: the job queue (Redis) is unreachable just now. The other "
                               "views still work; try again in a moment.") from err


def background_manager(env: Mapping[str, str] = os.environ) -> tuple[Any, Any]:
    """(manager, celery app or None) from the environment.

    REDIS_URL set (and BACKGROUND_MANAGER not "diskcache"): CeleryManager on that Redis.
    Otherwise DiskcacheManager in BACKGROUND_CACHE_DIR (default cache-dir/background).
    """
    redis_url = env.get("REDIS_URL")
    if redis_url and env.get("BACKGROUND_MANAGER", "celery") == "celery":
        celery = make_celery(redis_url)
        return QueueManager(celery, expire=JOB_EXPIRE_S), celery
    directory = env.get("BACKGROUND_CACHE_DIR", str(ROOT / "cache-dir" / "background"))
    return DiskcacheManager(diskcache.Cache(directory), expire=JOB_EXPIRE_S), None


def background_health(celery: Any) -> dict[str, Any]:
    """The background manager's kind and, for Celery, whether its broker answers."""
    if celery is None:
        return {"manager": "diskcache", "reachable": True}
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0, timeout=REDIS_TIMEOUT_S)
        reachable = True
    except Exception:
        reachable = False
    return {"manager": "celery", "reachable": reachable}


def install_healthz(server: Flask, celery: Any) -> None:
    """GET /healthz: 200 with the version, this worker's pid, the cache and the job queue.

    It answers 200 while the app serves, even with Redis gone (the pages then compute without
    the cache), and says so in ``cache.reachable``; a load balancer or Docker's HEALTHCHECK reads it.
    """

    @server.get("/healthz")
    def healthz():
        cache = cache_health()
        background = background_health(celery)
        status = "ok" if cache["reachable"] and background["reachable"] else "degraded"
        return jsonify(status=status, version=VERSION, pid=os.getpid(), cache=cache, background=background)
