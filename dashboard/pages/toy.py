"""The toy lab: one neuron y = w·x + b, its exact loss maps and torch.optim's path across them."""

from __future__ import annotations

import logging
import math
from typing import Any

import dash
from dash import (
    ALL,
    ClientsideFunction,
    Input,
    Output,
    State,
    callback,
    clientside_callback,
    ctx,
    dcc,
    html,
    no_update,
)

from compute import (
    PRESETS,
    InvalidSpec,
    RunSpec,
)
from compute.data import FEATURE_KEYS
from compute.script import torch_script
from compute.surfaces import NONE
from dashboard import exports
from dashboard.carry import carry_query
from dashboard.controls import (
    CHECKED,
    as_control,
    clicked_point,
    control_key,
    error_messages,
    group_controls,
    log_checklist,
    settings_from_controls,
)
from dashboard.figures import (
    eigen_length,
    make_all_maps_figure,
    make_coordinates_figure,
    make_curve_figure,
    make_fit_figure,
    make_map_figure,
    make_surface_figure,
    not_a_map,
    playback_data,
    trace_update,
    traces_only,
)
from dashboard.ids import (
    COMPARE,
    FIGURES,
    ID,
    RENDERED,
    TOY,
    optimizer_group_id,
    param_id,
    param_msg_id,
    preset_id,
    shown_messages_id,
)
from dashboard.lessons import opened_view
from dashboard.outputs import matched, updates
from dashboard.panels import (
    GROUP_FULL,
    URL_SYNC_JS,
    JobIDs,
    PlaybackIDs,
    PreviewIDs,
    data_section,
    graph,
    job_callback,
    labelled_dropdown,
    loss_section,
    neuron_only,
    optimizer_group,
    optimizer_section,
    playback_controls,
    preview_parts,
    problem_section,
    progress_row,
    register_follow,
    register_optimizer_switch,
    register_playback,
    register_preview,
    register_schedule_switch,
    register_surface_switch,
    schedule_section,
    section,
    training_section,
    view_header,
)
from dashboard.state import (
    CHOICES,
    FIELD_BY_KEY,
    OPTIMIZERS,
    PATHS,
    Checked,
    build_specs,
    check_state,
    check_value,
    default_state,
    from_query,
    to_query,
)
from dashboard.toyview import fit_data, shown_losses, toy_curvature, toy_runs

log = logging.getLogger(__name__)

dash.register_page(__name__, path=PATHS[TOY], name="Toy lab", title="Descent Lab · toy lab")


PLAYBACK = PlaybackIDs(ID.PLAY, ID.SPEED, ID.STEP, ID.STEP_TEXT, ID.TICKER, ID.VIEW_STORE)
PREVIEW = PreviewIDs(ID.ENGINE, ID.PREVIEW_WANT, ID.PREVIEW, ID.VIEW_STORE)


def _graph(id_: str, height: str = "420px") -> dcc.Graph:
    return graph(id_, height)


