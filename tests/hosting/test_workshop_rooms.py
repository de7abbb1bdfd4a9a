"""Rooms across gunicorn's two workers on Redis: a room made through one worker is served by the
other, followers are counted by both, and the presenter/follower flow runs in the browser.

(Named to run after test_workshop.py on the same server: its cache test counts each worker's
misses from a fresh start, and the pages opened here compute in both workers.)"""

from __future__ import annotations

import json
import urllib.request

from tests.browser.test_room import run_room
from tests.hosting.conftest import get_json, post_json, session_cookie


def _publish(url: str, code: str, key: str, address: str) -> dict:
    request = urllib.request.Request(f"{url}/room/{code}", data=json.dumps({"url": address}).encode(),
                                     method="POST", headers={"Content-Type": "application/json", "X-Room-Key": key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_a_room_is_the_same_in_every_worker(workshop, redis_server):
    status, made = post_json(workshop + "/room", {"url": "/?step=1"})
    assert status == 200
    pids, buckets = set(), {}
    cookies = {follower: session_cookie(workshop) for follower in ("a", "b", "c")}  # three browsers
    for i in range(40):  # fresh connections: gunicorn hands them to either worker
        pids.add(get_json(workshop + "/healthz")["pid"])
        rev = _publish(workshop, made["code"], made["key"], f"/?step={i}")["rev"]
        for follower in ("a", "b", "c"):
            poll = urllib.request.Request(f"{workshop}/room/{made['code']}?rev=&bucket={buckets.get(follower, '')}",
                                          headers={"Cookie": cookies[follower]})
            with urllib.request.urlopen(poll, timeout=10) as response:
                seen = json.loads(response.read())
            buckets[follower] = seen["bucket"]
            assert seen["rev"] == rev and seen["url"] == f"/?step={i}"
    assert len(pids) == 2, "both workers answered"
    assert _publish(workshop, made["code"], made["key"], "/?step=39")["followers"] == 3
    keys = [k.decode() for k in redis_server.client().keys("descent-lab:job:room:*")]
    assert f"descent-lab:job:room:{made['code']}" in keys
    assert all(redis_server.client().ttl(k) > 0 for k in keys), "every room key expires"


def test_a_room_follows_the_presenter_across_workers(workshop, browser):
    run_room(browser, workshop, "room-redis")
