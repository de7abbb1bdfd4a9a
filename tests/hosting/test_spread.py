"""A landscape's points shared out across real Celery workers on a real Redis (dashboard/spread.py):
the values of one process, one progress, a killed worker's block computed again."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from compute.landscape import LandscapeSpec, Plan, evaluate_plan, random_plane
from compute.nets import TrainSpec, buffer_shapes, flat_state, param_shapes
from dashboard.spread import Spreader, _key, help_plan
from tests.serving import stop, wait_for

from .conftest import _spawn


@pytest.fixture(scope="module")
def helpers(redis_server, tmp_path_factory) -> Iterator:
    """A Celery worker of two pool children on ``redis_server`` (the app's tasks) and a Celery
    client that sends helper tasks to it."""
    from dashboard.jobs.celery import make_celery
    from dashboard.settings import JobLimits

    scratch = tmp_path_factory.mktemp("spread")
    env = {**os.environ, "REDIS_URL": redis_server.url, "SECRET_KEY": "test-secret",
           "WEIGHTS_DIR": str(scratch / "weights")}
    worker = _spawn([sys.executable, "-m", "celery", "-A", "dashboard.jobprocess:celery_app", "worker", "--loglevel=INFO",
                     "--concurrency", "2", "--hostname", "spread@%h"], env, "hosting-spread-celery.log")
    celery = make_celery(redis_server.url, JobLimits())
    if not wait_for(lambda: celery.control.ping(timeout=1.0), [worker], 90):
        stop(worker)
        pytest.fail("the Celery worker did not start; see artifacts/hosting-spread-celery.log")
    yield celery, redis_server.client()
    stop(worker)


def _plan(resolution: int = 9) -> Plan:
    """ResNet-8 (BatchNorm) on the digits around its initial state: slow enough per block that
    helpers take part, no training needed."""
    spec = LandscapeSpec(train=TrainSpec(model="resnet8"), resolution=resolution)
    model = spec.train.build(0)
    base = flat_state(model)
    d1, d2 = random_plane(base, param_shapes(model), buffer_shapes(model), 0, dir_type="states", bias="keep")
    coords = torch.linspace(-0.5, 0.5, resolution)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    return Plan(spec, coords.numpy(), a.reshape(-1), b.reshape(-1), base, d1, d2, ("train",), "test plane")


def _spreader(celery, client, block: int) -> Spreader:
    return Spreader(client, lambda spread: celery.send_task("descent_lab.spread_help", args=[spread]), helpers=2,
                    block=block)


def _as_a_job(work):
    """``work()`` in a thread at a job's priority (JOBS_NICE), as a landscape job runs beside its
    helpers: from the test's own thread, at the web's priority, it took every block before the
    helpers could (seen on a loaded machine)."""
    from dashboard.jobs.run import lower_priority
    from dashboard.settings import JobLimits

    done: dict = {}

    def run() -> None:
        lower_priority(JobLimits().JOBS_NICE)
        done["value"] = work()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done


def test_helpers_give_the_values_of_one_process_with_one_progress(helpers):
    celery, client = helpers
    plan = _plan()
    alone = evaluate_plan(plan)
    reports: list[tuple[int, int]] = []
    spreader = _spreader(celery, client, block=4)
    thread, done = _as_a_job(lambda: spreader(plan, None, lambda done, total: reports.append((done, total))))
    thread.join(120)
    spread = done["value"]
    np.testing.assert_allclose(spread.loss["train"], alone.loss["train"], rtol=1e-6)
    np.testing.assert_array_equal(spread.acc["train"], alone.acc["train"])
    assert spread.done["train"].all()
    assert spreader.last["helped"] >= 1 and spreader.last["here"] >= 1, spreader.last  # both took part
    assert spreader.last["helped"] + spreader.last["here"] >= spreader.last["blocks"] == 21
    dones = [d for d, _ in reports]
    assert dones == sorted(dones) and reports[-1] == (81, 81) and {t for _, t in reports} == {81}
    assert not client.keys(_key("*", "todo")) and not client.keys(_key("*", "plan"))  # nothing left behind


def test_a_line_on_both_sets_spreads_too(helpers):
    from compute.landscape import plan_line

    celery, client = helpers
    spec = LandscapeSpec(train=TrainSpec(model="resnet8"), mode="line", resolution=21, lo=-0.5, hi=1.5)
    start, end = (flat_state(spec.train.build(seed)).numpy() for seed in (0, 1))
    planned = plan_line(spec, start, end, "A to B")
    spreader = _spreader(celery, client, block=4)
    values = spreader(planned)
    alone = evaluate_plan(planned)
    for name in ("train", "test"):
        np.testing.assert_allclose(values.loss[name], alone.loss[name], rtol=1e-6)
    assert spreader.last["blocks"] == 12


def test_a_killed_worker_s_block_is_computed_again(helpers):
    import psutil

    celery, client = helpers
    plan = _plan()
    alone = evaluate_plan(plan)
    spreader = _spreader(celery, client, block=8)
    runner, result = _as_a_job(lambda: spreader(plan))
    killed = None
    deadline = time.monotonic() + 60
    while killed is None and runner.is_alive() and time.monotonic() < deadline:
        for key in client.keys(_key("*", "beat", "*")):
            holder = (client.get(key) or b"").decode()
            pid = int(holder.rsplit(":", 1)[1]) if ":" in holder else 0
            if pid and pid != os.getpid() and psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)  # a pool child dies holding a block
                killed = pid
                break
        time.sleep(0.01)
    runner.join(120)
    assert killed is not None, "no helper held a block long enough to be killed"
    assert not runner.is_alive() and spreader.last["requeued"] >= 1, spreader.last
    np.testing.assert_allclose(result["value"].loss["train"], alone.loss["train"], rtol=1e-6)


def test_a_helper_after_the_job_or_with_a_bad_plan_does_nothing(helpers):
    _celery, client = helpers
    assert help_plan(client, "no-such-spread") == 0
    client.set(_key("broken", "plan"), b"not safetensors", ex=60)
    client.set(_key("broken", "meta"), b"{}", ex=60)
    assert help_plan(client, "broken") == 0


def test_without_helpers_the_job_computes_every_block_itself(helpers):
    """Helpers that never come (a busy pool): the job does not wait for them."""
    _celery, client = helpers
    plan = _plan(resolution=5)
    sent: list[str] = []
    spreader = Spreader(client, sent.append, helpers=2, block=4)
    values = spreader(plan)
    assert len(sent) == 2 and spreader.last["here"] == spreader.last["blocks"] == 7
    np.testing.assert_allclose(values.loss["train"], evaluate_plan(plan).loss["train"], rtol=1e-6)


def test_a_redis_that_fails_mid_way_leaves_the_job_to_finish_alone():
    """The store answers until the plan is published, then fails: the job computes the rest."""
    import redis

    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def pipeline(self):
            self.calls += 1
            if self.calls > 1:
                raise redis.ConnectionError("gone")
            return _Pipe()

        def lpop(self, _key):
            raise redis.ConnectionError("gone")

    class _Pipe:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __getattr__(self, _name):
            return lambda *a, **k: None

        def execute(self):
            return []

    plan = _plan(resolution=5)
    values = Spreader(Failing(), lambda _s: None, helpers=1, block=4)(plan)
    np.testing.assert_allclose(values.loss["train"], evaluate_plan(plan).loss["train"], rtol=1e-6)
