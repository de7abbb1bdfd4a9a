"""Which background manager the environment picks, and /healthz on one machine."""

from dash import CeleryManager, DiskcacheManager

from dashboard.hosting import VERSION, background_manager


def test_one_machine_by_default_and_celery_with_redis(tmp_path):
    manager, celery = background_manager({"BACKGROUND_CACHE_DIR": str(tmp_path)})
    assert isinstance(manager, DiskcacheManager) and celery is None
    manager, celery = background_manager({"REDIS_URL": "redis://127.0.0.1:9/0"})
    assert isinstance(manager, CeleryManager) and celery.conf.broker_url == "redis://127.0.0.1:9/0"
    manager, _ = background_manager({"REDIS_URL": "redis://127.0.0.1:9/0", "BACKGROUND_MANAGER": "diskcache",
                                     "BACKGROUND_CACHE_DIR": str(tmp_path)})
    assert isinstance(manager, DiskcacheManager)


def test_healthz_on_one_machine(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    health = response.get_json()
    assert health["status"] == "ok" and health["version"] == VERSION
    assert health["cache"]["backend"] == "SimpleCache" and health["cache"]["reachable"] is True
    assert health["background"] == {"manager": "diskcache", "reachable": True}


def test_dash_is_set_up_before_the_first_request(dash_app):
    """Concurrent first requests to a fresh worker must find every callback (bench load found a race)."""
    assert dash_app._got_first_request["setup_server"] is True
    assert any("run-status.children" in output for output in dash_app.callback_map)


def test_a_job_that_cannot_start_says_why_in_its_status_line():
    from dash import no_update

    from dashboard.errors import JobQueueDown, job_error

    handle = job_error(4)
    assert handle(JobQueueDown("Not started: the job queue (Redis) is unreachable")) == [
        no_update, no_update, no_update, "Not started: the job queue (Redis) is unreachable"]
    assert handle(ValueError("x"))[-1].startswith("The job failed (ValueError)")
