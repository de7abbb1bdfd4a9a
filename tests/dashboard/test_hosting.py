"""Which background manager the environment picks, the shared secret key, sessions, /healthz and
404s on one machine."""

import pytest
from dash import CeleryManager, DiskcacheManager

from dashboard.hosting import SESSION_COOKIE, VERSION, SecretKeyMissing, background_manager, secret_key
from dashboard.jobs import LocalJobs, QueuedJobs


def test_one_machine_by_default_and_celery_with_redis(tmp_path):
    manager, celery = background_manager({"BACKGROUND_CACHE_DIR": str(tmp_path)})
    assert isinstance(manager, LocalJobs) and isinstance(manager, DiskcacheManager) and celery is None
    manager, celery = background_manager({"REDIS_URL": "redis://127.0.0.1:9/0"})
    assert isinstance(manager, QueuedJobs) and isinstance(manager, CeleryManager)
    assert celery.conf.broker_url == "redis://127.0.0.1:9/0"
    assert celery.conf.task_acks_late and celery.conf.task_reject_on_worker_lost
    assert celery.conf.accept_content == ["json"] and celery.conf.result_accept_content == ["json"]
    manager, _ = background_manager({"REDIS_URL": "redis://127.0.0.1:9/0", "BACKGROUND_MANAGER": "diskcache",
                                     "BACKGROUND_CACHE_DIR": str(tmp_path)})
    assert isinstance(manager, LocalJobs)


def test_one_secret_key_for_every_worker(tmp_path):
    assert secret_key({"SECRET_KEY": "given"}) == "given"
    env = {"SECRET_KEY_FILE": str(tmp_path / "key")}
    first = secret_key(env)
    assert len(first) == 64 and secret_key(env) == first, "made once, then read by every worker"
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    with pytest.raises(SecretKeyMissing, match="export SECRET_KEY="):
        secret_key({"REDIS_URL": "redis://127.0.0.1:9/0"})


def test_every_browser_gets_a_session_cookie_once(client):
    response = client.get("/healthz")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(SESSION_COOKIE + "=") and "HttpOnly" in cookie
    assert "Set-Cookie" not in client.get("/healthz").headers, "an existing session keeps its id"


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


def test_dash_is_set_up_before_the_first_request(dash_app):
    """Concurrent first requests to a fresh worker must find every callback (bench load found a race)."""
    assert dash_app._got_first_request["setup_server"] is True
    assert any("run-status.children" in output for output in dash_app.callback_map)


def test_a_job_that_cannot_start_or_finish_says_why_in_its_status_line():
    from dash import no_update
    from dash.exceptions import BackgroundCallbackError

    from dashboard.errors import job_error
    from dashboard.jobs import LOST, JobRefused

    handle = job_error(4)
    assert handle(JobRefused("Not started: the job queue is unreachable")) == [
        no_update, no_update, no_update, "Not started: the job queue is unreachable"]
    lost = BackgroundCallbackError(f"An error occurred inside a background callback: {LOST}\n")
    assert handle(lost)[-1] == LOST
    assert handle(ValueError("x"))[-1].startswith("The job failed (ValueError)")
