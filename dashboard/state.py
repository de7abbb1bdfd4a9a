"""The settings layer of every page: each setting by its qualified key, checked, defaulted,
turned into specs and into URLs and back.

A key is ``group.name``: ``data.n``, ``run.epochs``, ``grid.resolution``, ``huber.delta``,
``sgd.lr``, ``net.epochs``; the fields come from compute's parameter tables and registries, so
a new registry row is a new set of keys. Choices (``loss``, ``optimizer``, ``tab``) and display
settings (``log``, ``step``) sit beside them. Each page is one ``Page`` row: its fields, choices,
defaults, the specs it builds and which keys its current view uses (a bad value of a key the view
does not use is shown by its control but blocks nothing). The same rows check callback inputs and
URL query strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

from compute import (
    DATA_PARAMS,
    GRID_PARAMS,
    LOSSES,
    OPTIMIZERS,
    REGRESSION_LOSSES,
    RUN_PARAMS,
    DataSpec,
    GridSpec,
    InvalidSpec,
    LossSpec,
    OptimizerSpec,
    Param,
    RunSpec,
    ScheduleSpec,
)
from compute.custom import register_class
from compute.datasets import SOURCES
from compute.landscape import (
    BIAS_MODES,
    DIR_TYPES,
    LANDSCAPE_PARAMS,
    MARK_NAMES,
    NORMS,
    VIEWS,
    LandscapeSpec,
    View,
)
from compute.lookup import param
from compute.nets import DATA_SPLIT_PARAMS, MODELS, TRAIN_OPTIMIZER, TRAIN_PARAMS, DatasetSpec, TrainSpec
from compute.schedules import SCHEDULES, schedule_group
from compute.specs import MAX_STEPS, SurfaceSpec
from compute.spectrum import HVP_COST, SHARPENING_PARAMS, SharpeningSpec
from compute.surfaces import EXTENT_KEYS, NONE, START_KEYS, SURFACES, surface_extent, surface_start
from compute.sweep import AXIS_PARAMS, MEASURES, SWEEP_PARAMS, SweepAxis, SweepSpec
from dashboard.settings import settings


def _offer_host_classes() -> None:
    """The optimizer classes the host lists (OPTIMIZER_CLASSES) join the registry before the pages'
    settings are made from it: the pages offer them, and only them, beside torch.optim's."""
    for path in settings().offer.optimizer_classes:
        try:
            register_class(path)
        except InvalidSpec as err:
            raise SystemExit(f"OPTIMIZER_CLASSES: {err.message}") from None


_offer_host_classes()
# The pages' optimizers: the registry as it stands once the host's classes joined it. A class that
# joins later in this process (compute.custom.register_class) is the API's and the CLI's, not the pages'.
OPTIMIZERS = dict(OPTIMIZERS)
AXIS_POINTS = (param(AXIS_PARAMS, "points").lo, param(AXIS_PARAMS, "points").hi)


@dataclass(frozen=True, slots=True)
class Field:
    group: str
    param: Param

    @property
    def key(self) -> str:
        return f"{self.group}.{self.param.name}"


_DEFAULT_SWEEP = SweepSpec()
AXIS_NAMES: tuple[str, ...] = (
    *sorted({p.name for row in OPTIMIZERS.values() for p in row.params if p.kind is not bool}),
    # a schedule's argument as an axis: "schedule.warmup_steps"
    *sorted({f"schedule.{p.name}" for row in SCHEDULES.values() for p in row.params if p.kind is not bool}))
SCHEDULE_GROUPS = {schedule_group(key): key for key in SCHEDULES}
def _axis_fields(which: str, axis: SweepAxis) -> tuple[Param, ...]:
    """An axis's settings, defaulting to SweepSpec's axis. Its range depends on the hyperparameter
    it sweeps: number boxes, no slider."""
    return (
        Param(f"{which}_lo", float, axis.lo, -1e6, 1e6, help=f"first value of the {which} axis", label="lo",
              slider=False),
        Param(f"{which}_hi", float, axis.hi, -1e6, 1e6, help=f"last value of the {which} axis", label="hi",
              slider=False),
        Param(f"{which}_points", int, axis.points, *AXIS_POINTS, help=f"values along the {which} axis",
              label="points"),
        Param(f"{which}_log", bool, axis.log, help=f"space the {which} values evenly in log scale",
              label="log spacing"),
    )