def layout(**query: Any) -> html.Div:
    """The page, with its controls set from the URL's query string."""
    state, notes = from_query(opened_view(query, TOY))
    steps = build_specs(state, state["loss"])[0].steps  # a valid state: from_query checked it
    controls = html.Aside(
        [
            # the presets are the neuron's classic figures (their captions are about its data): a surface
            # sets them aside with the data and the loss
            neuron_only("presets", TOY, state, section("Presets", [
                html.Div([html.Button([html.Span(p.label, className="preset-label"),
                                       html.Span(p.gist, className="preset-gist")],
                                      id=preset_id(p.key), className="preset", n_clicks=0, title=p.caption)
                          for p in PRESETS.values()], className="presets"),
                html.P(id=ID.PRESET_CAPTION, className="caption"),
            ], "The classic figures, one click each: what each shows is on its button.")),
            problem_section(state, TOY, ID.PROBLEM),
            neuron_only("loss", TOY, state, loss_section(state, TOY, ID.LOSS)),
            optimizer_section(state, TOY, ID.OPTIMIZER),
            html.Div(id=ID.STABILITY, className="stability-note",
                     title="the loss's Hessian in (w, b) at the playback step (compute/curvature.py)"),
            schedule_section(state, TOY, ID.SCHEDULE),
            training_section(state, TOY, "Click the loss map to move the start point."),
            neuron_only("data", TOY, state, data_section(state, TOY)),
            section("Loss map", [
                *group_controls("grid", state),
                log_checklist(ID.LOG, state["log"]),
            ]),
            export_section(),
        ],
        className="controls",
    )
    playback = html.Div(
        [
            *playback_controls(PLAYBACK, steps, state["step"]),
            *preview_parts(PREVIEW, TOY),
            dcc.Store(id=ID.SURFACE_NEXT),
            dcc.Store(id=ID.TRACES),
            dcc.Store(id=ID.TRACES_DRAWN),
            dcc.Store(id=shown_messages_id(TOY), data=[]),
        ],
        className="playback",
    )
    # each tab's figures in rows of a deck: presenting, a row or two fill the screen and a key flips
    # to the next (assets/descent.js)
    single = dcc.Tab(label="One loss", value="single", children=html.Div([
        html.Div([_graph(ID.MAP), _graph(ID.SURFACE)], className="row"),
        html.Div([_graph(ID.CURVE, "320px"), _graph(ID.FIT, "320px")], className="row"),
    ], className="deck"))
    side_by_side = dcc.Tab(label="All losses side by side", value="all", children=html.Div([
        _graph(ID.ALL_MAPS, "760px"),
        html.Div([_graph(ID.ALL_CURVES, "340px"), _graph(ID.ALL_FITS, "340px")], className="row"),
    ], className="deck"))
    code = dcc.Tab(label="Code", value="code", children=html.Div([
        html.P(["The plain torch script behind the run of the ", html.I("One loss"), " view, every knob "
                "in use. It prints the same step,weight,bias,loss rows (on a surface step,x,y,loss) as the page and ",
                html.Code("python -m compute run"), ". ",
                dcc.Clipboard(target_id=ID.CODE, title="copy the script", className="copy")],
               className="hint"),
        dcc.Markdown(id=ID.CODE, className="code"),
    ]))
    return html.Div(
        [
            controls,
            html.Main(
                [
                    *view_header(notes, ID.QUERY_NOTE, ID.LINK, ID.STATUS, TOY, (
                        dcc.Link("open this run in Compare", id=ID.TO_COMPARE, href=compare_href(state),
                                 className="share-action",
                                 title="Compare with this run as its run 1: duplicate it there and tweak the copy"),)),
                    playback,
                    # data-tabs: a room's follower switches these tabs when only the presenter's tab (and
                    # step) changed, without building the page again; a click on a tab writes it in the
                    # address at once (assets/descent.js), its values in data-values, in order
                    html.Div(dcc.Loading(dcc.Tabs(id=ID.TABS, value=state["tab"], children=[single, side_by_side, code],
                                                  mobile_breakpoint=0),  # side by side on a phone too
                                         delay_show=300),
                             **{"data-tabs": ID.TABS, "data-default": default_state(TOY)["tab"],
                                "data-values": " ".join(CHOICES["tab"])}),
                    dcc.Store(id=ID.VIEW_STORE),
                ],
                className="view",
            ),
        ],
        className="toy-lab",
    )


def compare_href(state: dict[str, Any]) -> str:
    """Compare's address with this view's run as its only run (the playback step stays behind:
    it moves in the browser after the link is built)."""
    return dash.get_relative_path(PATHS[COMPARE]) + carry_query({**state, "step": None}, TOY)


def export_section() -> html.Details:
    """Export for slides: the figure, the format, the size, the frames; progress and cancel."""
    formats = {"gif": "GIF (animated)", "mp4": "MP4 (H.264)", "webm": "WebM (VP9)",
               "html": "HTML (Plotly frames)", "png": "PNG (the step shown)", "svg": "SVG (the step shown)"}
    return section("Export for slides", [
        labelled_dropdown(ID.EXPORT_FIGURE, "map", exports.FIGURE_LABELS, "figure"),
        labelled_dropdown(ID.EXPORT_FORMAT, "gif", formats, "format"),
        labelled_dropdown(ID.EXPORT_SIZE, "1280x720", {k: k.replace("x", " × ") for k in exports.SIZES}, "size"),
        html.Div([html.Label("frames", className="param-label"),
                  dcc.Input(id=ID.EXPORT_FRAMES, type="number", value=exports.DEFAULT_FRAMES, min=2,
                            max=exports.MAX_FRAMES, step=1, className="param-input")], className="param",
                 title=f"an animation's frames, spread evenly over the run's steps (2 to {exports.MAX_FRAMES})"),
        labelled_dropdown(ID.EXPORT_FPS, 10, {f: f"{f} frames/s" for f in exports.FPS}, "fps"),
        html.Div([html.Button("Export", id=ID.EXPORT_RUN, n_clicks=0),
                  html.Button("Cancel", id=ID.EXPORT_CANCEL, n_clicks=0, disabled=True)], className="sweep-buttons"),
        progress_row(ID.EXPORT_PROGRESS, ID.EXPORT_TEXT),
        dcc.Download(id=ID.EXPORT_DOWNLOAD),
    ], "The playback as an animation, or the step shown as a still, with a caption of the settings "
       "and a file name that says what it shows.")


