"""Faults on the scale-out deployment, injected by process id: a Celery worker killed mid-job
(the whole worker, or one pool child) and Redis killed mid-job then restarted. Each time the page
says what happened (the deadlines behind it are tested in tests/dashboard/test_jobs.py), and the
next job runs."""

from __future__ import annotations

import psutil
import pytest

from dashboard.jobs import LOST

from .test_jobs import SWEEP_TEXT, _open, _wait_until, long_job_started, reported

pytestmark = pytest.mark.browser


def _next_job_runs(scale_out, browser, epochs: int) -> None:
    page = _open(browser, scale_out.url + f"/sweep?sweep.x_points=20&sweep.y_points=20&run.epochs={epochs}",
                 SWEEP_TEXT)
    _wait_until([page], lambda texts: "done;" in texts[0], 120)
    page[0].context.close()


def test_a_whole_worker_killed_mid_job(scale_out, browser):
    page = long_job_started(scale_out, browser)
    main = scale_out.celery()
    for proc in [main, *main.children()]:  # the whole worker: its main process and its pool
        proc.kill()
    reported(page, LOST)
    page[0].context.close()
    _next_job_runs(scale_out, browser, 31)  # on the worker the supervisor started again
    assert scale_out.celery().pid != main.pid


def test_one_pool_child_killed_mid_job(scale_out, browser):
    page = long_job_started(scale_out, browser)
    [child] = scale_out.pool_children()
    main = scale_out.celery().pid
    child.kill()
    reported(page, LOST)
    page[0].context.close()
    _next_job_runs(scale_out, browser, 32)
    assert scale_out.celery().pid == main, "Celery replaced its pool child; the worker itself lived on"


def test_redis_killed_mid_job_and_restarted(scale_out, browser):
    page = long_job_started(scale_out, browser)
    pid = int(scale_out.redis.pidfile.read_text())
    psutil.Process(pid).kill()
    reported(page, "the job queue (Redis) became unreachable")
    page[0].context.close()
    scale_out.redis.start()
    _next_job_runs(scale_out, browser, 33)
    assert scale_out.supervisor.poll() is None
