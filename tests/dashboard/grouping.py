"""Dict-output callbacks called as plain functions, with Dash's context as the server sets it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash._callback_context import context_value


def grouped(fn: Callable, **matched: list[dict[str, Any]]) -> Callable:
    """``fn`` run as Dash runs a callback with dict outputs (inside ``conftest.call_callback``):
    ``ctx.outputs_grouping`` names each pattern-matched output's components, ``matched``."""

    def run(*args: Any) -> Any:
        context_value.get().update(outputs_grouping=matched, using_outputs_grouping=True)
        return fn(*args)

    return run
