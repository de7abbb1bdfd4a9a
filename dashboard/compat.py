"""Every private name of a library that the project uses, in one place.

tests/dashboard/test_compat.py pins them to the installed versions: a Dash (or Python) upgrade
that moves one of them fails there, by name, not somewhere in a job.
"""

from __future__ import annotations

import multiprocessing.process
from collections.abc import Callable
from typing import Any

from dash._callback_context import context_value
from dash._utils import AttributeDict
from dash.background_callback._proxy_set_props import ProxySetProps
from dash.background_callback.managers import BaseBackgroundCallbackManager

__all__ = ["BaseBackgroundCallbackManager", "background_functions", "forget_child", "ignoring_pages",
           "job_context"]


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
