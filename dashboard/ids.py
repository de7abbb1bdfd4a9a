"""Every component ID, typed once."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ID(StrEnum):
    PROBLEM = "problem"  # the neuron on its data, or a classic surface (compute/surfaces.py)
    LOSS = "loss"
    OPTIMIZER = "optimizer"
    SCHEDULE = "schedule"
    TABS = "view-tabs"
    LOG = "log-colour"
    MAP = "map-figure"
    SURFACE = "surface-figure"
    CURVE = "curve-figure"
    FIT = "fit-figure"
    ALL_MAPS = "all-maps-figure"
    ALL_CURVES = "all-curves-figure"
    ALL_FITS = "all-fits-figure"
    STATUS = "run-status"
    QUERY_NOTE = "query-note"
    PRESET_CAPTION = "preset-caption"
    STEP = "step-slider"
    STEP_TEXT = "step-text"
    PLAY = "play-button"
    TICKER = "play-interval"
    SPEED = "play-speed"
    VIEW_STORE = "view-store"
    LINK = "share-link"
    COPY = "copy-link"
    ERROR = "global-error"
    PRESENT = "present-toggle"  # the presentation layout (assets/descent.js toggles body.presenting)
    PRESENT_NEXT = "present-next"  # presenting: the deck's next screen of figures (or PageDown)
    MAP_FILL = "map-fill"  # presenting: maps fill their space, or keep equal scale (assets/descent.js)
    ROOM = "room-button"  # presenter mode (dashboard/rooms.py; assets/room.js runs it)
    ROOM_BAR = "room-bar"
    LESSONS = "lessons-menu"  # the top bar's list of lessons, and "open a lesson file" (dashboard/player.py)
    LESSON_BAR = "lesson-bar"  # the lesson's step: its text, ◀ ▶ (and the arrow keys, assets/descent.js)
    LESSON_UPLOAD = "lesson-upload"
    LESSON_OPENED = "lesson-opened"  # the lesson a person opened from a file, in their browser's session
    LESSON_NOTE = "lesson-note"  # why a file could not be opened
    LESSON_LOCATION = "lesson-location"
    LESSON_DRAFT = "lesson-draft"  # a lesson being written on the page, as its YAML (kept in the browser)
    LESSON_ADD = "lesson-add"  # + this view as a step (assets/descent.js writes it into the draft)
    LESSON_PLAY = "lesson-play"  # the draft checked and played
    LESSON_SAVE = "lesson-save"  # the draft checked and downloaded
    LESSON_FILE = "lesson-file"
    TO_COMPARE = "to-compare-link"  # the toy lab's run opened in Compare (dashboard/carry.py)
    CODE = "code"
    ENGINE = "engine-badge"
    STABILITY = "stability-note"  # the Hessian and SGD's stable lr at the playback step, beside lr
    PREVIEW_WANT = "preview-want"
    PREVIEW = "preview-store"
    SURFACE_NEXT = "surface-next"
    TRACES = "trace-update"  # a new path over the maps on screen: its traces only, the maps not sent
    TRACES_DRAWN = "trace-update-drawn"
    # exports for slides (dashboard/exports.py)
    EXPORT_FIGURE = "export-figure"
    EXPORT_FORMAT = "export-format"
    EXPORT_SIZE = "export-size"
    EXPORT_FRAMES = "export-frames"
    EXPORT_FPS = "export-fps"
    EXPORT_RUN = "export-run"
    EXPORT_CANCEL = "export-cancel"
    EXPORT_PROGRESS = "export-progress"
    EXPORT_TEXT = "export-text"
    EXPORT_DOWNLOAD = "export-download"


# The toy lab's figures, in the order the render and playback callbacks return them.
FIGURES = (ID.MAP, ID.SURFACE, ID.CURVE, ID.FIT, ID.ALL_MAPS, ID.ALL_CURVES, ID.ALL_FITS)
# Where the render callback writes each figure: the 3D surface (WebGL, slow without a GPU) goes
# through a store and is drawn after the 2D figures are on screen.
RENDERED = tuple((ID.SURFACE_NEXT, "data") if f == ID.SURFACE else (f, "figure") for f in FIGURES)

PARAM = "param"
PARAM_MSG = "param-msg"
PARAM_SLIDER = "param-slider"
PARAM_DOWN = "param-down"
PARAM_UP = "param-up"
PRESET = "preset"


TOY = "toy"
SWEEP = "sweep"
COMPARE = "compare"


def _with_run(component_id: dict[str, Any], run: Any) -> dict[str, Any]:
    return component_id if run is None else {**component_id, "run": run}


def param_id(group: str, name: Any, page: str = TOY, run: Any = None) -> dict[str, Any]:
    """The control of one setting on one page (of one compared run); parts may be patterns."""
    return _with_run({"type": PARAM, "page": page, "group": group, "name": name}, run)


def param_part_id(part: str, group: str, name: str, page: str = TOY, run: int | None = None) -> str:
    """A part of one setting's control beside its number box: PARAM_SLIDER, PARAM_DOWN or PARAM_UP.
    A plain string: no callback matches these parts (assets/descent.js keeps them in step with the
    box), and Dash finds a dict ID by a linear search over every ID of its shape on each change."""
    return f"{part}-{page}-{group}-{name}" + ("" if run is None else f"-r{run}")


def param_msg_id(group: str, name: Any, page: str = TOY, run: Any = None) -> dict[str, Any]:
    """The message shown by one setting's control."""
    return _with_run({"type": PARAM_MSG, "page": page, "group": group, "name": name}, run)