def _raw_state(values: list, surface: Any, loss: Any, optimizer: Any, schedule: Any, tab: Any, log: Any,
               step: Any) -> dict[str, Any]:
    """The settings as the browser sent them, keyed as in ``dashboard.state``."""
    raw = settings_from_controls(ctx.inputs_list[0], values)
    raw.update(surface=surface, loss=loss, optimizer=optimizer, schedule=schedule, tab=tab,
               log=isinstance(log, list) and CHECKED in log)
    try:  # the playback step is cosmetic: a bad one means "the end", not an error
        raw["step"] = check_value("step", step)
    except InvalidSpec:
        raw["step"] = None
    return raw


def _status(runs: dict, state: dict[str, Any], curvature: dict | None = None) -> list:
    """What to say beside the figures: divergence, curvature's stability bound where lr is past
    it, and what the loop knobs are doing."""
    lines = []
    for title, traj in runs.items():
        bound = (curvature or {}).get(title, (None, None))[1]
        lr = state.get(f"{state['optimizer']}.lr")
        if bound is not None and len(bound) and lr is not None and lr >= bound[0]:
            lines.append(html.Div(
                f"{title}: lr {lr:g} is past the stability bound {bound[0]:.4g} at the start (full-batch SGD "
                "on this curvature: 2/λmax, with momentum 2(1 + μ)/λmax, Nesterov 2(1 + μ)/((1 + 2μ)λmax)): "
                "the step overshoots along the sharpest direction, the Hessian's top eigenvector.",
                className="diverged past-bound"))
        if traj.diverged_at is not None:
            became = "nan" if any(map(math.isnan, (traj.loss[-1], traj.weight[-1], traj.bias[-1]))) else "inf"
            lines.append(html.Div(
                f"{title}: diverged at step {traj.diverged_at} (the loss or a parameter became {became}); "
                f"the path is drawn up to step {traj.diverged_at - 1}.", className="diverged"))
        if state["run.clip_grad_norm"]:
            n = traj.finite_steps
            lines.append(html.Div(
                f"{title}: clip_grad_norm_ (max_norm {state['run.max_norm']:g}) clipped "
                f"{int(traj.clipped[:n].sum())} of {max(n - 1, 0)} steps, circled on the map.", className="note"))
    if not state["run.zero_grad"]:
        lines.append(html.Div(
            "zero_grad is off: .grad keeps every gradient so far, so step k moves by lr × the sum of "
            "k gradients. Steps grow like momentum 1 with no decay, and the path overshoots.", className="note"))
    if state["run.batch_size"] and state["run.batch_size"] < state["data.n"] and state["surface"] == NONE:
        lines.append(html.Div(
            f"Mini-batches of {state['run.batch_size']} (order seeded by batch_seed): each step sees part of "
            "the data, so the path wanders; the map and the solid curve are the full-data loss, the faint "
            "curve the loss of each step's batch.", className="note"))
    return lines


# What the render callback writes, by name (it returns a dict of them): each figure under its ID.
RENDER_OUTPUTS = {
    "messages": Output(param_msg_id(ALL, ALL), "children"),
    "status": Output(ID.STATUS, "children"),
    **{figure: Output(target, prop) for figure, (target, prop) in zip(FIGURES, RENDERED, strict=True)},
    "step_max": Output(ID.STEP, "max"),
    "step": Output(ID.STEP, "value"),
    "view": Output(ID.VIEW_STORE, "data"),
    "code": Output(ID.CODE, "children"),
    "traces": Output(ID.TRACES, "data"),
    "shown": Output(shown_messages_id(TOY), "data"),
    "to_compare": Output(ID.TO_COMPARE, "href"),
}
# Each tab's figures by their role (figures.playback_data's): the map, the surface, the curve, the fit.
ROLES = {"single": {"map": ID.MAP, "surface": ID.SURFACE, "curve": ID.CURVE, "fit": ID.FIT},
         "all": {"map": ID.ALL_MAPS, "curve": ID.ALL_CURVES, "fit": ID.ALL_FITS}}


