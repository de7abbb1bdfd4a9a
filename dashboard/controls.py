"""Controls generated from compute's parameter tables: a labelled input and its message slot."""

from __future__ import annotations

import json
import math
from typing import Any

from dash import dcc, html, no_update

from compute import Param
from compute.params import nearest_stop
from dashboard.ids import (
    PARAM_DOWN,
    PARAM_SLIDER,
    PARAM_UP,
    TOY,
    param_id,
    param_msg_id,
    param_part_id,
)
from dashboard.state import FIELD_BY_KEY, PAGES, Checked

CHECKED = "on"


def param_control(group: str, param: Param, value: Any, page: str = TOY, run: int | None = None,
                  slider: bool = True) -> html.Div:
    """A control named by the torch argument, with its help as a tooltip and a message slot.

    Switches are checkboxes. Amounts get a number box for exact values, −/+ buttons that step to
    the next slider stop in the setting's own scale, and a slider over its stops (``Param.stops``);
    seeds and ranges that depend on another setting get the number box only, and so does
    ``slider=False``. The box is the setting's value (what callbacks read); the slider and the
    buttons only write into it, in the browser (assets/descent.js ``sync``), from the stops and
    scale the control carries (``data-stops``, ``data-log``).
    """
    tip = f"{param.help} ({param.range_text()})"
    if param.kind is bool:
        control: Any = dcc.Checklist(
            id=param_id(group, param.name, page, run),
            options=[{"label": param.shown, "value": CHECKED}],
            value=[CHECKED] if value else [],
            className="param-check",
        )
        return html.Div([control, html.Div(id=param_msg_id(group, param.name, page, run), className="param-msg")],
                        className="param", title=tip)
    # A text box: a browser's number box steps by 1 on its arrows (lr 0.1 → 1.1) and sends None for
    # text it cannot parse; the server checks the value and says what the range is.
    text = param.kind is str  # a formula: a wide box, the keyboard's letters (a number's: its digits)
    box = dcc.Input(id=param_id(group, param.name, page, run), type="text", inputMode="text" if text else "decimal",
                    value=value, debounce=True, className="param-input param-text" if text else "param-input",
                    persistence=False, autoComplete="off", spellCheck=False, maxLength=param.hi if text else None)
    parts: list[Any] = [html.Label(param.shown, className="param-label"), box]
    data: dict[str, str] = {}
    if param.stops and slider:
        slider_id = param_part_id(PARAM_SLIDER, group, param.name, page, run)
        # data-key: the setting's key in the page's state (a compared run's: r{run}.group.name), what
        # a live preview of its slider names (data-label: how the page says it, "run 2 · adam.lr")
        data = {"data-stops": json.dumps(list(param.stops)), "data-log": "1" if param.log else "0",
                "data-key": control_key(param_id(group, param.name, page, run)), "data-page": page,
                "data-slider": slider_id, **({} if run is None else {"data-label": f"run {run + 1} · {group}.{param.name}"})}
        at = nearest_stop(param.stops, float(value), param.log) if isinstance(value, (int, float)) else 0
        parts[1] = html.Div([
            html.Button("−", id=param_part_id(PARAM_DOWN, group, param.name, page, run), n_clicks=0,
                        className="nudge nudge-down", title="the next stop down"),
            box,
            html.Button("+", id=param_part_id(PARAM_UP, group, param.name, page, run), n_clicks=0,
                        className="nudge nudge-up", title="the next stop up"),
        ], className="param-box")
        parts.append(dcc.Slider(id=slider_id, min=0,
                                max=len(param.stops) - 1, step=1, value=at, marks=slider_marks(param),
                                included=False, updatemode="mouseup", allow_direct_input=False,
                                className="param-slider"))
    parts.append(html.Div(id=param_msg_id(group, param.name, page, run), className="param-msg"))
    return html.Div(parts, className="param", title=tip, **data)


def slider_marks(param: Param) -> dict[int, str]:
    """Labels under a slider: its ends, and the decades between them on a log slider (at most 4)."""
    stops = param.stops
    marks = {0: f"{stops[0]:g}", len(stops) - 1: f"{stops[-1]:g}"}
    if param.log:
        decades = [i for i, v in enumerate(stops) if v > 0 and math.log10(v) == round(math.log10(v))]
        room = 0.12 * len(stops)  # labels nearer an end than this would overlap it
        inner = [i for i in decades if room <= i <= len(stops) - 1 - room]
        every = max(1, math.ceil(len(inner) / 4))
        marks.update({i: f"{stops[i]:g}" for i in inner[::every]})
    return marks


