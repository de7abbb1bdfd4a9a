"""Which background manager the environment picks, the shared secret key, sessions, /healthz and
404s on one machine."""

import json
import subprocess
import sys

import pytest

from dashboard.clients import SESSION_COOKIE
from dashboard.hosting import VERSION, SecretKeyMissing, background_manager, secret_key
from dashboard.jobs import Jobs
from dashboard.jobs.celery import CeleryLauncher
from dashboard.jobs.local import ForkserverLauncher
from dashboard.settings import Settings
from dashboard.store import DiskStore, RedisStore


def test_one_machine_by_default_and_celery_with_redis(tmp_path):
    manager, celery = background_manager(Settings.from_env({"BACKGROUND_CACHE_DIR": str(tmp_path)}))
    assert isinstance(manager, Jobs) and isinstance(manager.launcher, ForkserverLauncher) and celery is None
    assert isinstance(manager.store, DiskStore)
    manager, celery = background_manager(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:9/0"}))
    assert isinstance(manager.launcher, CeleryLauncher) and isinstance(manager.store, RedisStore)
    assert celery.conf.broker_url == "redis://127.0.0.1:9/0"
    assert celery.conf.task_acks_late and celery.conf.task_reject_on_worker_lost
    assert celery.conf.accept_content == ["json"] and celery.conf.result_accept_content == ["json"]
    manager, _ = background_manager(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:9/0", "BACKGROUND_MANAGER": "diskcache",
                                                         "BACKGROUND_CACHE_DIR": str(tmp_path)}))
    assert isinstance(manager.launcher, ForkserverLauncher)


def test_one_secret_key_for_every_worker(tmp_path):
    assert secret_key(Settings.from_env({"SECRET_KEY": "given"})) == "given"
    env = Settings.from_env({"SECRET_KEY_FILE": str(tmp_path / "key")})
    first = secret_key(env)
    assert len(first) == 64 and secret_key(env) == first, "made once, then read by every worker"
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SecretKeyMissing, match="export SECRET_KEY="):
        secret_key(Settings.from_env({"REDIS_URL": "redis://127.0.0.1:9/0"}))


def test_every_browser_gets_a_session_cookie_once(client):
    response = client.get("/")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=") and "HttpOnly" in cookie
    assert "Set-Cookie" not in client.get("/").headers, "an existing session keeps its id"
    assert "Set-Cookie" not in client.application.test_client().get("/healthz").headers, \
        "sessions come with pages, not with the app's endpoints"


@pytest.mark.parametrize("path", ["/_dash-component-suites/dash/nope.js", "/_dash-component-suites/nothing/x.js",
                                  "/_dash-component-suites/dash/../../../etc/passwd",
                                  "/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.min.js.map"])
def test_unknown_component_suite_files_are_404_without_a_traceback(client, caplog, path):
    response = client.get(path)
    assert response.status_code == 404
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.exc_info]


