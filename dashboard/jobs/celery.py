"""With REDIS_URL: jobs are Celery tasks on ``make worker`` (dashboard/worker.py), the book and the
values in Redis. The web side sends a job by its task's name; the worker side (the job's entry
point, dashboard/jobprocess.py) registers the tasks that run it, and a landscape job's helpers
(dashboard/spread.py) that idle workers take.
"""

from __future__ import annotations

from typing import Any

import torch

from dashboard.cache import REDIS_TIMEOUT_S
from dashboard.jobs.book import JobLimits
from dashboard.jobs.run import Executor, limit_memory, lower_priority
from dashboard.spread import Spreader, configure, help_plan

RUN_TASK, HELP_TASK = "descent_lab.run_job", "descent_lab.spread_help"
# An unacknowledged job (its worker died) is delivered again after this; the book runs it only if
# its page still waits and no live run of it beats (see JobBook), so a long job never runs twice.
VISIBILITY_TIMEOUT_S = 900


def make_celery(redis_url: str, limits: JobLimits) -> Any:
    """The Celery app of the background jobs: Redis as broker and result backend.

    Connection attempts are short and few, so a web request never hangs on a Redis that is
    gone: the job fails with a message instead and the next one tries again.
    """
    from celery import Celery

    celery = Celery("descent_lab", broker=redis_url, backend=redis_url)
    timeouts = {"socket_timeout": 5, "socket_connect_timeout": REDIS_TIMEOUT_S * 4}
    celery.conf.update(
        broker_transport_options={**timeouts, "max_retries": 1, "visibility_timeout": VISIBILITY_TIMEOUT_S},
        result_backend_transport_options={**timeouts, "retry_policy": {"max_retries": 0}},
        redis_socket_timeout=5,
        redis_socket_connect_timeout=REDIS_TIMEOUT_S * 4,
        task_publish_retry_policy={"max_retries": 1, "interval_start": 0, "interval_step": 0.5},
        broker_connection_retry_on_startup=True,
        broker_connection_retry=True,
        broker_connection_max_retries=None,  # a worker waits for Redis to come back, however long
        result_expires=limits.JOBS_EXPIRE_S,
        worker_prefetch_multiplier=1,  # long jobs: a worker takes one at a time
        # a job is acknowledged when it ends; one whose worker died goes back to the queue (and runs
        # only if the page still waits for it: see JobBook), one that outlives the visibility timeout
        # is not run twice (its heartbeat is fresh)
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # JSON only: a message or a result in Redis can never run code in a worker
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
    )
    return celery


class CeleryLauncher:
    """Jobs as Celery tasks, sent by name (the web side needs no task's code)."""

    def __init__(self, celery: Any) -> None:
        self.celery = celery

    def launch(self, job: str) -> None:
        self.celery.send_task(RUN_TASK, args=[job])

    def kill(self, pid: Any) -> None:
        """A job on another machine stops at its next progress report."""

    def alive(self, beat: dict[str, Any]) -> bool | None:
        return None  # another machine's process: the heartbeat's age decides

    def warm(self) -> None:
        pass


def register_worker_tasks(celery: Any, executor: Executor, limits: JobLimits) -> None:
    """The worker's tasks: run a job (its landscapes shared out with idle workers), and help a job's
    landscape. Each pool child runs under the memory ceiling, which holds for its later jobs too."""
    client = executor.store.client  # type: ignore[attr-defined]  (a RedisStore: REDIS_URL)
    spreader = Spreader(client, lambda spread_id: celery.send_task(HELP_TASK, args=[spread_id]),
                        limits.LANDSCAPE_HELPERS)

    @celery.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True)
    def run(job: str) -> None:
        limit_memory(limits.JOBS_MEMORY_MB)
        configure(spreader)
        try:
            executor.execute(job)
        finally:
            configure(None)

    # A helper of a job's landscape: acknowledged when taken, since the job computes again whatever
    # block a lost helper held.
    @celery.task(name=HELP_TASK, acks_late=False)
    def spread_help(spread_id: str) -> int:
        limit_memory(limits.JOBS_MEMORY_MB)
        torch.set_num_threads(limits.JOBS_THREADS)
        lower_priority(limits.JOBS_NICE)
        return help_plan(client, spread_id)