def group_controls(group: str, state: dict[str, Any], title: str | None = None, page: str = TOY,
                   slider: bool = True) -> list[Any]:
    """The controls of every field of a group of the page's settings, in table order, under an
    optional title (``slider=False``: number boxes only, a hidden group's light form)."""
    controls = [param_control(f.group, f.param, state[f.key], page, slider=slider)
                for f in PAGES[page].groups.get(group, ())]
    return ([html.Div(title, className="group-title")] if title and controls else []) + controls


def control_value(param: Param, value: Any) -> Any:
    """A control's raw value as the setting's value (a checklist's list becomes a bool)."""
    if param.kind is bool and isinstance(value, list):
        return CHECKED in value
    return value


def as_control(param: Param, value: Any) -> Any:
    """A setting's value as its control holds it (a bool becomes a checklist's list): the
    inverse of ``control_value``."""
    return ([CHECKED] if value else []) if param.kind is bool and isinstance(value, bool) else value


def log_checklist(component_id: str, on: bool, label: str = "log colour scale") -> dcc.Checklist:
    return dcc.Checklist(id=component_id, options=[{"label": label, "value": CHECKED}], value=[CHECKED] if on else [])


def clicked_point(click: Any) -> tuple[float, float] | None:
    """(x, y) of a figure's clickData, or None for anything else a request may send."""
    try:
        point = click["points"][0]
        return float(point["x"]), float(point["y"])
    except (TypeError, KeyError, IndexError, ValueError):
        return None


def control_key(component_id: Any) -> str:
    """The setting key of a control's pattern-matched ID: ``group.name``, or ``r{run}.group.name``."""
    if isinstance(component_id, dict):
        key = f"{component_id.get('group')}.{component_id.get('name')}"
        return f"r{component_id['run']}.{key}" if "run" in component_id else key
    return str(component_id)


def error_messages(checked: Checked, *message_outputs: list, blocked: str, shown: Any = ()) -> tuple:
    """What every control's message slot shows and the status lines: the one translation of a
    checked state's errors into the page.

    ``message_outputs``: the ``ctx.outputs_list`` entries of message slots (pattern-matched IDs).
    ``shown``: the keys whose slots show a message now (the page's shown-messages store); a slot
    that is empty and stays empty gets ``no_update``, so that Dash's renderer does no work for it
    (~40 ms a change for the toy lab's 50 slots).
    Returns one list of messages per entry, then the status: when the view is blocked, ``blocked``
    and the errors that no slot shows; else nothing (a bad value the view does not use is shown
    by its control only); then the keys now shown, for the store.
    """
    before = set(shown) if isinstance(shown, list) else set()
    slots: set[str] = set()
    messages = []
    for outputs in message_outputs:
        keys = [control_key(item["id"]) for item in outputs]
        slots.update(keys)
        messages.append([checked.errors.get(key) or ("" if key in before else no_update) for key in keys])
    now = sorted(key for key in checked.errors if key in slots)
    if checked.ok:
        return (*messages, [], now)
    elsewhere = [html.Div(f"{key}: {message}", className="invalid")
                 for key, message in checked.errors.items() if key not in slots]
    return (*messages, [html.Div(blocked, className="invalid"), *elsewhere], now)


def settings_from_controls(items: Any, values: Any) -> dict[str, Any]:
    """Settings keyed ``group.name`` from a pattern-matched input's entries and values.

    Tolerates anything a hand-made request may send: the checks come later.
    """
    settings: dict[str, Any] = {}
    if not isinstance(items, list) or not isinstance(values, list):
        return settings
    for item, value in zip(items, values):
        component = item.get("id") if isinstance(item, dict) else item
        key = control_key(component)
        page = PAGES.get(component.get("page")) if isinstance(component, dict) else None
        field = (page.by_key if page else FIELD_BY_KEY).get(key)
        settings[key] = control_value(field.param, value) if field else value
    return settings