@callback(
    RENDER_OUTPUTS,
    Input(param_id(ALL, ALL), "value"),
    Input(ID.LOSS, "value"),
    Input(ID.OPTIMIZER, "value"),
    Input(ID.SCHEDULE, "value"),
    Input(ID.TABS, "value"),
    Input(ID.LOG, "value"),
    # the problem is read, not listened to: choosing one sets the start point (and the map's square),
    # and that change renders the view once (two renders of two maps in a row left Plotly's first
    # margin pass running into the second figure: its x range widened instead of its domain)
    State(ID.PROBLEM, "value"),
    State(ID.STEP, "value"),
    State(ID.VIEW_STORE, "data"),
    State(shown_messages_id(TOY), "data"),
)
def render(values, loss, optimizer, schedule, tab, log, surface, step, drawn, shown):
    """Check every setting, run (or fetch) what the visible tab shows, build its figures.

    When the maps on screen are the ones this view needs (``drawn``: the view store), only the
    runs' traces are sent (the maps are not sent again): the browser puts them into the figures on
    screen (the trace store), and moves the step markers too.
    """
    checked = check_state(_raw_state(values, surface, loss, optimizer, schedule, tab, log, step))
    messages, status, now_shown = error_messages(checked, matched("messages"), shown=shown,
                                                 blocked="Nothing was recomputed: fix the settings marked in red.")
    if not checked.ok:
        return updates(RENDER_OUTPUTS, messages=messages, status=status, shown=now_shown)
    state = checked.state
    runs, grids = toy_runs(checked)
    last = max(traj.finite_steps for traj in runs.values()) - 1
    first_load = ctx.triggered_id is None
    # a new tab shows the same runs at the step shown, and leaves the slider as it is by then (its
    # answer reset a step moved while it was computed: a room's presenter pressing Home just after)
    same_runs = ctx.triggered_id == ID.TABS
    shown_step = (min(state["step"], last) if (first_load or same_runs) and state["step"] is not None else last)
    x, y, problem, feature = fit_data(state)  # the data of the loss the fit shows
    on_surface = state["surface"] != NONE
    maps = _maps_key(checked)
    same_maps = not first_load and isinstance(drawn, dict) and drawn.get("maps") == maps

    # the one-loss view's curvature (the 2 × 2 view's step lines stay short: four of them share the
    # playback row, and on a projector the maps must fit under it)
    curvature = toy_curvature(checked, runs) if state["tab"] == "single" else {}
    eigen = None
    built: dict[str, Any] = {}  # the tab's figures, by role
    if state["tab"] == "single":
        (title, traj), grid = next(iter(runs.items())), next(iter(grids.values()))
        built = {"map": make_map_figure(grid, traj, title, shown_step, state["log"], curvature[title][0]),
                     "surface": make_surface_figure(grid, traj, title, shown_step, state["log"]),
                     "curve": make_curve_figure(runs, shown_step),
                     "fit": (make_coordinates_figure(runs) if on_surface
                             else make_fit_figure(x, y, runs, shown_step, problem, feature))}
        eigen = (len(built["map"]["data"]) - 1, eigen_length(grid))
    elif state["tab"] == "all":
        built = {"map": make_all_maps_figure(grids, runs, shown_step, state["log"]),
                 "curve": make_curve_figure(runs, shown_step),
                 "fit": (make_coordinates_figure(runs) if on_surface
                         else make_fit_figure(x, y, runs, shown_step, feature=feature))}
    roles = ROLES.get(state["tab"], {})
    moved: Any = no_update
    if same_maps and built:  # the browser holds the maps: only the paths go
        moved = {"figure": roles["map"], **trace_update(built.pop("map"), not_a_map)}
        if "surface" in built:  # the 3D surface: a patch of its path traces
            built["surface"] = traces_only(built["surface"], not_a_map)
    # (a surface's fit slot holds its coordinates per step, drawn whole: no fitted line to move)
    moving = {role: figure for role, figure in roles.items() if not (on_surface and role == "fit")}
    play = playback_data(runs, x, shown_step, state["log"], state["tab"] == "all", moving, problem,
                         OPTIMIZERS[state["optimizer"]].arrow, state["optimizer"] != "sgd", curvature=curvature,
                         eigen=eigen, lr=state.get(f"{state['optimizer']}.lr"), surface=on_surface)
    view = {"state": state, "query": to_query({**state, "step": None}), "maps": maps, "play": play}
    # the script is written when its tab is open (choosing the tab renders): a hidden Markdown block
    # would be re-highlighted on every change
    code = f"```python\n{torch_script(checked.specs[state['loss']][0])}```" if state["tab"] == "code" else no_update
    return updates(RENDER_OUTPUTS, messages=messages, status=_status(runs, state, curvature),
                   **{roles[role]: figure for role, figure in built.items()}, step_max=max(last, 1),
                   step=no_update if same_runs else shown_step, view=view, code=code, traces=moved, shown=now_shown,
                   to_compare=compare_href(state))


