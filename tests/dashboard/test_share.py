"""The per-session gate on heavy computations, on a real job store with real threads."""

from __future__ import annotations

import threading
import time

import pytest
from dash.exceptions import PreventUpdate

from dashboard.clients import Client
from dashboard.settings import ClientLimits
from dashboard.share import Busy, Gate, request_order
from dashboard.store import DiskStore

ALICE, BOB = Client("s:alice", "10.0.0.1"), Client("s:bob", "10.0.0.2")


@pytest.fixture
def gate(tmp_path):
    return Gate(DiskStore(str(tmp_path)), wait_s=5, lease_s=3)


def _in_thread(fn):
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = fn()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_other_sessions_never_wait(gate):
    first = gate.acquire(ALICE, "render")
    assert gate.acquire(BOB, "render")
    gate.release(ALICE, first)


def test_a_session_computes_one_thing_at_a_time(gate):
    first = gate.acquire(ALICE, "render")
    thread, outcome = _in_thread(lambda: gate.acquire(ALICE, "render"))
    time.sleep(0.5)
    assert thread.is_alive(), "the second request waits for the first"
    gate.release(ALICE, first)
    thread.join(5)
    assert "value" in outcome


def test_a_newer_request_of_the_same_callback_replaces_the_waiting_one(gate):
    first = gate.acquire(ALICE, "render")
    older, older_outcome = _in_thread(lambda: gate.acquire(ALICE, "render"))
    time.sleep(0.3)
    other, other_outcome = _in_thread(lambda: gate.acquire(ALICE, "compare"))  # another callback: kept
    newer, newer_outcome = _in_thread(lambda: gate.acquire(ALICE, "render"))
    older.join(5)
    assert isinstance(older_outcome.get("error"), PreventUpdate), "the stale request gives up at once"
    gate.release(ALICE, first)
    newer.join(5)
    if "value" in newer_outcome:
        gate.release(ALICE, newer_outcome["value"])
    other.join(5)
    assert "value" in newer_outcome and "value" in other_outcome


def test_the_browser_s_order_decides_which_request_is_newer(gate):
    """Requests 4 and 5 of one page, sent 10 ms apart, reach their threads the other way round:
    5 still waits and computes, 4 gives up at once (the page shows only its newest answer)."""
    first = gate.acquire(ALICE, "render", ("page1", 3))
    newer, newer_outcome = _in_thread(lambda: gate.acquire(ALICE, "render", ("page1", 5)))
    time.sleep(0.3)
    with pytest.raises(PreventUpdate):
        gate.acquire(ALICE, "render", ("page1", 4))
    assert newer.is_alive(), "the newer request still waits for the slot"
    gate.release(ALICE, first)
    newer.join(5)
    assert "value" in newer_outcome
    gate.release(ALICE, newer_outcome["value"])


def test_two_pages_of_one_session_do_not_replace_each_other(gate):
    """Two tabs of one browser: each keeps its own newest request (both answers are shown)."""
    first = gate.acquire(ALICE, "render", ("tab-a", 1))
    one, one_outcome = _in_thread(lambda: gate.acquire(ALICE, "render", ("tab-a", 9)))
    time.sleep(0.3)
    two, two_outcome = _in_thread(lambda: gate.acquire(ALICE, "render", ("tab-b", 2)))
    time.sleep(0.3)
    gate.release(ALICE, first)
    for thread, outcome in ((one, one_outcome), (two, two_outcome)):
        thread.join(10)
        assert "value" in outcome, outcome
        gate.release(ALICE, outcome["value"])


@pytest.mark.parametrize("body", [None, {}, {"descent_order": "x"}, {"descent_order": ["p", "1"]},
                                  {"descent_order": ["", 1]}, {"descent_order": ["p" * 17, 1]},
                                  {"descent_order": ["p", True]}, {"descent_order": ["p", -1]},
                                  {"descent_order": ["p", 1, 2]}])
def test_a_malformed_order_counts_as_none(body):
    assert request_order(body) is None
    assert request_order({"descent_order": ["p", 7]}) == ("p", 7)


def test_a_dead_holder_frees_the_slot_after_its_lease(gate):
    gate.acquire(ALICE, "render")  # never released: its worker died
    start = time.monotonic()
    assert gate.acquire(ALICE, "render")
    assert time.monotonic() - start >= 2.5


