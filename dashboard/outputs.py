"""A callback's outputs by name: a page declares them as a dict of Dash ``Output``s (Dash's grouped
outputs) and its callback returns a dict, so that no output is counted or placed by hand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import ctx, no_update


def updates(outputs: Mapping[str, Any], **values: Any) -> dict[str, Any]:
    """What a callback with the dict ``outputs`` returns: ``values`` by name, no_update for the others."""
    unknown = values.keys() - outputs.keys()
    if unknown:
        raise KeyError(f"not an output of this callback: {', '.join(sorted(unknown))}")
    return {name: values.get(name, no_update) for name in outputs}


def matched(name: str) -> list[dict[str, Any]]:
    """The components the running callback's pattern-matched output ``name`` matched (``id`` and
    ``property`` each, in the request's order): Dash's ``ctx.outputs_grouping`` by name."""
    return ctx.outputs_grouping[name]
