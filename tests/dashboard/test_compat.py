"""The private names of libraries the project uses (dashboard/compat.py), pinned to the installed
versions: an upgrade that moves one fails here, by name."""

import importlib.metadata
import multiprocessing.process
import re

import dash

from dashboard import compat
from tests.serving import ROOT_DIR


def test_the_pinned_dash_is_the_installed_one():
    pinned = re.search(r"^dash\[diskcache\]==(\S+)$", (ROOT_DIR / "requirements.txt").read_text(), re.M)
    assert pinned and dash.__version__ == pinned.group(1), "compat.py was checked against the pinned Dash"


def test_background_callbacks_registered_at_import_are_found():
    functions = compat.background_functions()
    assert isinstance(compat.BaseBackgroundCallbackManager.functions, list)
    assert functions, "the pages' background callbacks (sweep, landscape, export) are registered"
    assert all(set(entry) == {"key", "fn", "progress"} and callable(entry["fn"]) for entry in functions.values())


def test_a_job_sees_the_callback_context_with_its_own_set_props():
    from dash._callback_context import context_value

    calls = []
    compat.job_context({"triggered_inputs": []}, lambda component, props: calls.append((component, props)))
    context = context_value.get()
    assert context.ignore_register_page is False and context.triggered_inputs == []
    context.updated_props["x"] = {"children": "y"}
    assert calls == [("x", {"children": "y"})]


def test_a_started_process_can_be_let_go():
    assert isinstance(multiprocessing.process._children, set)
    process = multiprocessing.get_context("spawn").Process(target=print)
    multiprocessing.process._children.add(process)
    compat.forget_child(process)
    assert process not in multiprocessing.process._children


def test_kaleidos_renderer_is_stopped_within_a_bound(monkeypatch):
    """Kaleido's stop joins its thread without a bound: one that hangs is forgotten after the wait,
    and the next start opens a new one (its singleton's private flag, pinned here)."""
    import threading

    import kaleido

    pinned = re.search(r"^kaleido==(\S+)$", (ROOT_DIR / "requirements.txt").read_text(), re.M)
    assert pinned and importlib.metadata.version("kaleido") == pinned.group(1), "checked against the pinned Kaleido"
    server = kaleido._global_server
    assert server.is_running() is server._initialized
    hung = threading.Event()
    monkeypatch.setattr(kaleido, "stop_sync_server", lambda **_: hung.wait(30))
    monkeypatch.setattr(server, "_initialized", True)
    assert compat.stop_kaleido(0.2) is False and not server.is_running()
    hung.set()
    monkeypatch.setattr(kaleido, "stop_sync_server", lambda **_: None)
    assert compat.stop_kaleido(5) is True