def test_waiting_too_long_is_a_message(tmp_path):
    gate = Gate(DiskStore(str(tmp_path)), wait_s=0.5, lease_s=60)
    gate.acquire(ALICE, "render")
    with pytest.raises(Busy, match="still being computed"):
        gate.acquire(ALICE, "render")


def test_one_address_computes_a_few_things_at_once_and_its_other_requests_wait_or_are_refused(tmp_path):
    """Many sessions from one address (valid cookies, fetched by one client) hold at most
    ADDRESS_COMPUTING computations and ADDRESS_WAITING waiting requests; other addresses never wait."""
    gate = Gate(DiskStore(str(tmp_path)), ClientLimits(ADDRESS_COMPUTING=2, ADDRESS_WAITING=2), wait_s=5, lease_s=30)
    flood = [Client(f"s:flood{i}", "10.6.6.6") for i in range(6)]
    held = [gate.acquire(flood[0], "render"), gate.acquire(flood[1], "render")]
    waiting = [_in_thread(lambda c=c: gate.acquire(c, "render")) for c in flood[2:4]]
    time.sleep(0.4)
    assert all(t.is_alive() for t, _ in waiting), "past the address's slots, requests wait"
    with pytest.raises(Busy, match="your network"):
        gate.acquire(flood[4], "render")  # the address's waiting room is full: refused at once
    start = time.monotonic()
    gate.release(BOB, gate.acquire(BOB, "render"))  # another address is served at once
    assert time.monotonic() - start < 1
    gate.release(flood[0], held[0])
    gate.release(flood[1], held[1])
    for thread, outcome in waiting:
        thread.join(5)
        assert "value" in outcome


def test_requests_that_need_the_same_result_at_once_compute_it_once(tmp_path, monkeypatch):
    """A room's followers open the presenter's new view together: one computes, the rest wait for
    its value (and a key whose computer gave up is computed by the next)."""
    from flask import Flask

    from dashboard import share

    server = Flask(__name__)
    monkeypatch.setattr(share, "_gate", Gate(DiskStore(str(tmp_path)), wait_s=5, lease_s=30))
    cache: dict[str, str] = {}
    computed: list[str] = []
    barrier = threading.Barrier(6)

    def follower() -> str:
        with server.test_request_context("/"):
            barrier.wait()
            with share.single_flight(["view"], cache.get) as found:
                if "view" in found:
                    return found["view"]
                computed.append("view")
                time.sleep(0.5)
                cache["view"] = "figure"
                return "figure"

    threads = [_in_thread(follower) for _ in range(6)]
    for thread, _ in threads:
        thread.join(10)
    assert [outcome.get("value") for _, outcome in threads] == ["figure"] * 6
    assert computed == ["view"], "computed once for six requests"
    with server.test_request_context("/"), share.single_flight(["gone"], cache.get) as found:
        assert found == {}, "nobody computes it: this request does"


def test_people_who_share_an_address_never_replace_each_others_changes(tmp_path):
    """Without a session of the server's, requests count as their address: a newer one waits behind
    an older one instead of replacing it (it may be someone else's change)."""
    gate = Gate(DiskStore(str(tmp_path)), wait_s=5, lease_s=30)
    nat = Client("addr:10.0.0.9", "10.0.0.9")
    first = gate.acquire(nat, "render")
    older, older_outcome = _in_thread(lambda: gate.acquire(nat, "render"))
    time.sleep(0.3)
    newer, newer_outcome = _in_thread(lambda: gate.acquire(nat, "render"))
    time.sleep(0.3)
    assert older.is_alive() and newer.is_alive(), "both wait; neither is dropped"
    gate.release(nat, first)
    deadline = time.monotonic() + 5
    while not ("value" in older_outcome or "value" in newer_outcome):  # either may take the slot next
        assert time.monotonic() < deadline and "error" not in older_outcome and "error" not in newer_outcome
        time.sleep(0.05)
    gate.release(nat, (older_outcome.get("value") or newer_outcome.get("value")))
    older.join(5)
    newer.join(5)
    assert "value" in older_outcome and "value" in newer_outcome, "both changes were computed"
