"""Fixtures to call the toy lab's callbacks as plain functions and through Dash's endpoint."""

from __future__ import annotations

import json
from contextvars import copy_context
from typing import Any

import pytest
from dash._callback_context import context_value
from dash._utils import AttributeDict

import app as _app  # noqa: F401 - builds the app, so page modules can register
from dashboard.cache import cache
from dashboard.controls import CHECKED
from dashboard.ids import ID, param_id, param_msg_id
from dashboard.state import FIELDS, default_state

FIGURES = [ID.MAP, ID.SURFACE, ID.CURVE, ID.FIT, ID.ALL_MAPS, ID.ALL_CURVES, ID.ALL_FITS]


@pytest.fixture(scope="session")
def dash_app():
    import app as app_module

    return app_module.app


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


def control_values(overrides: dict[str, Any] | None = None) -> list[Any]:
    """Every param control's value as the browser sends it (checklists as lists)."""
    state = {**default_state(), **(overrides or {})}
    out = []
    for f in FIELDS:
        value = state[f.key]
        out.append(([CHECKED] if value else []) if f.param.kind is bool and isinstance(value, bool) else value)
    return out


def _stringify(component_id: Any) -> str:
    return json.dumps(component_id, sort_keys=True, separators=(",", ":")) if isinstance(component_id, dict) else component_id


def call_callback(fn, *args, inputs_list=None, outputs_list=None, triggered=None):
    """Run a callback function with Dash's callback context set, as the server would."""
    prop_ids = [{"prop_id": f"{_stringify(cid)}.{prop}", "value": None} for cid, prop in (triggered or [])]

    def run():
        context_value.set(AttributeDict(
            inputs_list=inputs_list or [], outputs_list=outputs_list or [],
            triggered_inputs=prop_ids, updated_props={}))
        return fn(*args)

    return copy_context().run(run)


def render_lists(values: list[Any]) -> tuple[list, list]:
    inputs_list = [[{"id": param_id(f.group, f.param.name), "property": "value", "value": v}
                    for f, v in zip(FIELDS, values)]]
    outputs_list = [[{"id": param_msg_id(f.group, f.param.name), "property": "children"} for f in FIELDS]]
    return inputs_list, outputs_list


def render_body(dash_app, overrides=None, loss="mse", optimizer="sgd", tab="single", log=None,
                changed="loss.value", step=None) -> dict:
    """A POST body for the render callback, as Dash's renderer builds it."""
    deps = dash_app.server.test_client().get("/_dash-dependencies").json
    output = next(d["output"] for d in deps if "run-status.children" in d["output"])
    inputs_list, outputs_list = render_lists(control_values(overrides))
    outputs = [outputs_list[0], {"id": ID.STATUS, "property": "children"},
               *[{"id": f, "property": "figure"} for f in FIGURES],
               {"id": ID.STEP, "property": "max"}, {"id": ID.STEP, "property": "value"},
               {"id": ID.VIEW_STORE, "property": "data"}]
    inputs = [inputs_list[0], {"id": ID.LOSS, "property": "value", "value": loss},
              {"id": ID.OPTIMIZER, "property": "value", "value": optimizer},
              {"id": ID.TABS, "property": "value", "value": tab},
              {"id": ID.LOG, "property": "value", "value": [] if log is None else log}]
    return {"output": output, "outputs": outputs, "inputs": inputs, "changedPropIds": [changed],
            "state": [{"id": ID.STEP, "property": "value", "value": step}]}
