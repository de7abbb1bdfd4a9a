"""The toy lab's state: every setting by its qualified key, checked, turned into specs and URLs.

A key is ``group.name``: ``data.n``, ``run.epochs``, ``grid.resolution``, ``huber.delta``,
``sgd.lr``; the fields come from compute's parameter tables and registries, so a new
registry row is a new set of keys. Choices (``loss``, ``optimizer``, ``tab``) and display
settings (``log``, ``step``) sit beside them. The same table checks callback inputs and
URL query strings.
"""

from __future__ import annotations

import dataclasses
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
MAX_RUNS = 4
# The compare page's runs: run i's optimizer settings live under r{i}.{optimizer}.{name}.
RUN_FIELDS: tuple[Field, ...] = tuple(
    Field(f"r{i}.{key}", p) for i in range(MAX_RUNS) for key, row in OPTIMIZERS.items() for p in row.params)
COUNT = Field("compare", Param("runs", int, 2, 1, MAX_RUNS, help="runs compared (up to four)"))
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in (*FIELDS, *RUN_FIELDS, COUNT)}
CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(LOSSES),
    "optimizer": tuple(OPTIMIZERS),
    "tab": ("single", "all", "code"),
    "sweep.x": AXIS_NAMES,
    "sweep.y": AXIS_NAMES,
    "sweep.measure": tuple(MEASURES),
}
CHOICES.update({f"r{i}.optimizer": tuple(OPTIMIZERS) for i in range(MAX_RUNS)})
CHOICE_DEFAULTS = {"sweep.x": "lr", "sweep.y": "momentum"}
# The compare page opens on two runs worth comparing: SGD with momentum against Adam.
COMPARE_DEFAULTS = {"r0.optimizer": "sgd", "r0.sgd.momentum": 0.9, "r1.optimizer": "adam", "r1.adam.lr": 0.1,
                    "r2.optimizer": "rmsprop", "r2.rmsprop.lr": 0.05, "r3.optimizer": "adagrad",
                    "r3.adagrad.lr": 0.5}
PAGES = ("toy", "compare")
DISPLAY: dict[str, Param] = {
    "log": Param("log", bool, False, help="colour the maps by log10(loss)"),
    "step": Param("step", int, 0, 0, RUN_PARAMS[0].hi, help="playback step"),
}


def default_state(page: str = "toy") -> dict[str, Any]:
    """Every setting of a page at its default (the compare page adds its runs)."""
    state: dict[str, Any] = {f.key: f.param.default for f in FIELDS}
    state.update({key: CHOICE_DEFAULTS.get(key, options[0]) for key, options in CHOICES.items()
                  if not key.startswith("r")})
    state["log"] = False
    state["step"] = None  # None: the last step
    if page == "compare":
        state.update({f.key: f.param.default for f in RUN_FIELDS})
        state.update({key: "sgd" for key in CHOICES if key.startswith("r")})
        state[COUNT.key] = COUNT.param.default
        state.update(COMPARE_DEFAULTS)
    return state


GROUP_FIELDS: dict[str, list[Field]] = {}
for _field in FIELD_BY_KEY.values():
    GROUP_FIELDS.setdefault(_field.group, []).append(_field)


def group_values(state: Mapping[str, Any], group: str) -> dict[str, Any]:
    return {f.param.name: state[f.key] for f in GROUP_FIELDS.get(group, ())}


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


def compare_runs(state: Mapping[str, Any]) -> list[RunSpec]:
    """The compare page's runs: the shared settings with each run's optimizer."""
    base, _ = build_specs(state, state["loss"])
    runs = []
    for i in range(state[COUNT.key]):
        optimizer = state[f"r{i}.optimizer"]
        try:
            spec = OptimizerSpec(optimizer, tuple(group_values(state, f"r{i}.{optimizer}").items()))
        except InvalidSpec as err:
            raise InvalidSpec(err.message, f"r{i}.{err.field}" if err.field else f"r{i}.optimizer") from None
        runs.append(dataclasses.replace(base, optimizer=spec))
    return runs


def check_state(raw: Mapping[str, Any], page: str = "toy") -> Checked:
    """Check every setting and every combination; never raises.

    Settings missing from ``raw`` take their defaults. Each bad value gets a message under
    its key; combinations (nesterov without momentum, b_min ≥ b_max) are checked by
    building the specs of every loss, and on the compare page of every run.
    """
    state = default_state(page)
    errors: dict[str, str] = {}
    specs: dict[str, tuple[RunSpec, GridSpec]] = {}
    if not isinstance(raw, Mapping):
        return Checked(state, {"settings": f"settings must be a mapping of names to values "
                                           f"(got {type(raw).__name__})"}, {})
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
    if not errors and page == "compare":
        try:
            compare_runs(state)
        except InvalidSpec as err:
            errors[err.field or "compare"] = err.message
    return Checked(state, errors, specs if not errors else {})


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_query(state: Mapping[str, Any]) -> str:
    """Every setting as a URL query string (``?data.n=50&...``), so a link reproduces the view."""
    pairs = [(key, _query_text(value)) for key, value in state.items() if value is not None]
    return "?" + urlencode(pairs)


def from_query(query: Mapping[str, Any], page: str = "toy") -> tuple[dict[str, Any], list[str]]:
    """The state a URL's query describes, and a note for each part that was ignored.

    Unknown keys and bad values are dropped (the default stands) and named in the notes;
    if the remaining values clash (b_min ≥ b_max), the defaults stand for the whole view.
    """
    state = default_state(page)
    notes = []
    for key, value in query.items():
        try:
            state[key] = check_value(str(key), value)
        except InvalidSpec as err:
            notes.append(f"{key!s:.40}: {err.message}")
    checked = check_state(state, page)
    if not checked.ok:
        notes.extend(f"{key}: {message}" for key, message in checked.errors.items())
        state = default_state(page)
    return state, notes
