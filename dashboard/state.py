"""The toy lab's state: every setting by its qualified key, checked, turned into specs and URLs.

A key is ``group.name``: ``data.n``, ``run.epochs``, ``grid.resolution``, ``huber.delta``,
``sgd.lr``; the fields come from compute's parameter tables and registries, so a new
registry row is a new set of keys. Choices (``loss``, ``optimizer``, ``tab``) and display
settings (``log``, ``step``) sit beside them. The same table checks callback inputs and
URL query strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from compute import (
    DATA_PARAMS,
    GRID_PARAMS,
    LOSSES,
    OPTIMIZERS,
    RUN_PARAMS,
    DataSpec,
    GridSpec,
    InvalidSpec,
    LossSpec,
    OptimizerSpec,
    Param,
    RunSpec,
)
from compute.sweep import AXIS_PARAMS, MEASURES, SWEEP_PARAMS, SweepAxis, SweepSpec

AXIS_POINTS = (AXIS_PARAMS[0].lo, AXIS_PARAMS[0].hi)


@dataclass(frozen=True, slots=True)
class Field:
    group: str
    param: Param

    @property
    def key(self) -> str:
        return f"{self.group}.{self.param.name}"


AXIS_NAMES: tuple[str, ...] = tuple(sorted(
    {p.name for row in OPTIMIZERS.values() for p in row.params if p.kind is not bool}))
SWEEP_FIELDS: tuple[Param, ...] = (
    Param("x_lo", float, 1e-3, -1e6, 1e6, help="first value of the x axis", label="lo"),
    Param("x_hi", float, 1.0, -1e6, 1e6, help="last value of the x axis", label="hi"),
    Param("x_points", int, 100, *AXIS_POINTS, help="values along the x axis (capped at 300)", label="points"),
    Param("x_log", bool, True, help="space the x values evenly in log scale", label="log spacing"),
    Param("y_lo", float, 0.0, -1e6, 1e6, help="first value of the y axis", label="lo"),
    Param("y_hi", float, 0.99, -1e6, 1e6, help="last value of the y axis", label="hi"),
    Param("y_points", int, 100, *AXIS_POINTS, help="values along the y axis (capped at 300)", label="points"),
    Param("y_log", bool, False, help="space the y values evenly in log scale", label="log spacing"),
    *SWEEP_PARAMS,
    Param("log_colour", bool, True, help="colour loss measures by log10", label="log colour scale"),
)


def _fields() -> tuple[Field, ...]:
    tables = [("data", DATA_PARAMS), ("run", RUN_PARAMS), ("grid", GRID_PARAMS), ("sweep", SWEEP_FIELDS)]
    tables += [(key, row.params) for key, row in LOSSES.items()]
    tables += [(key, row.params) for key, row in OPTIMIZERS.items()]
    return tuple(Field(group, p) for group, params in tables for p in params)


FIELDS: tuple[Field, ...] = _fields()
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in FIELDS}
CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(LOSSES),
    "optimizer": tuple(OPTIMIZERS),
    "tab": ("single", "all", "code"),
    "sweep.x": AXIS_NAMES,
    "sweep.y": AXIS_NAMES,
    "sweep.measure": tuple(MEASURES),
}
CHOICE_DEFAULTS = {"sweep.x": "lr", "sweep.y": "momentum"}
DISPLAY: dict[str, Param] = {
    "log": Param("log", bool, False, help="colour the maps by log10(loss)"),
    "step": Param("step", int, 0, 0, RUN_PARAMS[0].hi, help="playback step"),
}


def default_state() -> dict[str, Any]:
    state: dict[str, Any] = {f.key: f.param.default for f in FIELDS}
    state.update({key: CHOICE_DEFAULTS.get(key, options[0]) for key, options in CHOICES.items()})
    state["log"] = False
    state["step"] = None  # None: the last step
    return state


def group_values(state: Mapping[str, Any], group: str) -> dict[str, Any]:
    return {f.param.name: state[f.key] for f in FIELDS if f.group == group}


def check_value(key: str, value: Any) -> Any:
    """One setting, coerced to its type, or InvalidSpec naming the key."""
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise InvalidSpec(f"{key} must be one of {', '.join(CHOICES[key])} (got {value!r:.40})", key)
        return value
    if key == "step" and value in (None, ""):
        return None
    param = FIELD_BY_KEY[key].param if key in FIELD_BY_KEY else DISPLAY.get(key)
    if param is None:
        raise InvalidSpec(f"unknown setting {key!r:.40}", key)
    return param.coerce(value, key)


def build_specs(state: Mapping[str, Any], loss: str) -> tuple[RunSpec, GridSpec]:
    """The run and the loss map that show ``loss`` under the state's settings."""
    data = DataSpec(**group_values(state, "data"))
    loss_spec = LossSpec(loss, tuple(group_values(state, loss).items()))
    optimizer = state["optimizer"]
    opt_spec = OptimizerSpec(optimizer, tuple(group_values(state, optimizer).items()))
    run = RunSpec(data, loss_spec, opt_spec, **group_values(state, "run"))
    grid = GridSpec(data, loss_spec, **group_values(state, "grid"))
    return run, grid


