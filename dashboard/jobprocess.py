"""A job process's entry point, for the forkserver's children (``run_job``) and the Celery worker
(``celery -A dashboard.jobprocess:celery_app worker``, which ``make worker`` runs).

It imports what a job needs and nothing of the web app: the pages' modules, for their background
callbacks (their pages are not registered: there is no Dash app here), the compute cache on a bare
Flask app (so a job shares results with the web workers where the cache is shared), and this
deployment's store. The forkserver imports this module once; every job process starts with it.
"""

from __future__ import annotations

import importlib
import pkgutil

from flask import Flask

from dashboard import cache
from dashboard.compat import background_functions, ignoring_pages
from dashboard.jobs.run import Executor, limit_memory
from dashboard.settings import settings
from dashboard.store import shared_store


def _import_pages() -> None:
    import dashboard.pages

    ignoring_pages()
    for module in pkgutil.iter_modules(dashboard.pages.__path__):
        importlib.import_module(f"dashboard.pages.{module.name}")


_import_pages()
cache.configure(Flask("descent_lab.jobs"))
LIMITS = settings().jobs
EXECUTOR = Executor(shared_store(), LIMITS, background_functions())


def run_job(job: str) -> None:
    """A forkserver's child: run ``job`` under the memory ceiling, on a connection of its own."""
    limit_memory(LIMITS.JOBS_MEMORY_MB)
    EXECUTOR.store.close()  # a connection made before the fork is not this process's to use
    EXECUTOR.execute(job)


celery_app = None
if settings().stores.uses_celery:
    from dashboard.jobs.celery import make_celery, register_worker_tasks

    celery_app = make_celery(settings().stores.REDIS_URL, LIMITS)
    register_worker_tasks(celery_app, EXECUTOR, LIMITS)
