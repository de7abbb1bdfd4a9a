"""The per-session gate on heavy computations, on a real job store with real threads."""

from __future__ import annotations

import threading
import time

import pytest
from dash.exceptions import PreventUpdate

from dashboard.jobs import DiskStore
from dashboard.share import Busy, Gate


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
    first = gate.acquire("alice", "render")
    assert gate.acquire("bob", "render")
    gate.release("alice", first)


def test_a_session_computes_one_thing_at_a_time(gate):
    first = gate.acquire("alice", "render")
    thread, outcome = _in_thread(lambda: gate.acquire("alice", "render"))
    time.sleep(0.5)
    assert thread.is_alive(), "the second request waits for the first"
    gate.release("alice", first)
    thread.join(5)
    assert "value" in outcome


def test_a_newer_request_of_the_same_callback_replaces_the_waiting_one(gate):
    first = gate.acquire("alice", "render")
    older, older_outcome = _in_thread(lambda: gate.acquire("alice", "render"))
    time.sleep(0.3)
    other, other_outcome = _in_thread(lambda: gate.acquire("alice", "compare"))  # another callback: kept
    newer, newer_outcome = _in_thread(lambda: gate.acquire("alice", "render"))
    older.join(5)
    assert isinstance(older_outcome.get("error"), PreventUpdate), "the stale request gives up at once"
    gate.release("alice", first)
    newer.join(5)
    if "value" in newer_outcome:
        gate.release("alice", newer_outcome["value"])
    other.join(5)
    assert "value" in newer_outcome and "value" in other_outcome


def test_a_dead_holder_frees_the_slot_after_its_lease(gate):
    gate.acquire("alice", "render")  # never released: its worker died
    start = time.monotonic()
    assert gate.acquire("alice", "render")
    assert time.monotonic() - start >= 2.5


def test_waiting_too_long_is_a_message(tmp_path):
    gate = Gate(DiskStore(str(tmp_path)), wait_s=0.5, lease_s=60)
    gate.acquire("alice", "render")
    with pytest.raises(Busy, match="still being computed"):
        gate.acquire("alice", "render")
