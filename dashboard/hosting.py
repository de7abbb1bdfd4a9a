"""How the app is hosted: which launcher runs the long jobs, the shared secret key, headers, /healthz.

One machine (the default): background jobs (sweeps, landscapes) run in processes made by a
forkserver on the web machine, their book and results in a diskcache folder. Scale-out (REDIS_URL
set): the jobs go to Celery workers (``make worker``) through the same Redis that holds the compute
cache, so web and worker machines can be added independently. Both keep the caps, queue and
deadlines of ``dashboard.jobs``.
"""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify

from dashboard.cache import REDIS_TIMEOUT_S, cache_health
from dashboard.clients import client
from dashboard.jobs import Jobs
from dashboard.jobs.celery import CeleryLauncher, make_celery
from dashboard.jobs.local import ForkserverLauncher
from dashboard.settings import Proxying, Settings, settings
from dashboard.store import shared_store

ROOT = Path(__file__).resolve().parents[1]


def _version() -> str:
    """The installed package's version; from a checkout that is not installed, its pyproject.toml's."""
    try:
        return importlib.metadata.version("descent-lab")
    except importlib.metadata.PackageNotFoundError:
        pyproject = ROOT / "pyproject.toml"
        return tomllib.loads(pyproject.read_text())["project"]["version"] if pyproject.is_file() else "unknown"


VERSION = _version()


def queued_progress(text: str) -> list[str]:
    """What a waiting job's progress row shows (value, max, text), as every page's progress row."""
    return ["0", "1", text]


def background_manager(config: Settings | None = None) -> tuple[Jobs, Any]:
    """(the job manager, the Celery app or None) for these settings.

    REDIS_URL set (and BACKGROUND_MANAGER not "diskcache"): jobs are Celery tasks on that Redis.
    Otherwise job processes on this machine, their store in BACKGROUND_CACHE_DIR
    (default CACHE_ROOT/background).
    """
    config = config or settings()
    celery = make_celery(config.stores.REDIS_URL, config.jobs) if config.stores.uses_celery else None
    launcher = CeleryLauncher(celery) if celery is not None else ForkserverLauncher()
    return Jobs(shared_store(config), config.jobs, client, queued_progress, launcher), celery


class SecretKeyMissing(SystemExit):
    """Serving across machines (REDIS_URL) without SECRET_KEY: refuse to start, saying how."""


def secret_key(config: Settings | None = None) -> str:
    """The key that signs job handles and cookies, the same in every web worker.

    SECRET_KEY when set. Otherwise, on one machine, a key made once and kept in
    cache-dir/secret_key (SECRET_KEY_FILE) that every worker reads; with REDIS_URL (web workers
    on several machines) there is no shared folder, so serving refuses to start without one.
    """
    config = config or settings()
    if config.server.SECRET_KEY:
        return config.server.SECRET_KEY
    if config.stores.REDIS_URL:
        raise SecretKeyMissing("SECRET_KEY is not set: with REDIS_URL every web worker must sign with the "
                               "same key. Set it, e.g. export SECRET_KEY=$(python3 -c "
                               "'import secrets; print(secrets.token_hex(32))')")
    path = config.folders.path("SECRET_KEY_FILE")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # the first worker to get here writes it; O_EXCL makes every other one read that one
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the writer may not have written yet
            if key := path.read_text().strip():
                return key
            time.sleep(0.02)
        raise SecretKeyMissing(f"{path} is empty: delete it, or set SECRET_KEY") from None
    key = secrets.token_hex(32)
    with os.fdopen(handle, "w") as out:
        out.write(key)
    return key


def background_health(manager: Any, celery: Any) -> dict[str, Any]:
    """The background manager's kind, whether its queue answers, and the jobs running and waiting."""
    reachable = True
    if celery is not None:
        try:
            with celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0, timeout=REDIS_TIMEOUT_S)
        except Exception:
            reachable = False
    try:
        jobs = manager.book.counts()
    except Exception:
        jobs, reachable = None, False
    return {"manager": "diskcache" if celery is None else "celery", "reachable": reachable, "jobs": jobs}


def install_healthz(server: Flask, manager: Any, celery: Any, routes_prefix: str = "/") -> None:
    """GET /healthz (under ``routes_prefix``, the app's path: /lab/healthz): 200 with the version,
    this worker's pid, the cache and the job queue.

    It answers 200 while the app serves, even with Redis gone (the pages then compute without
    the cache), and says so in ``cache.reachable``; a load balancer or Docker's HEALTHCHECK reads it.
    """

    @server.get(f"{routes_prefix}healthz")
    def healthz():
        cache = cache_health()
        background = background_health(manager, celery)
        status = "ok" if cache["reachable"] and background["reachable"] else "degraded"
        return jsonify(status=status, version=VERSION, pid=os.getpid(), cache=cache, background=background)


def content_security_policy(script_hashes: list[str], frame_ancestors: str) -> str:
    """The pages' CSP: everything from this site only; scripts from files or the inline scripts Dash
    writes (by hash); inline styles (Plotly positions its parts with them); no plugins, no framing
    but by ``frame_ancestors``."""
    scripts = " ".join(["'self'", *dict.fromkeys(script_hashes)])  # Dash's hashes come quoted
    return "; ".join([
        "default-src 'self'", f"script-src {scripts}", "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:", "font-src 'self' data:", "connect-src 'self'", "worker-src 'self' blob:",
        "object-src 'none'", "base-uri 'self'", "form-action 'self'", f"frame-ancestors {frame_ancestors}",
    ])


def install_headers(server: Flask, script_hashes: Callable[[], list[str]], proxying: Proxying) -> None:
    """Security headers on every response: the CSP (``script_hashes()`` read once, at the first
    response, when every page has defined its inline callbacks), nosniff, the framing policy and a
    same-origin referrer (a room's short link is not sent to other sites)."""
    policy: list[str] = []

    @server.after_request
    def _headers(response: Response) -> Response:
        if not policy:
            policy.append(content_security_policy(script_hashes(), proxying.FRAME_ANCESTORS))
        response.headers.setdefault("Content-Security-Policy", policy[0])
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if proxying.FRAME_ANCESTORS == "'self'":
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")  # for browsers without frame-ancestors
        elif proxying.FRAME_ANCESTORS == "'none'":
            response.headers.setdefault("X-Frame-Options", "DENY")
        return response
