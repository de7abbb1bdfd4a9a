"""POST bodies for the toy lab's callbacks, built as Dash's renderer builds them.

Used by the endpoint tests and the latency benchmark to exercise the real
``/_dash-update-component`` path (validation, callback, serialization) without a browser.
"""

from __future__ import annotations

from typing import Any

from dashboard.controls import as_control
from dashboard.ids import ID, TOY, param_id, param_msg_id, shown_messages_id
from dashboard.state import FIELDS, default_state


def control_values(overrides: dict[str, Any] | None = None) -> list[Any]:
    """Every param control's value as the browser sends it (checklists as lists)."""
    state = {**default_state(), **(overrides or {})}
    return [as_control(f.param, state[f.key]) for f in FIELDS]


def render_lists(values: list[Any]) -> tuple[list, list]:
    """The render callback's ``inputs_list[0]`` and ``outputs_list[0]`` pattern-matched entries."""
    inputs = [[{"id": param_id(f.group, f.param.name), "property": "value", "value": v}
               for f, v in zip(FIELDS, values)]]
    outputs = [[{"id": param_msg_id(f.group, f.param.name), "property": "children"} for f in FIELDS]]
    return inputs, outputs


def output_spec(dependencies: list[dict], marker: str) -> str:
    """The ``output`` string of the callback whose outputs include ``marker``."""
    return next(d["output"] for d in dependencies if marker in d["output"])


def render_body(dependencies: list[dict], overrides: dict[str, Any] | None = None, loss: Any = "mse",
                optimizer: Any = "sgd", tab: Any = "single", log: Any = None, schedule: Any = "none",
                changed: str = "loss.value", step: Any = None, drawn: Any = None,
                shown: Any = None, surface: Any = "none") -> dict[str, Any]:
    """A POST body for the render callback (``dependencies``: the JSON of /_dash-dependencies);
    ``drawn``: the view store of the figures on screen (a new run over the same maps sends none);
    ``shown``: the settings whose message slots show a message."""
    inputs_list, outputs_list = render_lists(control_values(overrides))
    output = output_spec(dependencies, f"{ID.STATUS}.children")
    # the callback's outputs in its order, the message slots (its one pattern-matched output) listed
    outputs = [outputs_list[0] if part["id"].startswith("{") else part for part in split_outputs(output)]
    inputs = [inputs_list[0], {"id": ID.LOSS, "property": "value", "value": loss},
              {"id": ID.OPTIMIZER, "property": "value", "value": optimizer},
              {"id": ID.SCHEDULE, "property": "value", "value": schedule},
              {"id": ID.TABS, "property": "value", "value": tab},
              {"id": ID.LOG, "property": "value", "value": [] if log is None else log}]
    return {"output": output, "outputs": outputs,
            "inputs": inputs, "changedPropIds": [changed],
            "state": [{"id": ID.PROBLEM, "property": "value", "value": surface},
                      {"id": ID.STEP, "property": "value", "value": step},
                      {"id": ID.VIEW_STORE, "property": "data", "value": drawn},
                      {"id": shown_messages_id(TOY), "property": "data", "value": [] if shown is None else shown}]}


def split_outputs(output: str) -> list[dict[str, str]]:
    """The ``outputs`` entries of a callback whose ``output`` string is ``..a.x...b.y@hash..``."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]} for part in parts]


def callback_body(dependencies: list[dict], marker: str, values: dict[str, Any]) -> dict[str, Any]:
    """A POST body for the callback whose outputs include ``marker``, as the renderer builds it:
    ``values`` maps ``"id.property"`` of its inputs and states to what the page holds."""
    dep = next(d for d in dependencies if marker in d["output"])

    def entries(kind: str) -> list[dict[str, Any]]:
        return [{**item, "value": values.get(f"{item['id']}.{item['property']}")} for item in dep[kind]]

    inputs = entries("inputs")
    return {"output": dep["output"], "outputs": split_outputs(dep["output"]), "inputs": inputs,
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"], "state": entries("state")}