def _maps_key(checked: Checked) -> str:
    """Which maps a view draws: the tab, the colour scale and each map's spec."""
    state = checked.state
    losses = shown_losses(state)
    return "|".join([state["tab"], str(state["log"]), *(checked.specs[loss][1].cache_key() for loss in losses)])


def _preview_runs(key: str, checked: Checked) -> dict[int, tuple[RunSpec, str]]:
    """A grabbed slider of the run (its optimizer's, or the loop's) moves the run of every loss the
    tab shows; the others (data, losses, the map) change the maps too: no preview."""
    group, _, name = key.partition(".")
    state = checked.state
    if group not in (state["optimizer"], "run"):
        return {}
    return {panel: (checked.specs[loss][0], name) for panel, loss in enumerate(shown_losses(state))}


# Dragging a slider draws its preview (assets/descent.js follows the hand and asks for the
# preview through PREVIEW_WANT); a new view is torch's exact run.
preview = register_preview(PREVIEW, TOY, _preview_runs)


clientside_callback(  # a new path over the maps on screen: the maps are not sent again
    ClientsideFunction("descent", "newPaths"),
    Output(ID.TRACES_DRAWN, "data"),
    Input(ID.TRACES, "data"),
    prevent_initial_call=True,
)


clientside_callback(  # beside the lr control: the curvature and SGD's stable lr at the playback step
    ClientsideFunction("descent", "stability"),
    Output(ID.STABILITY, "children"),
    Input(ID.STEP, "value"),
    Input(ID.VIEW_STORE, "data"),
)


clientside_callback(  # a view drawn: the banner of an earlier failure goes (dashboard/errors.py)
    "function(view) { return ''; }",
    Output(ID.ERROR, "children", allow_duplicate=True),
    Input(ID.VIEW_STORE, "data"),
    prevent_initial_call=True,
)


clientside_callback(  # the 3D surface is drawn once the 2D figures are on screen
    ClientsideFunction("descent", "afterPaint"),
    Output(ID.SURFACE, "figure"),
    Input(ID.SURFACE_NEXT, "data"),
    prevent_initial_call=True,
)


register_playback(PLAYBACK)


@callback(
    Output(param_id("run", "init_weight"), "value", allow_duplicate=True),
    Output(param_id("run", "init_bias"), "value", allow_duplicate=True),
    Input(ID.MAP, "clickData"),
    prevent_initial_call=True,
)
def click_start(click):
    """Clicking the loss map moves the start point there."""
    point = clicked_point(click)
    try:
        if point is None:
            raise InvalidSpec("no point")
        weight, bias = (FIELD_BY_KEY[f"run.{name}"].param for name in ("init_weight", "init_bias"))
        return weight.coerce(round(point[1], 3)), bias.coerce(round(point[0], 3))
    except InvalidSpec:  # outside the start point's range
        return no_update, no_update


