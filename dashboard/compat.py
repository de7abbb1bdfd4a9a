"""Every private name of a library that the project uses, in one place.

tests/dashboard/test_compat.py pins them to the installed versions: a Dash (or Python) upgrade
that moves one of them fails there, by name, not somewhere in a job.
"""

from __future__ import annotations

import multiprocessing.process
import threading
from collections.abc import Callable
from typing import Any

from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.background_callback._proxy_set_props import ProxySetProps
from dash.background_callback.managers import BaseBackgroundCallbackManager

__all__ = ["BaseBackgroundCallbackManager", "background_functions", "forget_child", "ignoring_pages",
           "job_context", "stop_kaleido"]


def background_functions() -> dict[str, dict[str, Any]]:
    """The background callbacks every page module registered at import (Dash keeps them on its base
    manager's class for managers made later): key → {"key", "fn", "progress"}."""
    return {key: {"key": key, "fn": fn, "progress": bool(progress)}
            for key, fn, progress in BaseBackgroundCallbackManager.functions}


def ignoring_pages() -> None:
    """Let page modules be imported without a Dash app (a job process needs their callbacks, not their
    pages): ``dash.register_page`` then does nothing, as in Dash's own background workers."""
    context_value.set(AttributeDict(ignore_register_page=True))


def job_context(context: dict[str, Any], set_props: Callable[[Any, Any], None]) -> None:
    """The callback context a background callback sees in a job process: the request's, with
    ``set_props`` writing to the job's store."""
    value = AttributeDict(**context)
    value.ignore_register_page = False
    value.updated_props = ProxySetProps(set_props)
    context_value.set(value)


def forget_child(process: multiprocessing.process.BaseProcess) -> None:
    """Let a started process outlive this one: multiprocessing would otherwise join it at exit."""
    multiprocessing.process._children.discard(process)  # type: ignore[attr-defined]


def stop_kaleido(seconds: float) -> bool:
    """Stop Kaleido's renderer (its sync server: a thread running Chromium), waiting at most
    ``seconds``; False when it did not stop. Kaleido's own stop joins the thread without a bound, and
    on a loaded machine its Chromium's shutdown was seen to hang for good (an export's job, or the
    CLI, then never finished). A renderer that does not stop is forgotten: the next export starts a
    fresh one, and the old thread (a daemon) and its Chromium go with the process."""
    import kaleido

    server = kaleido._global_server  # the module's singleton
    stopper = threading.Thread(target=kaleido.stop_sync_server, kwargs={"silence_warnings": True}, daemon=True)
    stopper.start()
    stopper.join(seconds)
    if stopper.is_alive():
        server._initialized = False  # (is_running: a new start opens a new thread and queues)
        return False
    return True