SWEEP_FIELDS: tuple[Param, ...] = (
    *_axis_fields("x", _DEFAULT_SWEEP.x),
    *_axis_fields("y", _DEFAULT_SWEEP.y),
    *SWEEP_PARAMS,
    Param("log_colour", bool, True, help="colour loss measures by log10", label="log colour scale"),
)


def _fields() -> tuple[Field, ...]:
    tables = [("data", DATA_PARAMS), ("run", RUN_PARAMS), ("grid", GRID_PARAMS), ("sweep", SWEEP_FIELDS)]
    tables += [(key, row.params) for key, row in LOSSES.items()]
    tables += [(key, row.params) for key, row in OPTIMIZERS.items()]
    tables += [(schedule_group(key), row.params) for key, row in SCHEDULES.items()]
    tables += [(key, row.params) for key, row in SURFACES.items()]  # rosenbrock.b, expression.text
    return tuple(Field(group, p) for group, params in tables for p in params)


# a surface's settings are under its own key (rosenbrock.b): no registry may name a group alike
assert not set(SURFACES) & {*LOSSES, *OPTIMIZERS, *SCHEDULE_GROUPS, "data", "run", "grid", "sweep"}


FIELDS: tuple[Field, ...] = _fields()  # the toy lab's, the compare page's and the sweep's
MAX_RUNS = 4
# The compare page's runs: run i's optimizer settings live under r{i}.{optimizer}.{name}.
RUN_FIELDS: tuple[Field, ...] = tuple(
    Field(f"r{i}.{key}", p) for i in range(MAX_RUNS) for key, row in OPTIMIZERS.items() for p in row.params)
COUNT = Field("compare", Param("runs", int, 2, 1, MAX_RUNS, help="runs compared (up to four)"))
FIELD_BY_KEY: dict[str, Field] = {f.key: f for f in (*FIELDS, *RUN_FIELDS, COUNT)}
CHOICES: dict[str, tuple[str, ...]] = {
    "loss": tuple(LOSSES),
    "optimizer": tuple(OPTIMIZERS),
    "schedule": tuple(SCHEDULES),
    "surface": tuple(SURFACES),
    "tab": ("single", "all", "code"),
    "sweep.x": AXIS_NAMES,
    "sweep.y": AXIS_NAMES,
    "sweep.measure": tuple(MEASURES),
}
CHOICES.update({f"r{i}.optimizer": tuple(OPTIMIZERS) for i in range(MAX_RUNS)})
CHOICE_DEFAULTS = {"sweep.x": _DEFAULT_SWEEP.x.name, "sweep.y": _DEFAULT_SWEEP.y.name,
                   "sweep.measure": _DEFAULT_SWEEP.measure}
# The compare page opens on two runs worth comparing: SGD with momentum against Adam.
COMPARE_DEFAULTS = {"r0.optimizer": "sgd", "r0.sgd.momentum": 0.9, "r1.optimizer": "adam", "r1.adam.lr": 0.1,
                    "r2.optimizer": "rmsprop", "r2.rmsprop.lr": 0.05, "r3.optimizer": "adagrad",
                    "r3.adagrad.lr": 0.5}
DISPLAY: dict[str, Param] = {
    "log": Param("log", bool, False, help="colour the maps by log10(loss)"),
    "step": Param("step", int, 0, 0, MAX_STEPS, help="playback step"),
}

# ---- the landscapes page ----------------------------------------------------------------------------------

