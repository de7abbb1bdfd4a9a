"""The deployments with their real parts: ``make serve`` on one machine (gunicorn, two gthread
workers, job processes from a forkserver) and scale-out (redis-server on a free loopback port,
gunicorn with two workers on REDIS_URL, and a Celery worker)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import free_port, routes_prefix, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "artifacts"


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent  # (this hook sees every item of the session: mark only this folder's)
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.hosting)


def get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def post_json(url: str, body: dict, timeout: float = 30) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read() or b"{}")


def session_cookie(url: str, address: str | None = None) -> str:
    """A session the server issues (a ``Cookie`` header's value), for a client at ``address`` (sent
    as X-Forwarded-For: the servers here trust one proxy)."""
    headers = {"X-Forwarded-For": address} if address else {}
    with urllib.request.urlopen(urllib.request.Request(url + "/", headers=headers), timeout=10) as response:
        cookie = response.headers.get("Set-Cookie", "")
    assert cookie.startswith("descent_session="), f"no session issued: {cookie!r}"
    return cookie.split(";", 1)[0]


class Redis:
    """A throwaway redis-server (no persistence) that a test can stop and start again."""

    def __init__(self, directory: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is missing: install Debian's redis-server (see .ci/run)")
        self.port = free_port()
        self.pidfile = directory / "redis.pid"
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "yes",
                        "--save", "", "--appendonly", "no", "--pidfile", str(self.pidfile)], check=True)
        if not wait_for(lambda: self.client().ping(), seconds=15):
            pytest.fail("redis-server did not start")

    def stop(self) -> None:
        pid = int(self.pidfile.read_text())
        os.kill(pid, 15)
        if not wait_for(lambda: not Path(f"/proc/{pid}").exists(), seconds=15):
            pytest.fail("redis-server did not stop")

    def client(self):
        import redis

        return redis.Redis.from_url(self.url, socket_timeout=2)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory) -> Iterator[Redis]:
    server = Redis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    with contextlib.suppress(OSError, ValueError):
        server.stop()


def _spawn(args: list[str], env: dict[str, str], log_name: str) -> subprocess.Popen:
    LOGS.mkdir(exist_ok=True)
    with (LOGS / log_name).open("w") as out:
        return subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def job_processes(server: subprocess.Popen) -> list:
    """The job processes under a gunicorn master: the children of its workers' forkservers."""
    import psutil

    found = []
    for proc in psutil.Process(server.pid).children(recursive=True):
        try:
            if any("forkserver" in part for part in proc.parent().cmdline()):
                found.append(proc)
        except psutil.Error:
            pass
    return found


class Served:
    """A running gunicorn: its URL and its process."""

    def __init__(self, url: str, proc: subprocess.Popen) -> None:
        self.url, self.proc = url, proc

    def jobs(self) -> dict:
        return get_json(self.url + "/healthz")["background"]["jobs"]


# one machine, as `make serve`: no REDIS_URL, no SECRET_KEY (the workers share a key file); two
# slots and a queue of two, so that six pages overflow it; a shorter abandon time so a closed tab's
# job stops within the test (a page polls every 250 ms: 10 s is wide for six pages on one loaded
# 2-core machine); one trusted proxy, so that a test speaks for several client addresses through
# X-Forwarded-For
ONE_MACHINE_ENV = {"JOBS_MAX": "2", "JOBS_PER_SESSION": "2", "JOBS_QUEUE": "2", "JOBS_ABANDON_S": "10",
                   "TRUSTED_PROXIES": "1"}