@callback(
    Output(param_id(ALL, ALL), "value"),
    Output(optimizer_group_id(ALL), "children", allow_duplicate=True),
    Output(optimizer_group_id(ALL), "className", allow_duplicate=True),
    Output(ID.OPTIMIZER, "value"),
    Output(ID.PRESET_CAPTION, "children"),
    Input(preset_id(ALL), "n_clicks"),
    prevent_initial_call=True,
)
def apply_preset(_clicks):
    """Set the optimizer to a classic figure's settings (the rest at the registry's defaults): its
    group's controls built with them (the page holds only the chosen optimizer's), the epochs and
    the feature set in their boxes."""
    key = ctx.triggered_id.get("key") if isinstance(ctx.triggered_id, dict) else None
    preset = PRESETS.get(key) if isinstance(key, str) else None
    outputs, groups = ctx.outputs_list[0], ctx.outputs_list[1]
    if preset is None:
        return [no_update] * len(outputs), [no_update] * len(groups), [no_update] * len(groups), no_update, no_update
    given = {**{f"{preset.optimizer}.{name}": value for name, value in preset.params},
             **{f"data.{name}": value for name, value in preset.data}, "run.epochs": preset.epochs}
    values = []
    for item in outputs:
        field = FIELD_BY_KEY.get(control_key(item["id"]))
        # the epochs and the feature (the map follows it); the rest stay (its optimizer's: built below)
        if field is None or field.group in OPTIMIZERS or not (
                field.key in given or (field.group == "data" and field.param.name in FEATURE_KEYS)):
            values.append(no_update)
        else:
            values.append(as_control(field.param, given.get(field.key, field.param.default)))
    state = {**default_state(TOY), **{k: v for k, v in given.items() if k.startswith(preset.optimizer + ".")}}
    built = [optimizer_group(preset.optimizer, state, TOY) if item["id"]["key"] == preset.optimizer else no_update
             for item in groups]
    names = [GROUP_FULL if item["id"]["key"] == preset.optimizer else no_update for item in groups]
    return values, built, names, preset.optimizer, f"{preset.label}: {preset.caption}"


show_optimizer = register_optimizer_switch(TOY, ID.OPTIMIZER)
show_schedule = register_schedule_switch(TOY, ID.SCHEDULE)
show_surface = register_surface_switch(TOY, ID.PROBLEM, ID.OPTIMIZER, ID.LOG)
follow = register_follow(TOY, ID.LOSS)


clientside_callback(
    URL_SYNC_JS,
    Output(ID.LINK, "value"),
    Input(ID.VIEW_STORE, "data"),
    Input(ID.STEP, "value"),
)


# What the export job writes, by name: the file to download and the line that says what it is.
EXPORTED = {"file": Output(ID.EXPORT_DOWNLOAD, "data"), "text": Output(ID.EXPORT_TEXT, "children")}


@callback(
    EXPORTED,
    Input(ID.EXPORT_RUN, "n_clicks"),
    State(ID.VIEW_STORE, "data"),
    State(ID.STEP, "value"),
    State(ID.EXPORT_FIGURE, "value"),
    State(ID.EXPORT_FORMAT, "value"),
    State(ID.EXPORT_SIZE, "value"),
    State(ID.EXPORT_FRAMES, "value"),
    State(ID.EXPORT_FPS, "value"),
    **job_callback(JobIDs(ID.EXPORT_RUN, ID.EXPORT_CANCEL, ID.EXPORT_PROGRESS, ID.EXPORT_TEXT), EXPORTED, "text"),
    prevent_initial_call=True,
)
def export_view(set_progress, _clicks, view, step, figure, fmt, size, frames, fps):
    """The view's playback (or its step) as a file for slides, rendered in the background."""
    state = view.get("state") if isinstance(view, dict) else None
    if not isinstance(state, dict):
        return updates(EXPORTED, text="Nothing to export yet: wait for the figures.")
    def whole(value: Any) -> Any:  # a number box sends 60.0 for 60; 2.5 stays 2.5 (and is refused)
        return int(value) if isinstance(value, float) and value.is_integer() else value

    try:
        spec = exports.ExportSpec(figure, fmt, size, whole(frames), whole(fps))
    except InvalidSpec as err:
        return updates(EXPORTED, text=f"Not exported: {err.message}")
    set_progress(("0", "1", "starting the renderer…"))
    try:
        done = exports.export({**state, "step": step if isinstance(step, int) else None}, spec,
                              progress=lambda d, t: set_progress((str(d), str(t), f"frame {d} of {t}")))
    except (InvalidSpec, exports.ExportUnavailable) as err:
        if isinstance(err, exports.ExportUnavailable):
            log.warning("export: %s %s", err, err.hint)  # what to install: for the host, not the page
        return updates(EXPORTED, text=f"Not exported: {getattr(err, 'message', str(err))}")
    return updates(EXPORTED, file=dcc.send_bytes(done.content, done.name, type=done.mime),
                   text=f"{done.name}: {len(done.content) / 2**20:.1f} MiB, {done.frames} frame{'s' if done.frames > 1 else ''}")