# The page's models B and C: each trained as A but for one setting (the CLI's --b and --c take any).
PAIRS: dict[str, Param] = {
    "B": dataclasses.replace(param(TRAIN_PARAMS, "batch_size"), default=256, span=None, label="B batch_size",
                             help="batch_size of model B, trained otherwise as A (A vs B; A, B and C)"),
    "C": dataclasses.replace(param(TRAIN_PARAMS, "seed"), default=1, label="C seed",
                             help="seed of model C (initial weights, batch order), trained otherwise as A (A, B and C)"),
}
PAIR_PARAMS = tuple(PAIRS.values())
PAIR_MODEL = {f"pair.{p.name}": MARK_NAMES.index(m) for m, p in PAIRS.items()}  # which model (1: B, 2: C) each sets
# The page's views: compute.landscape.VIEWS' rows that it offers, in their order.
PAGE_VIEWS: dict[str, View] = {name: view for name, view in VIEWS.items() if view.on_page}
LANDSCAPE_VIEWS = {name: view.title for name, view in PAGE_VIEWS.items()}
LANDSCAPE_FIELDS: tuple[Field, ...] = tuple(
    Field(group, p) for group, params in (("net", TRAIN_PARAMS), ("split", DATA_SPLIT_PARAMS),
                                          ("landscape", LANDSCAPE_PARAMS), ("pair", PAIR_PARAMS),
                                          ("curvature", SHARPENING_PARAMS),
                                          *((key, row.params) for key, row in OPTIMIZERS.items()),
                                          *((schedule_group(key), row.params) for key, row in SCHEDULES.items()))
    for p in params)
# The loss's colour scale (and the lines' axis): auto is log when the loss spans more than two decades.
SCALES = {"auto": "auto: log when the loss spans > 2 decades", "linear": "linear", "log": "log"}


def _landscape_defaults() -> dict[str, Any]:
    """The page opens on the MLP (it trains in a second), trained with compute's TRAIN_OPTIMIZER."""
    train = TrainSpec()
    return {"model": "mlp", "mode": LandscapeSpec().mode, "bias": LandscapeSpec().bias,
            "dataset": train.dataset.name, "norm": LandscapeSpec().norm, "dir_type": LandscapeSpec().dir_type,
            "scale": "auto",
            "optimizer": train.optimizer.name,
            **{f"{train.optimizer.name}.{name}": value for name, value in TRAIN_OPTIMIZER.params}}


