"""The job book: caps, the queue and its positions, deadlines, and a store that never unpickles.

The book runs on a real DiskStore (diskcache in a temporary folder) with a clock the test moves;
the processes and Celery workers around it are tested in tests/hosting.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import threading
import time

import pytest

from dashboard.clients import Client
from dashboard.jobs import ABANDONED, LOST, NEVER_STARTED, JobBook, JobLimits, JobRefused, Jobs
from dashboard.jobs.run import Executor, lower_priority
from dashboard.store import DiskStore

S1 = Client("s:s1", "10.0.0.1")

LIMITS = JobLimits(JOBS_MAX=2, JOBS_PER_SESSION=2, JOBS_QUEUE=3, JOBS_ABANDON_S=30, JOBS_LOST_S=8,
                   JOBS_START_S=60, JOBS_STALL_S=180)


@pytest.fixture
def book(tmp_path, clock):
    return JobBook(DiskStore(str(tmp_path)), LIMITS, clock)


class Idle:
    """A launcher that starts nothing: the jobs hold their slots; their heartbeats say the rest."""

    def launch(self, job: str) -> None:
        pass

    def kill(self, pid) -> None:
        pass

    def alive(self, beat) -> None:
        return None

    def warm(self) -> None:
        pass


def _manager(tmp_path) -> Jobs:
    from dashboard.hosting import queued_progress

    return Jobs(DiskStore(str(tmp_path)), LIMITS, lambda: S1, queued_progress, Idle())


def submit(book: JobBook, job: str, session: str, address: str | None = None) -> list[str]:
    """Submit ``job`` for ``session`` (from an address of its own unless ``address`` is given)."""
    who = Client(f"s:{session}", address or f"10.0.0.{session}")
    return book.submit(job, who, {"callback": "k", "args": [1], "context": {}})


def test_jobs_run_up_to_the_cap_and_the_rest_wait_in_order(book):
    assert submit(book, "a", "s1") == ["a"]
    assert submit(book, "b", "s2") == ["b"]
    assert submit(book, "c", "s3") == []
    assert submit(book, "d", "s4") == []
    assert [book.state(j).state for j in "abcd"] == ["running", "running", "queued", "queued"]
    assert [book.state(j).ahead for j in "cd"] == [0, 1]
    book.beat("a", 0)
    book.release("a")
    assert book.admit() == ["c"], "a freed slot goes to the first in line"
    assert book.state("d").ahead == 0
    assert book.payload("c") == {"callback": "k", "args": [1], "context": {}}


def test_a_session_holds_at_most_its_share_and_a_full_queue_refuses(book):
    submit(book, "a", "s1")
    submit(book, "b", "s1")
    with pytest.raises(JobRefused, match="you already have 2 jobs"):
        submit(book, "c", "s1")
    for job, session in (("c", "s2"), ("d", "s3"), ("e", "s4")):
        submit(book, job, session)
    with pytest.raises(JobRefused, match="the server is busy"):
        submit(book, "f", "s5")
    assert book.state("f").state == "done", "a refused job is not on the book"


def test_one_address_holds_at_most_its_share_of_the_queue(tmp_path, clock):
    """Many sessions from one address (one client fetching fresh cookies) cannot fill the queue."""
    book = JobBook(DiskStore(str(tmp_path)), JobLimits(JOBS_MAX=1, JOBS_QUEUE=10, JOBS_PER_ADDRESS=3), clock)
    for i in range(3):
        submit(book, f"f{i}", f"flood{i}", "10.6.6.6")
    with pytest.raises(JobRefused, match="your network already has 3 jobs"):
        submit(book, "f3", "flood3", "10.6.6.6")
    assert submit(book, "real", "alice", "10.0.0.7") == [], "another address still gets in line"
    assert book.state("real").state == "queued"


def test_a_job_whose_heartbeat_stops_is_lost_and_frees_its_slot(book, clock):
    submit(book, "a", "s1")
    submit(book, "b", "s2")
    submit(book, "c", "s3")
    book.beat("a", clock.now)
    book.beat("b", clock.now)
    clock.now += LIMITS.JOBS_LOST_S - 1
    book.beat("b", clock.now)
    assert book.state("a").state == "running"
    clock.now += 2  # a's last beat is now older than JOBS_LOST_S, b's is fresh
    assert book.state("a") == book.state("a") and book.state("a").message == LOST
    assert book.state("b").state == "running"
    assert book.admit() == ["c"]


def test_dead_running_jobs_free_their_slots_even_when_nobody_polls_them(book, clock):
    submit(book, "a", "s1")
    submit(book, "b", "s2")
    submit(book, "c", "s3")
    book.beat("a", clock.now)
    clock.now += LIMITS.JOBS_LOST_S + 1
    book.beat("b", clock.now)
    book.polled("c")
    assert book.admit() == ["c"], "a's slot is taken back although nobody asked about a"
    assert book.ending("a")["message"] == LOST


def test_a_job_that_never_starts_is_reported(book, clock):
    submit(book, "a", "s1")
    clock.now += LIMITS.JOBS_START_S - 1
    assert book.state("a").state == "running", "start-up time is allowed"
    clock.now += 2
    assert book.state("a").message == NEVER_STARTED


def test_a_job_without_progress_is_asked_to_stop(book, clock):
    submit(book, "a", "s1")
    started = clock.now
    for _ in range(int(LIMITS.JOBS_STALL_S) // 5 + 1):
        clock.now += 5
        book.beat("a", started)  # alive, but its progress never moves
    state = book.state("a")
    assert state.state == "ended" and "no progress" in state.message
    assert book.stop_reason("a") == "stalled"


def test_queued_jobs_nobody_polls_leave_the_queue(book, clock):
    submit(book, "a", "s1")
    submit(book, "b", "s2")
    submit(book, "c", "s3")
    submit(book, "d", "s4")
    book.beat("a", clock.now)
    book.beat("b", clock.now)
    clock.now += LIMITS.JOBS_ABANDON_S + 1
    book.beat("a", clock.now)
    book.beat("b", clock.now)
    book.polled("d")
    book.release("a")
    assert book.admit() == ["d"], "c was abandoned while it waited"
    assert book.ending("c")["message"] == ABANDONED


def test_the_store_never_unpickles(tmp_path):
    store = DiskStore(str(tmp_path))
    store.set("x", "text", expire=60)
    assert store.get("x") == "text"
    with pytest.raises(TypeError):
        store.set("y", {"a": 1}, expire=60)  # type: ignore[arg-type]

    class Boom:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('%s').write_text('ran')" % (tmp_path / "ran"),))

    # a pickle written into the store's database by someone else (mode 4 is diskcache's pickle mode)
    with sqlite3.connect(tmp_path / "cache.db") as db:
        changed = db.execute("UPDATE Cache SET mode = 4, value = ? WHERE key = ?",
                             (pickle.dumps(Boom()), "descent-lab:job:x")).rowcount
    assert changed == 1
    assert store.get("x") is None
    assert not (tmp_path / "ran").exists()


def test_a_broken_book_entry_reads_as_empty(book):
    book.store.set("book", "{not json", expire=60)
    assert submit(book, "a", "s1") == ["a"]
    book.store.set("beat:a", "[1, 2", expire=60)
    assert book.heartbeat("a") is None


def test_a_result_stored_between_two_reads_of_a_poll_is_collected_by_the_next(tmp_path):
    """Dash polls with get_result, then job_running: a result stored in between must keep the job
    'running' (else Dash answers 204 and the page never shows it), and a collected one must not."""
    manager = _manager(tmp_path)  # the job "runs" in this test process: its heartbeats speak
    job = manager.book.submit("j", S1, {"callback": "k", "args": [], "context": {}})[0]
    manager.book.beat(job, time.time())
    assert manager.get_result(job, job) is manager.UNDEFINED
    Executor(manager.store, LIMITS, {}).finish(job, '{"done": 1}', None)  # it finishes between the two reads
    assert manager.job_running(job), "not collected yet: keep polling"
    assert manager.get_result(job, job) == {"done": 1}
    assert not manager.job_running(job), "collected: over (and not cancelled)"
    assert manager.book.ending(job) is None


def test_a_cancel_between_two_reads_of_a_poll_is_said_by_the_next(tmp_path):
    """Cancel is a request of its own: one that ends the job between a poll's get_result and its
    job_running must keep the job 'running' for one more poll, which says "Cancelled." (else Dash
    answered 204, the page stopped polling and kept its last progress: seen under load)."""
    manager = _manager(tmp_path)
    job = manager.book.submit("j", S1, {"callback": "k", "args": [], "context": {}})[0]
    manager.book.beat(job, time.time())
    assert manager.get_result(job, job) is manager.UNDEFINED
    manager.terminate_job(job)  # the Cancel request, between the poll's two reads
    assert manager.job_running(job), "its ending not said yet: keep polling"
    assert manager.get_result(job, job) == {"background_callback_error": {"msg": "Cancelled.", "tb": ""}}
    assert not manager.job_running(job), "said: over"


def test_where_the_process_can_be_seen_it_decides_not_the_heartbeat(tmp_path, clock):
    """One machine: a live job with a late heartbeat (a loaded machine) is not lost; a job whose
    process is gone is lost at once, however fresh its last heartbeat."""
    processes = {"a": True, "b": False}
    book = JobBook(DiskStore(str(tmp_path)), LIMITS, clock, alive=lambda beat: processes[beat["name"]])
    submit(book, "a", "s1")
    submit(book, "b", "s2")
    for job in "ab":
        book.store.set(f"beat:{job}", f'{{"at": {clock.now}, "pid": 1, "name": "{job}", "progress_at": {clock.now}}}',
                       expire=60)
    assert book.state("b").message == LOST, "gone: lost without waiting for JOBS_LOST_S"
    clock.now += LIMITS.JOBS_LOST_S * 3
    assert book.state("a").state == "running", "alive, only late"


def test_a_real_dead_pid_is_seen_as_dead():
    import subprocess
    import sys

    from dashboard.jobs.local import ForkserverLauncher

    alive = ForkserverLauncher().alive
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    assert alive({"pid": int(done.stdout)}) is False
    import os

    assert alive({"pid": os.getpid()}) is None, "not a forkserver's child: the heartbeat's age decides"


def test_the_heartbeat_outlives_a_store_that_blinks(tmp_path):
    """One failed write (Redis restarting, a locked database) must not end the heartbeats for good:
    where only the heartbeat speaks (Celery), a live job would then be reported lost."""
    from dashboard.jobs import HEARTBEAT_S
    from dashboard.jobs.run import _Watch

    manager = Executor(DiskStore(str(tmp_path)), LIMITS, {})
    job = manager.book.submit("j", S1, {"callback": "k", "args": [], "context": {}})[0]
    manager.book.polled(job)
    real_beat, failures = manager.book.beat, [1]

    def blinking(*args):
        if failures:
            failures.pop()
            raise ConnectionError("store restarting")
        real_beat(*args)

    watch = _Watch(manager, job)  # its first beat is written before the thread starts
    manager.book.beat = blinking
    first = manager.book.heartbeat(job)["at"]
    time.sleep(HEARTBEAT_S * 3.5)
    watch.done.set()
    assert not failures, "the failing write was tried"
    assert manager.book.heartbeat(job)["at"] > first, "and the beats went on after it"


def test_a_waiting_job_shows_its_place_in_line(tmp_path):
    """The page's progress row of a queued job says how many are ahead (the hosting tests cannot
    count on catching this state: it lasts as long as the jobs ahead of it)."""
    manager = _manager(tmp_path)  # nothing launches: the first two only hold the slots
    for job, session in (("a", "s1"), ("b", "s2"), ("c", "s3"), ("d", "s4")):
        manager.book.submit(job, Client(session, "10.0.0.1"), {"callback": "k", "args": [], "context": {}})
    assert manager.get_progress("c") == ["0", "1", "Waiting: yours is next."]
    assert manager.get_progress("d") == ["0", "1", "Waiting: 1 job ahead of yours."]


def test_a_job_that_finishes_while_a_poll_looks_at_it_is_not_called_lost(tmp_path, clock):
    """A poll read the book (the job running), then the job stored its result, left the book and
    exited, then the poll asked whether its process runs: it does not, yet nothing was lost."""
    book = JobBook(DiskStore(str(tmp_path)), LIMITS, clock, alive=lambda beat: False)
    submit(book, "a", "s1")
    book.store.set("beat:a", f'{{"at": {clock.now}, "pid": 1, "progress_at": {clock.now}}}', expire=60)
    real = book._dead

    def finishes_meanwhile(entry, now):
        book.release("a")  # the job's _finish, between the poll's read of the book and its check
        return real(entry, now)

    book._dead = finishes_meanwhile
    assert book.state("a").state == "done"
    assert book.ending("a") is None, "no 'Lost' message is recorded"


def test_a_job_may_allocate_its_ceiling_beyond_its_start_in_whole_mib():
    """limit_memory(64): 32 MB more is allowed, 256 MB more fails as MemoryError (not the process);
    the limit is whole MiB (Chrome, the exports' renderer, hangs under one that is not)."""
    import subprocess
    import sys

    code = """
import resource
import psutil
from dashboard.jobs.run import limit_memory
start = psutil.Process().memory_info().data
limit_memory(64)
limit = resource.getrlimit(resource.RLIMIT_DATA)[0]
assert limit % (1 << 20) == 0 and 63 << 20 <= limit - start <= 65 << 20, (start, limit)
kept = bytearray(32 << 20)
try:
    bytearray(256 << 20)
except MemoryError:
    print("refused")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False,
                         env={**__import__("os").environ, "MALLOC_MMAP_THRESHOLD_": "1073741824"})
    assert out.returncode == 0 and out.stdout.strip() == "refused", out.stderr


def test_a_job_runs_below_the_web_workers_and_never_climbs_back():
    """A job's thread (and what it starts) runs at JOBS_NICE; a second job in the same process (a
    Celery pool child) leaves it there; the thread that started it keeps its own priority."""
    before, seen = os.getpriority(os.PRIO_PROCESS, 0), []

    def job() -> None:
        lower_priority(JobLimits().JOBS_NICE)
        seen.append(os.getpriority(os.PRIO_PROCESS, 0))
        lower_priority(3)
        seen.append(os.getpriority(os.PRIO_PROCESS, 0))

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen == [max(before, 10)] * 2 and os.getpriority(os.PRIO_PROCESS, 0) == before


def test_a_nice_out_of_range_stops_the_server(setenv):
    from dashboard.settings import settings

    setenv("JOBS_NICE", "20")
    with pytest.raises(SystemExit, match="JOBS_NICE=20: expected 1 to 19"):
        settings()
