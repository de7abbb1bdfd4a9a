"""Background jobs that always end visibly: caps, a queue, heartbeats, and no fork after torch.

Dash's background callbacks hand a job to a manager: ours (``manager.Jobs``) keeps a small ledger
(``book.JobBook``) in the store every web worker shares (a folder on one machine, Redis with
REDIS_URL; JSON text only, so nothing read back can run code), and starts each job through a
launcher: a forkserver's child on this machine (``local``) or a Celery task (``celery``). The job
runs in ``run.Executor``, from the job process's own entry point (dashboard/jobprocess.py), which
imports no app.
"""

from dashboard.jobs.book import (
    ABANDONED,
    HEARTBEAT_S,
    LOST,
    NEVER_STARTED,
    JobBook,
    JobLimits,
    JobRefused,
    JobState,
    JobStopped,
)
from dashboard.jobs.manager import Jobs, Launcher

__all__ = ["ABANDONED", "HEARTBEAT_S", "LOST", "NEVER_STARTED", "JobBook", "JobLimits", "JobRefused",
           "JobState", "JobStopped", "Jobs", "Launcher"]