# ---- pages ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page's settings: its fields and choices, their defaults, the specs a valid state builds
    (``build`` raises InvalidSpec naming the key) and which keys the current view uses."""

    name: str
    fields: tuple[Field, ...]
    choices: Mapping[str, tuple[str, ...]]
    defaults: Mapping[str, Any]
    display: Mapping[str, Param]
    build: Callable[[dict[str, Any]], dict[str, Any]]
    uses: Callable[[str, Mapping[str, Any]], bool]
    fill: Callable[[dict[str, Any], Mapping[str, Any]], None] = lambda state, raw: None
    by_key: dict[str, Field] = field(init=False, repr=False)
    groups: dict[str, tuple[Field, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {f.key: f for f in self.fields})
        groups: dict[str, tuple[Field, ...]] = {}
        for f in self.fields:
            groups[f.group] = (*groups.get(f.group, ()), f)
        object.__setattr__(self, "groups", groups)

    def default_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {f.key: f.param.default for f in self.fields}
        state.update({key: options[0] for key, options in self.choices.items()})
        state.update({key: p.default for key, p in self.display.items()})
        state.update(self.defaults)
        return state

    def check_value(self, key: str, value: Any) -> Any:
        """One setting, coerced to its type, or InvalidSpec naming the key."""
        if key in self.choices:
            if value not in self.choices[key]:
                raise InvalidSpec(f"{key} must be one of {', '.join(self.choices[key])} (got {value!r:.40})", key)
            return value
        if key == "step" and value in (None, ""):
            return None
        param = self.by_key[key].param if key in self.by_key else self.display.get(key)
        if param is None:
            raise InvalidSpec(f"unknown setting {key!r:.40}", key)
        return param.coerce(value, key)


def _group(key: str) -> str:
    return key.split(".", maxsplit=1)[0]


def _problem_uses(group: str, state: Mapping[str, Any]) -> bool | None:
    """Whether the problem uses a group's settings: a surface its own (and no data or loss), the
    neuron the data and the loss; None for the other groups."""
    surface = state.get("surface", NONE)
    if group in SURFACES:
        return group == surface
    if group == "data" or group in LOSSES:
        return False if surface != NONE else None  # the neuron: the page's own rule for its losses
    return None


def _toy_uses(key: str, state: Mapping[str, Any]) -> bool:
    group = _group(key)
    if (problem := _problem_uses(group, state)) is not None:
        return problem
    if group in SCHEDULE_GROUPS:
        return SCHEDULE_GROUPS[group] == state["schedule"]
    if group in LOSSES:
        return group in (REGRESSION_LOSSES if state["tab"] == "all" else (state["loss"],))
    if group in OPTIMIZERS:
        return group == state["optimizer"]
    return group != "sweep"


def _compare_uses(key: str, state: Mapping[str, Any]) -> bool:
    group = _group(key)
    if (problem := _problem_uses(group, state)) is not None:
        return problem
    if group in SCHEDULE_GROUPS:
        return SCHEDULE_GROUPS[group] == state["schedule"]
    if group in LOSSES:
        return group == state["loss"]
    if group in OPTIMIZERS or group == "sweep":
        return False
    if group.startswith("r") and group[1:].isdigit():
        run, rest = int(group[1:]), key.split(".", 1)[1]
        return run < state[COUNT.key] and (rest == "optimizer" or _group(rest) == state[f"{group}.optimizer"])
    return True


def _sweep_uses(key: str, state: Mapping[str, Any]) -> bool:
    group = _group(key)
    if (problem := _problem_uses(group, state)) is not None:
        return problem
    if group in SCHEDULE_GROUPS:
        return SCHEDULE_GROUPS[group] == state["schedule"]
    if group in LOSSES:
        return group == state["loss"]
    if group in OPTIMIZERS:
        return group == state["optimizer"]
    return True


def pair_trainings(train: TrainSpec, state: Mapping[str, Any]) -> list[TrainSpec]:
    """The trainings of models B and C that the state's view needs: A's but for their pair setting."""
    models = MARK_NAMES[1:VIEWS[state["mode"]].models]
    return [dataclasses.replace(train, **{PAIRS[m].name: state[f"pair.{PAIRS[m].name}"]}) for m in models]


def _landscape_uses(key: str, state: Mapping[str, Any]) -> bool:
    group = _group(key)
    view = VIEWS[state["mode"]]
    if group in OPTIMIZERS:
        return group == state["optimizer"]
    if group in SCHEDULE_GROUPS:
        return SCHEDULE_GROUPS[group] == state["schedule"]
    if group == "curvature":
        return view.sharpening
    if group == "landscape":
        return not view.sharpening
    if group == "pair":  # model B's setting for views of two models or more, C's for three
        return PAIR_MODEL[key] < view.models
    return True


# A surface's own start and map square stand where a link (or a lesson) leaves them out: the neuron's
# would put Rosenbrock's start far up its walls. A link of a surface always names them (``to_query``).
# So does the lr SGD is stable with there and the colour scale that shows it (the Problem panel's switch
# sets them too).
SURFACE_PLACE = (*(f"run.{name}" for name in START_KEYS), *(f"grid.{name}" for name in EXTENT_KEYS), "sgd.lr", "log")


def surface_place(surface: str) -> dict[str, Any]:
    """What a surface sets when it is chosen or named by a link (``SURFACE_PLACE``): its start, its map
    square, SGD's stable lr there and its colour scale; for the neuron ("none"), the page's defaults."""
    if surface == NONE:
        defaults = _defaults(TOY)
        return {key: defaults[key] for key in SURFACE_PLACE}
    return {**{f"run.{k}": v for k, v in surface_start(surface).items()},
            **{f"grid.{k}": v for k, v in surface_extent(surface).items()},
            "sgd.lr": SURFACES[surface].sgd_lr, "log": SURFACES[surface].log}


def _surface_fill(state: dict[str, Any], raw: Mapping[str, Any]) -> None:
    if state.get("surface", NONE) != NONE:
        state.update({key: value for key, value in surface_place(state["surface"]).items() if key not in raw})


def _every_loss(state: dict[str, Any]) -> dict[str, Any]:
    return {loss: build_specs(state, loss) for loss in LOSSES}


def _compare_specs(state: dict[str, Any]) -> dict[str, Any]:
    return {**_every_loss(state), "runs": compare_runs(state)}


def _sweep_specs(state: dict[str, Any]) -> dict[str, Any]:
    return {**_every_loss(state), "sweep": build_sweep(state)}


def _landscape_fill(state: dict[str, Any], raw: Mapping[str, Any]) -> None:
    if "landscape.lo" not in raw and "landscape.hi" not in raw:
        state["landscape.lo"], state["landscape.hi"] = VIEWS[state["mode"]].range
    if "log" in raw and "scale" not in raw:  # links from before the colour-scale choice
        state["scale"] = "log" if state["log"] else "linear"
    state["log"] = False  # the choice is "scale" now; "log" is read from old links only


# The page's caps on one request's work (the CLI and the Python API have none): image passes in
# training (epochs × training images) and image evaluations of the landscape (points × images).
PAGE_MAX_TRAIN_PASSES = 1_200_000
PAGE_MAX_EVALUATIONS = 15_000_000


# Lanczos's cap on the page, on each run a view takes (View.lanczos): the Hessian plane's two
# eigenvectors, A vs B's λmax (k = 1, twice).
PAGE_LANCZOS = 150


def _images(spec: LandscapeSpec) -> int:
    """Training images of the spec's data set (its subset, when one is set)."""
    return spec.train.dataset.train_size or SOURCES[spec.train.dataset.name].size