def build_sweep(state: Mapping[str, Any]) -> SweepSpec:
    """The sweep the state describes: its loss's run, two axes and a measure."""
    run, _ = build_specs(state, state["loss"])
    axis = {which: SweepAxis(state[f"sweep.{which}"], state[f"sweep.{which}_lo"], state[f"sweep.{which}_hi"],
                             state[f"sweep.{which}_points"], state[f"sweep.{which}_log"]) for which in "xy"}
    return SweepSpec(run=run, x=axis["x"], y=axis["y"], measure=state["sweep.measure"],
                     tolerance=state["sweep.tolerance"])


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked state: ``errors`` maps keys to messages; ``ok`` when there are none.

    ``specs`` holds the (run, grid) specs of every loss when the state is ok.
    """

    state: dict[str, Any]
    errors: dict[str, str]
    specs: dict[str, tuple[RunSpec, GridSpec]]

    @property
    def ok(self) -> bool:
        return not self.errors


def check_state(raw: Mapping[str, Any]) -> Checked:
    """Check every setting and every combination; never raises.

    Settings missing from ``raw`` take their defaults. Each bad value gets a message under
    its key; combinations (nesterov without momentum, b_min ≥ b_max) are checked by
    building the specs of every loss.
    """
    state = default_state()
    errors: dict[str, str] = {}
    specs: dict[str, tuple[RunSpec, GridSpec]] = {}
    for key, value in raw.items():
        try:
            state[key] = check_value(key, value)
        except InvalidSpec as err:
            errors[key] = err.message
    if not errors:
        for loss in LOSSES:
            try:
                specs[loss] = build_specs(state, loss)
            except InvalidSpec as err:
                errors.setdefault(err.field or "run", err.message)
    return Checked(state, errors, specs if not errors else {})


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_query(state: Mapping[str, Any]) -> str:
    """Every setting as a URL query string (``?data.n=50&...``), so a link reproduces the view."""
    pairs = [(key, _query_text(value)) for key, value in state.items() if value is not None]
    return "?" + urlencode(pairs)


def from_query(query: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The state a URL's query describes, and a note for each part that was ignored.

    Unknown keys and bad values are dropped (the default stands) and named in the notes;
    if the remaining values clash (b_min ≥ b_max), the defaults stand for the whole view.
    """
    state = default_state()
    notes = []
    for key, value in query.items():
        try:
            state[key] = check_value(str(key), value)
        except InvalidSpec as err:
            notes.append(f"{key!s:.40}: {err.message}")
    checked = check_state(state)
    if not checked.ok:
        notes.extend(f"{key}: {message}" for key, message in checked.errors.items())
        state = default_state()
    return state, notes
