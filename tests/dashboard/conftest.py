"""Fixtures to call the toy lab's callbacks as plain functions and through Dash's endpoint."""

from __future__ import annotations

import json
from contextvars import copy_context
from typing import Any

import pytest
from dash._callback_context import context_value
from dash._no_update import NoUpdate
from dash._utils import AttributeDict

import app as _app  # noqa: F401 - builds the app, so page modules can register
from dashboard.cache import cache
from dashboard.callback_requests import control_values, render_lists
from dashboard.callback_requests import render_body as build_render_body


@pytest.fixture(scope="session")
def dash_app():
    import app as app_module

    return app_module.app


class Clock:
    """A clock the test moves by hand (``clock.now += 60``)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server_context(dash_app):
    with dash_app.server.app_context():
        cache.clear()
        yield


@pytest.fixture
def client(dash_app):
    with dash_app.server.app_context():
        cache.clear()
    return dash_app.server.test_client()


def _stringify(component_id: Any) -> str:
    return json.dumps(component_id, sort_keys=True, separators=(",", ":")) if isinstance(component_id, dict) else component_id


def blank(message) -> bool:
    """A message slot left empty: "" (cleared) or no_update (empty before and after)."""
    return message == "" or NoUpdate.is_no_update(message)


def call_callback(fn, *args, inputs_list=None, outputs_list=None, triggered=None, states_list=None):
    """Run a callback function with Dash's callback context set, as the server would."""
    prop_ids = [{"prop_id": f"{_stringify(cid)}.{prop}", "value": None} for cid, prop in (triggered or [])]

    def run():
        context_value.set(AttributeDict(
            inputs_list=inputs_list or [], outputs_list=outputs_list or [], states_list=states_list or [],
            triggered_inputs=prop_ids, updated_props={}))
        return fn(*args)

    return copy_context().run(run)




def render_body(dash_app, overrides=None, **kwargs):
    """A POST body for the render callback, as Dash's renderer builds it."""
    deps = dash_app.server.test_client().get("/_dash-dependencies").json
    return build_render_body(deps, overrides, **kwargs)


__all__ = ["blank", "call_callback", "control_values", "render_body", "render_lists"]