def _page_caps(spec: LandscapeSpec, view: View) -> None:
    images = _images(spec)
    passes = spec.train.epochs * images * view.models
    if passes > PAGE_MAX_TRAIN_PASSES:
        raise InvalidSpec(f"epochs × training images is {passes:,} here; the page trains at most "
                          f"{PAGE_MAX_TRAIN_PASSES:,}: use fewer epochs or set train_size (the CLI has no cap)",
                          "split.train_size")
    if view.sharpening:  # no points: its products are capped by build_sharpening
        return
    points = view.evaluations(spec.resolution) + view.lanczos * PAGE_LANCZOS * HVP_COST
    if points * images > PAGE_MAX_EVALUATIONS:
        raise InvalidSpec(f"points × images is {points * images:,} here; the page evaluates at most "
                          f"{PAGE_MAX_EVALUATIONS:,}: lower the resolution or set train_size (the CLI has no cap)",
                          "landscape.resolution")


def _sharpening_caps(sharpening: SharpeningSpec, images: int) -> None:
    measured = min(sharpening.samples or images, images)
    each = sharpening.products
    if sharpening.measurements * each * measured * HVP_COST > PAGE_MAX_EVALUATIONS:
        raise InvalidSpec(f"{sharpening.measurements:,} measurements × up to {each} Hessian-vector products × "
                          f"{measured:,} images is more than the page's {PAGE_MAX_EVALUATIONS:,} image evaluations "
                          f"(a product counts {HVP_COST}): raise every or lower samples (the CLI has no cap)",
                          "curvature.every")


# The specs name fields train.*, dataset.*, sharpening.*: the page calls them net.*, split.*, curvature.*.
PAGE_PREFIXES = (("train.", "net."), ("dataset.", "split."), ("sharpening.", "curvature."))


def _on_page(err: InvalidSpec, default: str) -> InvalidSpec:
    """A spec's error under the page's name of its field."""
    name = err.field or default
    for spec_prefix, page_prefix in PAGE_PREFIXES:
        name = page_prefix + name[len(spec_prefix):] if name.startswith(spec_prefix) else name
    return InvalidSpec(err.message, name)


def build_sharpening(spec: LandscapeSpec, state: Mapping[str, Any]) -> SharpeningSpec:
    """The sharpness during training of the view "edge": model A's training, measured as the
    curvature settings say, within the page's caps."""
    try:
        sharpening = SharpeningSpec(spec.train, **group_values(state, "curvature", LANDSCAPE))
        _sharpening_caps(sharpening, _images(spec))
        return sharpening
    except InvalidSpec as err:
        raise _on_page(err, "curvature") from None


def _landscape_specs(state: dict[str, Any]) -> dict[str, Any]:
    spec = build_landscape(state)
    if not VIEWS[state["mode"]].sharpening:
        return {"landscape": spec}
    return {"landscape": spec, "sharpening": build_sharpening(spec, state)}


