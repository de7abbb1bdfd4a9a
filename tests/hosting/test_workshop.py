"""Scale-out with the real parts: two gunicorn workers share the Redis cache, a background job
runs on a Celery worker with progress, and the app outlives Redis going away and coming back."""

from __future__ import annotations

import time
import tomllib
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from dashboard.callback_requests import render_body
from dashboard.ids import ID

from .conftest import ROOT, get_json, post_json

UPDATE = "/_dash-update-component"


def _render(url: str, overrides: dict | None = None) -> dict:
    body = render_body(get_json(url + "/_dash-dependencies"), overrides)
    status, doc = post_json(url + UPDATE, body)
    assert status == 200
    return doc["response"]


def _workers(url: str, tries: int = 60) -> dict[int, dict]:
    """Each worker's latest /healthz, by pid (new connections land on either worker)."""
    seen: dict[int, dict] = {}
    for _ in range(tries):
        health = get_json(url + "/healthz")
        seen[health["pid"]] = health
    return seen


def _served(health: dict) -> int:
    return health["cache"]["hits"] + health["cache"]["misses"] + health["cache"]["errors"]


def test_healthz_names_the_version_cache_and_job_queue(workshop):
    health = get_json(workshop + "/healthz")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert health["status"] == "ok" and health["version"] == version
    assert health["cache"]["backend"] == "RedisCache" and health["cache"]["reachable"] is True
    assert health["background"]["manager"] == "celery" and health["background"]["reachable"] is True
    assert health["background"]["jobs"]["max"] >= 1


def test_two_workers_share_one_cache(workshop, redis_server):
    overrides = {"sgd.lr": 0.0123, "run.epochs": 77}  # a spec no other test computes
    _render(workshop, overrides)  # one worker computes and stores in Redis
    keys = list(redis_server.client().keys("descent-lab:compute.*"))
    assert keys, "the computed arrays should be in Redis"
    deadline = time.monotonic() + 60
    while True:  # more of the same request, several at once, until both workers have served it
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: _render(workshop, overrides), range(8)))
        workers = _workers(workshop)
        if len(workers) == 2 and all(_served(h) > 0 for h in workers.values()):
            break
        assert time.monotonic() < deadline, f"the second worker never served a request: {workers}"
    misses = sum(h["cache"]["misses"] for h in workers.values())
    computed = len(redis_server.client().keys("descent-lab:compute.*"))
    assert misses == computed, "each array was computed once, by one worker, for both"
    assert sorted(h["cache"]["misses"] == 0 for h in workers.values()) == [False, True]
    assert all(h["cache"]["hits"] > 0 for h in workers.values() if h["cache"]["misses"] == 0)


@pytest.mark.browser
def test_a_background_job_runs_on_the_celery_worker_with_progress(workshop, browser):
    page = browser.new_page()
    # long enough for the page to poll its progress a few times (a few seconds), no longer
    page.goto(workshop + "/sweep?sweep.x_points=100&sweep.y_points=80&run.epochs=200&data.n=300")
    texts = set()
    deadline = time.monotonic() + 120
    while "done" not in (text := page.locator("#sweep-progress-text").inner_text()):
        texts.add(text)
        assert time.monotonic() < deadline, f"the sweep did not finish: {texts}"
        page.wait_for_timeout(100)
    assert any(": step " in t for t in texts), f"no progress was shown: {texts}"
    expect(page.locator("#sweep-figure .gtitle")).to_contain_text("final loss over lr × momentum")
    page.close()
    log = (ROOT / "artifacts" / "hosting-celery.log").read_text()
    assert "descent_lab.run_job" in log and "succeeded" in log


@pytest.mark.browser
def test_the_app_outlives_redis_and_recovers(workshop, redis_server, browser):
    page = browser.new_page()
    sweep = workshop + "/sweep?sweep.x_points=20&sweep.y_points=20&run.epochs=30"
    redis_server.stop()
    try:
        page.goto(sweep)  # a background job cannot be queued: the page says so
        expect(page.locator("#sweep-progress-text")).to_contain_text("job queue (Redis) is unreachable",
                                                                     timeout=60_000)
        health = get_json(workshop + "/healthz")
        assert health["status"] == "degraded"
        assert health["cache"]["reachable"] is False and health["background"]["reachable"] is False
        doc = _render(workshop, {"sgd.lr": 0.0321})  # computed without the cache
        assert doc[ID.MAP]["figure"]["layout"]["title"]["text"] == "MSELoss"
        with urllib.request.urlopen(workshop + "/", timeout=10) as response:  # the page itself
            assert response.status == 200
    finally:
        redis_server.start()
    deadline = time.monotonic() + 30
    while not (health := get_json(workshop + "/healthz"))["cache"]["reachable"]:
        assert time.monotonic() < deadline, "the cache did not come back"
        time.sleep(0.2)
    _render(workshop, {"sgd.lr": 0.0321})
    assert redis_server.client().keys("descent-lab:compute.*"), "results are cached again"
    page.goto(sweep)  # and jobs run again on the Celery worker
    expect(page.locator("#sweep-progress-text")).to_contain_text("400 runs × 30 steps done", timeout=60_000)
    page.close()


def test_a_poisoned_redis_entry_is_never_run_and_is_recomputed(workshop, redis_server, tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):
            return (exec, (f"open({str(marker)!r}, 'w').write('ran')",))

    client = redis_server.client()
    overrides = {"sgd.lr": 0.0456, "run.epochs": 33}  # a spec no other test computes
    before = set(client.keys("descent-lab:compute.*"))
    first = _render(workshop, overrides)
    written = set(client.keys("descent-lab:compute.*")) - before
    assert written, "the render stored its arrays"
    for key in written:  # what someone with access to Redis could write: pickles
        assert not client.get(key).startswith(b"!\x80"), "stored values are not pickles"
        client.set(key, b"!" + pickle.dumps(Boom()))
    for _ in range(4):  # both workers read the poisoned entries (or their recomputed ones)
        again = _render(workshop, overrides)
        assert again[ID.MAP]["figure"] == first[ID.MAP]["figure"]
    assert not marker.exists(), "a cached value ran code in a web worker"