@contextlib.contextmanager
def serving_one_machine(scratch: Path, env: dict[str, str], workers: int, threads: int,
                        log_name: str, host: str = "127.0.0.1") -> Iterator[Served]:
    """gunicorn as `make serve` on one machine (no REDIS_URL, no SECRET_KEY: the workers share a
    key file) on ``host``, its job store and weights in ``scratch``, ``env`` on top; its URL is the
    app's (under DASH_URL_BASE_PATHNAME when ``env`` sets it), on 127.0.0.1."""
    env = {**{k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SECRET_KEY", "CACHE_TYPE")},
           **env, "WEIGHTS_DIR": str(scratch / "weights"), "BACKGROUND_CACHE_DIR": str(scratch / "jobs"),
           "SECRET_KEY_FILE": str(scratch / "secret_key")}
    port = free_port()
    web = _spawn([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                  "--bind", f"{host}:{port}", "--workers", str(workers), "--threads", str(threads), "app:server"],
                 env, log_name)
    url = f"http://127.0.0.1:{port}" + routes_prefix(env).rstrip("/")  # under the app's path, when it has one
    if not wait_for(lambda: get_json(url + "/healthz", timeout=2), [web], 90):
        stop(web)
        pytest.fail(f"gunicorn did not start; see artifacts/{log_name}")
    try:
        yield Served(url, web)
    finally:
        stop(web)


@pytest.fixture(scope="module")
def one_machine(tmp_path_factory) -> Iterator[Served]:
    with serving_one_machine(tmp_path_factory.mktemp("one-machine"), ONE_MACHINE_ENV, 2, 4,
                             "hosting-one-machine.log") as served:
        yield served


@pytest.fixture(scope="session")
def workshop(redis_server, tmp_path_factory) -> Iterator[str]:
    """gunicorn with two workers and a Celery worker on ``redis_server``; yields the app's URL."""
    scratch = tmp_path_factory.mktemp("workshop")
    env = {**os.environ, "REDIS_URL": redis_server.url, "SECRET_KEY": "test-secret",
           "WEIGHTS_DIR": str(scratch / "weights"), "BACKGROUND_CACHE_DIR": str(scratch / "jobs")}
    port = free_port()
    # on every interface, as a workshop serves (make serve HOST=0.0.0.0): the room link the presenter
    # sees, opened on 127.0.0.1, is this computer's network address, and a follower opens it
    web = _spawn([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                  "--bind", f"0.0.0.0:{port}", "--workers", "2", "--threads", "4", "app:server"],
                 env, "hosting-gunicorn.log")
    worker = _spawn([sys.executable, "-m", "celery", "-A", "dashboard.jobprocess:celery_app", "worker", "--loglevel=INFO",
                     "--concurrency", "1"], env, "hosting-celery.log")
    url = f"http://127.0.0.1:{port}"
    if not wait_for(lambda: get_json(url + "/healthz", timeout=2)["background"]["reachable"], [web, worker], 90):
        stop(web)
        stop(worker)
        pytest.fail("gunicorn or the Celery worker did not start; see artifacts/hosting-*.log")
    yield url
    stop(web)
    stop(worker)


class ScaleOut(Served):
    """gunicorn on REDIS_URL with a supervised Celery worker (``python -m dashboard.worker``)."""

    def __init__(self, url: str, proc: subprocess.Popen, supervisor: subprocess.Popen, redis: Redis) -> None:
        super().__init__(url, proc)
        self.supervisor, self.redis = supervisor, redis

    def celery(self):
        """The Celery worker's main process (the supervisor's child), once it runs."""
        import psutil

        children = psutil.Process(self.supervisor.pid).children()
        return children[0] if children else None

    def pool_children(self) -> list:
        main = self.celery()
        return main.children() if main is not None else []


@pytest.fixture(scope="module")
def scale_out(tmp_path_factory) -> Iterator[ScaleOut]:
    """Its own Redis, gunicorn (two workers) and a supervised worker of one pool child: the tests
    kill them by pid."""
    scratch = tmp_path_factory.mktemp("scale-out")
    redis = Redis(scratch)
    redis.start()
    env = {**os.environ, "REDIS_URL": redis.url, "SECRET_KEY": "test-secret", "JOBS_MAX": "1",
           "WEIGHTS_DIR": str(scratch / "weights")}
    port = free_port()
    web = _spawn([sys.executable, "-m", "gunicorn", "--config", "python:dashboard.gunicorn_conf",
                  "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "app:server"],
                 env, "hosting-scale-out-gunicorn.log")
    supervisor = _spawn([sys.executable, "-m", "dashboard.worker", "--loglevel=INFO", "--concurrency", "1"],
                        env, "hosting-scale-out-celery.log")
    url = f"http://127.0.0.1:{port}"
    served = ScaleOut(url, web, supervisor, redis)
    if not wait_for(lambda: get_json(url + "/healthz", timeout=2)["background"]["reachable"] and served.pool_children(),
                    [web, supervisor], 90):
        stop(web)
        stop(supervisor)
        pytest.fail("gunicorn or the Celery worker did not start; see artifacts/hosting-scale-out-*.log")
    yield served
    stop(web)
    stop(supervisor)
    with contextlib.suppress(OSError, ValueError):
        redis.stop()