def build_landscape(state: Mapping[str, Any]) -> LandscapeSpec:
    """The landscape the state describes (sharpness and three: model A's plane; B differs by
    pair.batch_size, C by pair.seed), within the page's caps."""
    optimizer, schedule = state["optimizer"], state["schedule"]
    try:
        train = TrainSpec(
            model=state["model"],
            dataset=DatasetSpec(state["dataset"], **group_values(state, "split", LANDSCAPE)),
            optimizer=OptimizerSpec(optimizer, tuple(group_values(state, optimizer, LANDSCAPE).items())),
            schedule=ScheduleSpec(schedule, tuple(group_values(state, schedule_group(schedule), LANDSCAPE).items())),
            **group_values(state, "net", LANDSCAPE))
        view = VIEWS[state["mode"]]
        spec = LandscapeSpec(train=train, mode=view.spec_mode, bias=state["bias"], norm=state["norm"],
                             dir_type=state["dir_type"], **group_values(state, "landscape", LANDSCAPE))
        _page_caps(spec, view)
        return spec
    except InvalidSpec as err:
        raise _on_page(err, "landscape") from None


_TOY_CHOICES = {k: v for k, v in CHOICES.items() if not k.startswith("r")}
TOY, COMPARE, SWEEP, LANDSCAPE = "toy", "compare", "sweep", "landscape"
LESSON_KEY = "lesson"  # an address's lesson and step (?lesson=momentum.3): the player's, no page's setting
PATHS = {TOY: "/", COMPARE: "/compare", SWEEP: "/sweep", LANDSCAPE: "/landscape"}  # each page's address
PAGE_OF_PATH = {path: page for page, path in PATHS.items()}
PAGES: dict[str, Page] = {
    TOY: Page(TOY, FIELDS, _TOY_CHOICES, CHOICE_DEFAULTS | {"step": None}, DISPLAY, _every_loss, _toy_uses,
              _surface_fill),
    COMPARE: Page(COMPARE, (*FIELDS, *RUN_FIELDS, COUNT), CHOICES,
                  CHOICE_DEFAULTS | {"step": None} | COMPARE_DEFAULTS, DISPLAY, _compare_specs, _compare_uses,
                  _surface_fill),
    SWEEP: Page(SWEEP, FIELDS, _TOY_CHOICES, CHOICE_DEFAULTS | {"step": None}, DISPLAY, _sweep_specs, _sweep_uses,
                _surface_fill),
    LANDSCAPE: Page(LANDSCAPE, LANDSCAPE_FIELDS,
                    {"model": tuple(MODELS), "mode": tuple(PAGE_VIEWS), "bias": tuple(BIAS_MODES),
                     "optimizer": tuple(OPTIMIZERS), "schedule": tuple(SCHEDULES), "dataset": tuple(SOURCES),
                     "norm": tuple(NORMS),
                     "dir_type": tuple(DIR_TYPES), "scale": tuple(SCALES)},
                    _landscape_defaults(), {"log": Param("log", bool, False, help="show the loss in log scale")},
                    _landscape_specs, _landscape_uses, _landscape_fill),
}


def default_state(page: str = TOY) -> dict[str, Any]:
    """Every setting of a page at its default."""
    return PAGES[page].default_state()


def group_values(state: Mapping[str, Any], group: str, page: str = COMPARE) -> dict[str, Any]:
    """The values of a group's fields by name (``sgd`` → {"lr": 0.1, ...})."""
    return {f.param.name: state[f.key] for f in PAGES[page].groups.get(group, ())}


def check_value(key: str, value: Any, page: str = COMPARE) -> Any:
    """One setting, coerced to its type, or InvalidSpec naming the key."""
    return PAGES[page].check_value(key, value)


def build_specs(state: Mapping[str, Any], loss: str) -> tuple[RunSpec, GridSpec]:
    """The run and the loss map that show ``loss`` under the state's settings."""
    data = DataSpec(**group_values(state, "data"))
    loss_spec = LossSpec(loss, tuple(group_values(state, loss).items()))
    optimizer = state["optimizer"]
    opt_spec = OptimizerSpec(optimizer, tuple(group_values(state, optimizer).items()))
    schedule = state.get("schedule", "none")
    schedule_spec = ScheduleSpec(schedule, tuple(group_values(state, schedule_group(schedule)).items()))
    surface = state.get("surface", NONE)
    surface_spec = SurfaceSpec(surface, tuple(group_values(state, surface).items()))
    run = RunSpec(data, loss_spec, opt_spec, schedule_spec, surface_spec, **group_values(state, "run"))
    grid = GridSpec(data, loss_spec, surface_spec, **group_values(state, "grid"))
    return run, grid