def test_healthz_on_one_machine(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    health = response.get_json()
    assert health["status"] == "ok" and health["version"] == VERSION
    assert health["cache"]["backend"] == "SimpleCache" and health["cache"]["reachable"] is True
    background = health["background"]
    assert background["manager"] == "diskcache" and background["reachable"] is True
    assert set(background["jobs"]) == {"running", "queued", "max"} and background["jobs"]["max"] == 2


# A fresh worker: a new interpreter imports the app as gunicorn does, then eight threads make its
# first requests at once (thread switches made frequent, so that a race in Dash's set-up shows).
FRESH_WORKER = """
import json, sys, threading
sys.setswitchinterval(1e-6)
import app
mapped = sorted(app.app.callback_map)  # what Dash dispatches from, before any request
barrier, seen = threading.Barrier(8), []
def first_request():
    client = app.server.test_client()
    barrier.wait()
    answer = client.get("/_dash-dependencies")
    seen.append(sorted(d["output"] for d in answer.get_json()) if answer.status_code == 200 else answer.status_code)
threads = [threading.Thread(target=first_request) for _ in range(8)]
for thread in threads: thread.start()
for thread in threads: thread.join()
print(json.dumps({"mapped": mapped, "seen": seen}))
"""


def test_a_fresh_worker_serves_every_callback_to_its_first_concurrent_requests(client):
    """Dash finishes its set-up on the first request, without a lock: concurrent first requests to a
    fresh worker found callbacks missing (bench load). A freshly imported app dispatches every callback
    before any request, and eight simultaneous first requests each list every callback."""
    every = sorted(d["output"] for d in client.get("/_dash-dependencies").get_json())
    assert any("run-status.children" in output for output in every)
    done = subprocess.run([sys.executable, "-c", FRESH_WORKER], check=False, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    fresh = json.loads(done.stdout.strip().splitlines()[-1])
    assert fresh["mapped"] == every
    assert fresh["seen"] == [every] * 8


def test_a_job_that_cannot_start_or_finish_says_why_in_its_status_line():
    from dash import no_update
    from dash.exceptions import BackgroundCallbackError

    from dashboard.errors import job_error
    from dashboard.jobs import LOST, JobRefused
    from dashboard.pages.landscape import DRAWN

    handle = job_error(DRAWN, "text")
    assert handle(JobRefused("Not started: the job queue is unreachable")) == {
        "main": no_update, "surface": no_update, "training": no_update,
        "text": "Not started: the job queue is unreachable"}
    lost = BackgroundCallbackError(f"An error occurred inside a background callback: {LOST}\n")
    assert handle(lost)["text"] == LOST
    assert handle(ValueError("x"))["text"].startswith("The job failed (ValueError)")


def _fresh_server(tmp_path, env: dict[str, str]):
    """A bare Flask server with the app's client layer (sessions, trusted proxies) and one route."""
    import json

    from flask import Flask, Response

    from dashboard import clients
    from dashboard.ratelimit import make_limiter
    from dashboard.store import DiskStore

    server = Flask(__name__)
    server.secret_key = "test-key"
    limiter = make_limiter(server, DiskStore(str(tmp_path / "store")))
    config = Settings.from_env(env)
    clients.install(server, limiter, config.clients, config.proxying)
    server.get("/healthz-of-this-test", endpoint="api")(lambda: {"ok": True})  # JSON, as the app's endpoints
    server.get("/who", endpoint="who")(lambda: Response(json.dumps({"session": clients.client().session,
                                                    "address": clients.client().address}), mimetype="text/html"))
    return server


def test_a_session_is_the_servers_only_when_signed(tmp_path):
    server = _fresh_server(tmp_path, {})
    client = server.test_client()
    issued = client.get("/who")
    assert issued.get_json(force=True)["session"] == "addr:127.0.0.1", "the first request has no session yet"
    cookie = issued.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    assert client.get("/who").get_json(force=True)["session"].startswith("s:"), "the issued cookie is a session"
    for forged in ("forged", cookie[:-2] + "xx", cookie.split(".")[0], "a.b.c"):
        other = server.test_client()
        other.set_cookie(SESSION_COOKIE, forged)
        answer = other.get("/who")
        assert answer.get_json(force=True)["session"] == "addr:127.0.0.1", f"{forged!r} counts as no cookie"
        assert SESSION_COOKIE in answer.headers["Set-Cookie"], "and a real one is offered"
    server.secret_key = "another-key"  # a cookie signed by another server is no session here either
    assert client.get("/who").get_json(force=True)["session"] == "addr:127.0.0.1"


def test_an_address_gets_a_few_new_sessions_a_minute(tmp_path):
    server = _fresh_server(tmp_path, {"SESSIONS_PER_MINUTE": "3"})
    for _ in range(10):  # a flood of the app's endpoints without cookies uses up no session
        assert "Set-Cookie" not in server.test_client().get("/healthz-of-this-test").headers
    given = ["Set-Cookie" in server.test_client().get("/who").headers for _ in range(5)]
    assert given == [True, True, True, False, False], "past the rate the address speaks for itself"


def test_forwarded_addresses_count_only_behind_trusted_proxies(tmp_path):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    plain = _fresh_server(tmp_path / "a", {}).test_client().get("/who", headers=forwarded)
    assert plain.get_json(force=True)["address"] == "127.0.0.1", "a client cannot forge its address"
    assert "Secure" not in plain.headers["Set-Cookie"]
    proxied = _fresh_server(tmp_path / "b", {"TRUSTED_PROXIES": "1"}).test_client().get("/who", headers=forwarded)
    assert proxied.get_json(force=True)["address"] == "203.0.113.9"
    assert "Secure" in proxied.headers["Set-Cookie"], "served over HTTPS (as the proxy says): a Secure cookie"


@pytest.mark.parametrize("env", [{"TRUSTED_PROXIES": "-1"}, {"COOKIE_SECURE": "sometimes"},
                                 {"FRAME_ANCESTORS": "'self'; script-src *"}, {"ADDRESS_COMPUTING": "0"},
                                 {"ROOMS_MAX": "many"}, {"JOBS_MAX": "0"}, {"JOBS_QUEUE": "-1"},
                                 {"JOBS_LOST_S": "nan"}, {"JOBS_ABANDON_S": "inf"}, {"JOBS_MAX": "two"},
                                 {"JOBS_THREADS": "1.5"}, {"PORT": "70000"}, {"WORKERS": "0"},
                                 {"LANDSCAPE_DEVICE": "tpu"}, {"CACHE_TYPE": "MemcachedCache"},
                                 {"BACKGROUND_MANAGER": "rq"}, {"WEIGHTS_MAX_MB": "-5"},
                                 {"MAX_CONTENT_LENGTH": "1MB"}])
def test_bad_settings_stop_the_server_with_one_line(env):
    with pytest.raises(SystemExit, match=next(iter(env))):
        Settings.from_env(env)


def test_settings_come_from_the_environment_once():
    config = Settings.from_env({"JOBS_MAX": "6", "JOBS_ABANDON_S": "12.5", "PORT": "9000", "PATH": "/bin",
                                "WEIGHTS_DIR": "/w", "CACHE_ROOT": "/r"})
    assert (config.jobs.JOBS_MAX, config.jobs.JOBS_ABANDON_S, config.jobs.JOBS_QUEUE) == (6, 12.5, 30)
    assert config.server.PORT == 9000 and config.server.HOST == "127.0.0.1"
    assert str(config.folders.path("WEIGHTS_DIR")) == "/w" and str(config.folders.path("CACHE_DIR")) == "/r/compute"
    assert str(Settings.from_env({}).folders.path("BACKGROUND_CACHE_DIR")) == "cache-dir/background"
    secret = Settings.from_env({"SECRET_KEY": "do-not-print-me"})
    assert secret.server.SECRET_KEY == "do-not-print-me" and "do-not-print-me" not in repr(secret), "never logged"


def test_every_page_carries_the_security_headers(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert policy.startswith("default-src 'self'") and "frame-ancestors 'self'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0], "no inline scripts but Dash's"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin" and response.headers["X-Frame-Options"] == "SAMEORIGIN"