def shown_messages_id(page: str) -> str:
    """The store of which settings' message slots show a message now (the others stay untouched)."""
    return f"{page}-shown-messages"


def optimizer_group_id(key: Any, page: str = TOY, run: Any = None) -> dict[str, Any]:
    """The box holding one optimizer's controls (shown when that optimizer is chosen)."""
    return _with_run({"type": "optimizer-group", "page": page, "key": key}, run)


def surface_group_id(key: Any, page: str = TOY) -> dict[str, Any]:
    """The box holding one surface's controls (shown when that surface is chosen)."""
    return {"type": "surface-group", "page": page, "key": key}


def problem_part_id(part: Any, page: str = TOY) -> dict[str, Any]:
    """A panel only the neuron uses ("data", "loss"): hidden while a surface is chosen."""
    return {"type": "problem-part", "page": page, "part": part}


def schedule_group_id(key: Any, page: str = TOY) -> dict[str, Any]:
    """The box holding one schedule's controls (shown when that schedule is chosen)."""
    return {"type": "schedule-group", "page": page, "key": key}


def nav_id(path: str) -> str:
    """The top bar's link to the page at ``path`` (assets/descent.js points it at the page's last settings)."""
    return "nav-" + (path.strip("/") or "toy")


def to_toy_id(run: int) -> str:
    """A compared run's link that opens it in the toy lab (a plain string: written by one callback)."""
    return f"to-toy-link-r{run}"


def run_part_id(part: str, run: Any) -> dict[str, Any]:
    """A part of a compared run's card: "card", "optimizer", "duplicate" or "remove"."""
    return {"type": f"run-{part}", "run": run}


class CompareID(StrEnum):
    PROBLEM = "compare-problem"
    LOSS = "compare-loss"
    SCHEDULE = "compare-schedule"
    LOG = "compare-log"
    MAP = "compare-map"
    SURFACE = "compare-surface"
    CURVE = "compare-curve"
    FIT = "compare-fit"
    STATUS = "compare-status"
    STORE = "compare-store"
    COUNT = "compare-count"
    RUNS_NOTE = "compare-runs-note"
    LINK = "compare-link"
    QUERY_NOTE = "compare-query-note"
    TRACES = "compare-trace-update"
    TRACES_DRAWN = "compare-trace-update-drawn"
    PLAY = "compare-play"
    SPEED = "compare-play-speed"
    STEP = "compare-step"
    STEP_TEXT = "compare-step-text"
    TICKER = "compare-play-interval"
    ENGINE = "compare-engine-badge"
    PREVIEW_WANT = "compare-preview-want"
    PREVIEW = "compare-preview-store"


class SweepID(StrEnum):
    PROBLEM = "sweep-problem"
    LOSS = "sweep-loss"
    OPTIMIZER = "sweep-optimizer"
    SCHEDULE = "sweep-schedule"
    X = "sweep-x"
    Y = "sweep-y"
    MEASURE = "sweep-measure"
    RUN = "sweep-run"
    CANCEL = "sweep-cancel"
    PROGRESS = "sweep-progress"
    PROGRESS_TEXT = "sweep-progress-text"
    FIGURE = "sweep-figure"
    STATUS = "sweep-status"
    STORE = "sweep-store"
    NAV = "sweep-nav"
    NAV_SINK = "sweep-nav-sink"
    LINK = "sweep-link"
    QUERY_NOTE = "sweep-query-note"


def preset_id(key: Any) -> dict[str, Any]:
    return {"type": PRESET, "key": key}


LANDSCAPE = "landscape"


class LandscapeID(StrEnum):
    MODEL = "ls-model"
    OPTIMIZER = "ls-optimizer"
    SCHEDULE = "ls-schedule"
    MODE = "ls-mode"
    BIAS = "ls-bias"
    DATASET = "ls-dataset"
    NORM = "ls-norm"
    DIR_TYPE = "ls-dir-type"
    UPLOAD = "ls-upload"
    LOG = "ls-log"
    RUN = "ls-run"
    CANCEL = "ls-cancel"
    PROGRESS = "ls-progress"
    PROGRESS_TEXT = "ls-progress-text"
    MAIN = "ls-main"
    SURFACE = "ls-surface"
    TRAINING = "ls-training"
    STATUS = "ls-status"
    STORE = "ls-store"
    RUN_REQUEST = "ls-run-request"  # the settings at Train & draw's click (panels.register_run_request)
    LINK = "ls-link"
    QUERY_NOTE = "ls-query-note"