def build_sweep(state: Mapping[str, Any]) -> SweepSpec:
    """The sweep the state describes: its loss's run, two axes and a measure."""
    run, _ = build_specs(state, state["loss"])
    axis = {which: SweepAxis(state[f"sweep.{which}"], state[f"sweep.{which}_lo"], state[f"sweep.{which}_hi"],
                             state[f"sweep.{which}_points"], state[f"sweep.{which}_log"]) for which in "xy"}
    return SweepSpec(run=run, x=axis["x"], y=axis["y"], measure=state["sweep.measure"],
                     tolerance=state["sweep.tolerance"])


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


@dataclass(frozen=True, slots=True)
class Checked:
    """A checked state.

    ``errors`` maps every bad key to its message (each control shows its own); ``blocking`` holds
    those the current view uses: the view is ``ok`` when there are none. ``specs`` holds what the
    page's ``build`` made (toy lab: (run, grid) of every loss) when the state is ok.
    """

    state: dict[str, Any]
    errors: dict[str, str]
    specs: dict[str, Any]
    blocking: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.blocking


def check_state(raw: Mapping[str, Any], page: str = TOY) -> Checked:
    """Check every setting and every combination; never raises.

    Settings missing from ``raw`` take their defaults, and so do bad ones (so that the specs of
    what the view shows can still be built); each bad value gets a message under its key.
    Combinations (nesterov without momentum, b_min ≥ b_max) are checked by the page's ``build``.
    Only errors of keys the view uses block it.
    """
    row = PAGES[page]
    state = row.default_state()
    errors: dict[str, str] = {}
    if not isinstance(raw, Mapping):
        message = f"settings must be a mapping of names to values (got {type(raw).__name__})"
        return Checked(state, {"settings": message}, {}, {"settings": message})
    for key, value in raw.items():
        try:
            state[key] = row.check_value(key, value)
        except InvalidSpec as err:
            errors[key] = err.message
    row.fill(state, raw)
    specs: dict[str, Any] = {}
    try:
        specs = row.build(state)
    except InvalidSpec as err:
        errors.setdefault(err.field or page, err.message)
    blocking = {key: message for key, message in errors.items() if key not in row.by_key or row.uses(key, state)}
    return Checked(state, errors, specs if not blocking else {}, blocking)


def _query_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def to_query(state: Mapping[str, Any], page: str = TOY) -> str:
    """The settings that differ from the page's defaults as a URL query string (``?sgd.lr=0.05``):
    a short link that reproduces the view, since ``from_query`` fills in every default."""
    defaults = _defaults(page)
    pinned = SURFACE_PLACE if state.get("surface", NONE) != NONE else ()  # (see _surface_fill)
    pairs = [(key, _query_text(value)) for key, value in state.items()
             if value is not None and (key in pinned or not (key in defaults and _same(value, defaults[key])))]
    return "?" + urlencode(pairs)


@cache
def _defaults(page: str) -> Mapping[str, Any]:
    """A page's defaults, built once (read only: ``default_state`` hands out fresh copies)."""
    return MappingProxyType(PAGES[page].default_state())


def _same(value: Any, default: Any) -> bool:
    """Equal as a link would say it (True is not 1; 100 is 100.0)."""
    return isinstance(value, bool) == isinstance(default, bool) and value == default


def from_query(query: Mapping[str, Any], page: str = TOY) -> tuple[dict[str, Any], list[str]]:
    """The state a URL's query describes, and a note for each part that was ignored.

    Unknown keys and bad values are dropped (the default stands) and named in the notes;
    if the remaining values clash (b_min ≥ b_max), the defaults stand for the whole view.
    """
    row = PAGES[page]
    notes = []
    raw: dict[str, Any] = {}
    for key, value in query.items():
        if key == LESSON_KEY:  # the app's, not the page's (dashboard/lessons.py)
            continue
        try:
            raw[str(key)] = row.check_value(str(key), value)
        except InvalidSpec as err:
            notes.append(f"{key!s:.40}: {err.message}")
    checked = check_state(raw, page)
    if checked.errors:
        notes.extend(f"{key}: {message}" for key, message in checked.errors.items())
        checked = check_state({}, page)
    return checked.state, notes
