"""Sidebar panels shared by the pages: each built from the registries and parameter tables."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

from compute import LOSSES, InvalidSpec, RunSpec
from compute.data import CLASS_SCORE_TEXT, FEATURE_KEYS, TRUE_CURVE_TEXT, DataSpec
from compute.preview import PreviewSpec, run_preview
from compute.schedules import SCHEDULES, schedule_group
from compute.surfaces import EXPRESSION, EXTENT_KEYS, NONE, SURFACES
from compute.toy import follow_extent
from dashboard.cache import cached
from dashboard.controls import CHECKED, control_value, error_messages, group_controls, settings_from_controls
from dashboard.errors import job_error
from dashboard.figures import preview_data
from dashboard.ids import (
    optimizer_group_id,
    param_id,
    param_msg_id,
    problem_part_id,
    schedule_group_id,
    shown_messages_id,
    surface_group_id,
)
from dashboard.leads import lead
from dashboard.state import (
    FIELD_BY_KEY,
    OPTIMIZERS,
    PAGES,
    PATHS,
    Checked,
    check_state,
    check_value,
    default_state,
    surface_place,
)

URL_SYNC_JS = """
function(view, step) {
    if (!view || typeof view.query !== "string") { return window.dash_clientside.no_update; }
    const params = new URLSearchParams(view.query.slice(1));
    if (step !== null && step !== undefined) { params.set("step", step); }
    // the lesson being followed stays in the address (dashboard/lessons.py: the player's, no setting)
    const lesson = new URLSearchParams(window.location.search).get("lesson");
    if (lesson) { params.set("lesson", lesson); }
    // the tab on screen (a click writes it at once, assets/descent.js; the view may be the one before)
    const tabs = window.descentTabs, node = tabs && tabs.node();  // (assets/descent.js)
    const tab = node && tabs.shown(node);
    if (tab) { tabs.write(node, params, tab); }
    const url = window.location.pathname + "?" + params.toString();
    window.history.replaceState(window.history.state, "", url);
    return window.location.origin + url;
}
"""  # keeps the address bar equal to the view's settings, without reloading the page


# Every figure's modebar: PNG at twice the size, no Plotly logo, no "Share chart" (an upload to
# Plotly's cloud), no box or lasso select (nothing on these pages uses a selection).
GRAPH_CONFIG = {"displaylogo": False, "showSendToCloud": False, "showEditInChartStudio": False,
                "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d"],
                "toImageButtonOptions": {"format": "png", "scale": 2}}


def icon(name: str) -> html.Span:
    """An icon of assets/icons/ (``NAME.svg``) in the text's colour (assets/style.css ``.icon-NAME``):
    drawn from the page's own file, where an emoji needs a font a projector's computer may lack."""
    return html.Span(className=f"icon icon-{name}", **{"aria-hidden": "true"})


def graph(component_id: str, height: str, figure: dict | None = None) -> dcc.Graph:
    """A figure of a page, with the one modebar configuration (and what it shows before its first draw)."""
    extra = {} if figure is None else {"figure": figure}
    return dcc.Graph(id=component_id, config=GRAPH_CONFIG, style={"height": height}, **extra)


def section(title: str, children: list, hint: str | None = None) -> html.Details:
    body = [html.Summary(title)] + ([html.P(hint, className="hint")] if hint else []) + children
    return html.Details(body, open=True, className="panel")


def labelled_dropdown(component_id: str, value: str, options: dict[str, str], label: str) -> html.Div:
    """A dropdown with its label on the left, laid out like a parameter's control."""
    return html.Div([html.Label(label, className="param-label"),
                     dcc.Dropdown(id=component_id, value=value, clearable=False,
                                  options=[{"label": text, "value": key} for key, text in options.items()])],
                    className="param")


def shown_if(visible: bool) -> dict[str, str]:
    return {} if visible else {"display": "none"}


def _surface_label(key: str) -> str:
    row = SURFACES[key]
    if key == NONE:
        return "the neuron on its data (regression)"
    if key == EXPRESSION:
        return "your formula f(x, y)"
    return f"{row.title}: {row.formula.replace('**', '^')}"


def surface_text(key: str) -> str:
    """What a problem is, for the hint under its controls."""
    row = SURFACES[key]
    if key == NONE:
        return "ŷ = w·x + b fit to the data under the loss below: the map is the loss over (b, w)."
    minima = row.minima({p.name: p.default for p in row.params}) if key != EXPRESSION else ()
    where = "; its minima are the white rings on the map" if minima else ""
    lr = f" Choosing it sets SGD's lr to {row.sgd_lr:g}, stable where it starts." if row.sgd_lr != 0.1 else ""
    return (f"{row.help[0].upper()}{row.help[1:]}.{lr} The map is f over (x, y); the run moves the point (x, y), held as the neuron's bias "
            f"(x) and weight (y){where}. Muon takes y (a 1 × 1 matrix), AdamW x.")


def problem_section(state: dict[str, Any], page: str, dropdown_id: str) -> html.Details:
    """What the optimizer minimizes: the neuron on its data, or a classic surface with its settings
    (only the chosen one's shown); choosing one moves the map and the start to it."""
    chosen = state["surface"]
    return section("Problem", [
        dcc.Dropdown(id=dropdown_id, value=chosen, clearable=False,
                     options=[{"label": _surface_label(key), "value": key} for key in SURFACES]),
        *[html.Div([*group_controls(key, state, page=page), html.P(surface_text(key), className="hint")],
                   id=surface_group_id(key, page), style=shown_if(key == chosen)) for key in SURFACES],
    ])


def neuron_only(part: str, page: str, state: dict[str, Any], panel: Any) -> html.Div:
    """A panel only the neuron uses (its data, its loss, the toy lab's presets), hidden while a surface
    is chosen."""
    return html.Div(panel, id=problem_part_id(part, page), style=shown_if(state["surface"] == NONE))


def register_surface_switch(page: str, dropdown_id: str, optimizer_id: str | None = None,
                            log_id: str | None = None) -> Callable:
    """Show the chosen problem's settings and hide the neuron's data and loss on a surface. A person
    choosing a surface gets its start point, its map square (where the page has a map), its colour
    scale (``log_id``: log where f spans decades) and, while the optimizer (``optimizer_id``) is SGD,
    an lr at which SGD is stable there; back on the neuron, its defaults. A link or a lesson opens
    with its own settings: no initial call."""
    logs = [Output(log_id, "value", allow_duplicate=True)] if log_id else []
    optimizer = [State(optimizer_id, "value")] if optimizer_id else []

    @callback(Output(surface_group_id(ALL, page), "style"), Output(problem_part_id(ALL, page), "style"),
              Output(param_id(ALL, ALL, page), "value", allow_duplicate=True), *logs,
              Input(dropdown_id, "value"), *optimizer, prevent_initial_call=True)
    def show_surface(surface, chosen=None):
        if not isinstance(surface, str) or surface not in SURFACES:
            raise dash.exceptions.PreventUpdate
        groups = [shown_if(item["id"]["key"] == surface) for item in ctx.outputs_list[0]]
        parts = [shown_if(surface == NONE) for _ in ctx.outputs_list[1]]
        wanted = surface_place(surface)  # (the settings a link naming the surface opens with)
        log = [[CHECKED] if wanted.pop("log") else []] if log_id else []
        if chosen != "sgd":
            wanted.pop("sgd.lr")
        values = [wanted.get(f"{item['id']['group']}.{item['id']['name']}", no_update) for item in ctx.outputs_list[2]]
        return groups, parts, values, *log

    return show_surface


def loss_section(state: dict[str, Any], page: str, dropdown_id: str) -> html.Details:
    return section("Loss (torch.nn)", [
        dcc.Dropdown(id=dropdown_id, value=state["loss"], clearable=False,
                     options=[{"label": row.title, "value": key} for key, row in LOSSES.items()]),
        *[c for key, row in LOSSES.items() for c in group_controls(key, state, row.title, page)],
    ])


# A registry's hidden groups (the optimizers and schedules not chosen) hold no controls: a page of
# fourteen optimizers' and sixteen schedules' controls was three times the layout, and Dash's every
# update slower (its pattern-matched inputs gather every control: 20 playback steps 4.5 s → 7.3 s,
# duplicating a compared run 8.6 s → 33 s). A group's controls are built when it is first chosen
# (``completed``, at their defaults; a preset builds its own with its values), and stay.
GROUP_LIGHT, GROUP_FULL = "group light", "group full"


def optimizer_group(key: str, state: dict[str, Any], page: str, full: bool = True) -> list[Any]:
    return [*group_controls(key, state, page=page, slider=full), html.P(OPTIMIZERS[key].help, className="hint")]


def optimizer_section(state: dict[str, Any], page: str, dropdown_id: str, hint: str | None = None) -> html.Details:
    """The optimizer choice and each optimizer's controls, only the chosen one's shown."""
    chosen = state["optimizer"]
    return section("Optimizer (torch.optim)", [
        dcc.Dropdown(id=dropdown_id, value=chosen, clearable=False,
                     options=[{"label": row.title, "value": key} for key, row in OPTIMIZERS.items()]),
        *[html.Div(optimizer_group(key, state, page) if key == chosen else [], id=optimizer_group_id(key, page),
                   className=GROUP_FULL if key == chosen else GROUP_LIGHT, style=shown_if(key == chosen)) for key in OPTIMIZERS],
    ], hint)


def completed(page: str, chosen: str, classes: list, values: list,
              build: Callable[[str, dict], list]) -> tuple[list, list, list]:
    """The switch's outputs for a registry's groups: each shown or hidden, and the chosen one, if it
    holds no controls yet, built (from the values of any of its controls on the page, else defaults)."""
    outputs = ctx.outputs_list[0]
    state = dict(default_state(page))
    for item, value in zip(ctx.states_list[1], values if isinstance(values, list) else []):
        field = FIELD_BY_KEY.get(f"{item['id'].get('group')}.{item['id'].get('name')}")
        if field is not None:  # (a compared run's: its own optimizer's key, the card's run aside)
            state[field.key] = control_value(field.param, value)
    styles, children, names = [], [], []
    for item, name in zip(outputs, classes if isinstance(classes, list) else []):
        key = item["id"]["key"]
        styles.append(shown_if(key == chosen))
        grow = key == chosen and name == GROUP_LIGHT
        children.append(build(key, state) if grow else no_update)
        names.append(GROUP_FULL if grow else no_update)
    return styles, children, names


def register_optimizer_switch(page: str, dropdown_id: str) -> Callable:
    """Show only the chosen optimizer's controls on ``page`` (with their sliders once shown)."""

    # (no initial call: the layout builds the chosen group and shows only it, which is all the call did,
    # one request a page load, queued behind the session's others)
    @callback(Output(optimizer_group_id(ALL, page), "style"), Output(optimizer_group_id(ALL, page), "children"),
              Output(optimizer_group_id(ALL, page), "className"), Input(dropdown_id, "value"),
              State(optimizer_group_id(ALL, page), "className"), State(param_id(ALL, ALL, page), "value"),
              prevent_initial_call=True)
    def show_optimizer(optimizer, classes, values):
        return completed(page, optimizer, classes, values, lambda key, state: optimizer_group(key, state, page))

    return show_optimizer


def schedule_text(key: str) -> str:
    """What a schedule row does, and when it steps, for the hint under its controls."""
    row = SCHEDULES[key]
    if key == "none":
        return "The lr stays the optimizer's. A schedule changes it as the run goes."
    said = f"torch.optim.lr_scheduler.{row.title}: {row.help}. It steps after every optimizer step " \
           "(per_epoch: after an epoch's last batch)"
    if row.plateau:
        said += ", on the step's loss: scheduler.step(loss)"
    if row.sets_lr:
        said += "; it sets the lr itself, so the optimizer's lr is not used"
    return said + ". The lr of each step is drawn under the loss curve; the path's points take its colour."


def _schedule_group(key: str, state: dict[str, Any], page: str, full: bool) -> list[Any]:
    return [*group_controls(schedule_group(key), state, page=page, slider=full),
            html.P(schedule_text(key), className="hint")]


def schedule_section(state: dict[str, Any], page: str, dropdown_id: str) -> html.Details:
    """The schedule choice and each schedule's controls, only the chosen one's shown, with what it does."""
    chosen = state["schedule"]
    return section("Schedule (torch.optim.lr_scheduler)", [
        dcc.Dropdown(id=dropdown_id, value=chosen, clearable=False,
                     options=[{"label": _schedule_label(key), "value": key} for key in SCHEDULES]),
        *[html.Div(_schedule_group(key, state, page, True) if key == chosen else [], id=schedule_group_id(key, page),
                   className=GROUP_FULL if key == chosen else GROUP_LIGHT, style=shown_if(key == chosen)) for key in SCHEDULES],
    ])


def _schedule_label(key: str) -> str:
    row = SCHEDULES[key]
    if key == "none":
        return "none (a constant lr)"
    if key == "warmup":
        return "warm-up then cosine (SequentialLR)"
    return row.title + {"cyclic": " (triangular)", "cyclic2": " (triangular2)", "cyclic_exp": " (exp_range)"}.get(key, "")


def register_schedule_switch(page: str, dropdown_id: str) -> Callable:
    """Show only the chosen schedule's controls on ``page`` (with their sliders once shown)."""

    @callback(Output(schedule_group_id(ALL, page), "style"), Output(schedule_group_id(ALL, page), "children"),
              Output(schedule_group_id(ALL, page), "className"), Input(dropdown_id, "value"),
              State(schedule_group_id(ALL, page), "className"), State(param_id(ALL, ALL, page), "value"),
              prevent_initial_call=True)  # (as the optimizer's switch)
    def show_schedule(schedule, classes, values):
        return completed(page, schedule, classes, values, lambda key, state: _schedule_group(key, state, page, True))

    return show_schedule


def training_section(state: dict[str, Any], page: str, hint: str | None = None) -> html.Details:
    return section("Training", group_controls("run", state, page=page), hint)


def data_section(state: dict[str, Any], page: str) -> html.Details:
    return section("Data", group_controls("data", state, page=page),
                   f"y = {TRUE_CURVE_TEXT} + noise·ε, drawn with numpy's seed; for BCEWithLogitsLoss, "
                   f"two classes: y = 1 where {CLASS_SCORE_TEXT} + noise·ε > 0. The neuron sees x' = "
                   "x_scale·x + x_offset (or x standardized): the same data in other units, which changes "
                   "only how the loss is shaped. Its condition number κ is beside the optimizer's settings; "
                   "the map turns to the new minimum.")




def register_follow(page: str, loss_id: str) -> Callable:
    """When a person changes the feature's scale, offset or standardizing on ``page``, the loss map
    turns to the new optimum (``compute.toy.follow_extent``: a square around it holding the start
    point); a link's or a lesson's own extent is kept, as the page opens with it."""
    data_keys = [f.param.name for f in PAGES[page].groups["data"]]

    @callback(
        [Output(param_id("grid", name, page), "value", allow_duplicate=True) for name in EXTENT_KEYS],
        [Input(param_id("data", name, page), "value") for name in FEATURE_KEYS],
        [State(param_id("data", name, page), "value") for name in data_keys],
        State(param_id("run", "init_weight", page), "value"),
        State(param_id("run", "init_bias", page), "value"),
        State(loss_id, "value"),
        [State(param_id("grid", name, page), "value") for name in EXTENT_KEYS],
        prevent_initial_call=True,
    )
    def follow(*values):  # (Dash passes the lists of inputs and states flat) the feature's, then:
        data = values[len(FEATURE_KEYS):len(FEATURE_KEYS) + len(data_keys)]
        init_weight, init_bias, loss, *extent = values[len(FEATURE_KEYS) + len(data_keys):]
        raw = dict(zip((f"data.{name}" for name in data_keys), data, strict=True))
        raw.update({"run.init_weight": init_weight, "run.init_bias": init_bias})
        try:
            checked = {key: check_value(key, control_value(FIELD_BY_KEY[key].param, value), page)
                       for key, value in raw.items()}
            found = follow_extent(DataSpec(**{key[5:]: v for key, v in checked.items() if key.startswith("data.")}),
                                  loss if isinstance(loss, str) and loss in LOSSES else "mse",
                                  checked["run.init_weight"], checked["run.init_bias"])
        except InvalidSpec:  # a bad value is shown by its control; the map stays where it is
            return [no_update] * len(EXTENT_KEYS)
        return [no_update if now == found[name] else found[name] for now, name in zip(extent, EXTENT_KEYS, strict=True)]

    return follow


def view_header(notes: list[str], note_id: str, link_id: str, status_id: str, page: str,
                actions: tuple = ()) -> list:
    """What tops every page's view: its lead (what it shows, what to try first), what the link could not use, the link itself with ``actions``
    (links to other pages) and *defaults*, the status line.

    *defaults* opens the page without a query: every setting at its default (the top bar's link to
    a page brings back its last settings, assets/descent.js)."""
    defaults = dcc.Link("defaults", href=dash.get_relative_path(PATHS[page]), className="share-action",
                        title="this page with every setting at its default")
    return [
        lead(page),
        html.Div("Ignored from the link: " + "; ".join(notes) if notes else "", id=note_id,
                 className="query-note" if notes else ""),
        html.Div([html.Span("Link to this view", className="share-label"),
                  dcc.Input(id=link_id, type="text", readOnly=True, className="share-link"),
                  dcc.Clipboard(target_id=link_id, title="copy link", className="copy"),
                  *actions, defaults], className="share"),
        html.Div(id=status_id, className="status"),
    ]


def progress_row(bar_id: str, text_id: str) -> html.Div:
    """A progress bar and its line of text, fed by a background callback's ``progress``."""
    return html.Div([html.Progress(id=bar_id, value="0", max="1"), html.Span(id=text_id, className="progress-text")],
                    className="progress-row")


@dataclass(frozen=True, slots=True)
class JobIDs:
    """A page's background job: its run and cancel buttons and its progress row (``progress_row``)."""

    run: str
    cancel: str
    bar: str
    text: str


def job_callback(ids: JobIDs, outputs: dict[str, Output], status: str) -> dict[str, Any]:
    """The options of a background callback with the dict ``outputs``, as every page runs one: its
    progress row fed (value, max, text), run disabled and cancel enabled while it runs, polled
    every 250 ms, and a job that fails or cannot start saying why in the output ``status``."""
    return {"background": True,
            "progress": [Output(ids.bar, "value"), Output(ids.bar, "max"), Output(ids.text, "children")],
            "running": [(Output(ids.run, "disabled"), True, False), (Output(ids.cancel, "disabled"), False, True)],
            "cancel": [Input(ids.cancel, "n_clicks")],
            "interval": 250,
            "on_error": job_error(outputs, status)}


def register_settings_check(page: str, status_id: str, store_id: str, choices: dict[str, str],
                            request: Callable[[dict[str, Any]], dict[str, Any]], blocked: str) -> Callable:
    """The settings check of a page whose job waits for a request: every control's value (the
    page's pattern-matched ones, and ``choices``: setting → dropdown or checklist id) checked as
    they change; each message goes under its control and a valid state becomes ``request(state)``
    in ``store_id``, which the job reads."""

    @callback(
        Output(param_msg_id(ALL, ALL, page), "children"),
        Output(status_id, "children"),
        Output(store_id, "data"),
        Output(shown_messages_id(page), "data"),
        Input(param_id(ALL, ALL, page), "value"),
        *(Input(component, "value") for component in choices.values()),
        State(shown_messages_id(page), "data"),
        prevent_initial_call=True,
    )
    def check_settings(values, *chosen):
        raw = settings_from_controls(ctx.inputs_list[0], values)
        raw.update(zip(choices, chosen[:-1], strict=True))
        checked = check_state(raw, page)
        messages, status, now_shown = error_messages(checked, ctx.outputs_list[0], shown=chosen[-1], blocked=blocked)
        return messages, status, request(checked.state) if checked.ok else dash.no_update, now_shown

    return check_settings


def register_run_request(page: str, run_id: str, request_id: str, choices: dict[str, str],
                         request: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable:
    """What a page's job runs when ``run_id`` is clicked: the controls' values as they are at the
    click (the pattern-matched ones and ``choices``, as ``register_settings_check`` reads them),
    as ``request(state)`` in ``request_id``, with the click's count (each click is a change).

    Not the settings check's store: a value typed just before the click (its box left by the
    click itself) reached that store after the click, and the job ran the value before it."""

    @callback(
        Output(request_id, "data"),
        Input(run_id, "n_clicks"),
        State(param_id(ALL, ALL, page), "value"),
        *(State(component, "value") for component in choices.values()),
        prevent_initial_call=True,
    )
    def run_request(clicks, values, *chosen):
        raw = settings_from_controls(ctx.states_list[0], values)
        raw.update(zip(choices, chosen, strict=True))
        checked = check_state(raw, page)  # an invalid state goes as it is: the job says what blocks it
        return {**(request(checked.state) if checked.ok else {"state": raw}), "click": clicks}

    return run_request


PLAY_SPEEDS = (1, 2, 5, 10, 20, 50, 100)  # playback, in optimizer steps per second
DEFAULT_SPEED = 5
MIN_TICK_MS = 100  # faster speeds move several steps a tick: a tick redraws the figures (~50 ms)


@dataclass(frozen=True, slots=True)
class PlaybackIDs:
    """A page's playback: ▶ play, its speed, the step slider and its line of text, the ticker, and
    the store of the view (whose ``play`` entry, from ``figures.playback_data``, says what moves)."""

    play: str
    speed: str
    step: str
    text: str
    ticker: str
    view: str


def playback_controls(ids: PlaybackIDs, steps: int, step: int | None) -> list:
    """▶ play with its speed, the step slider (its box beside it), the step's line of text."""
    return [
        html.Div([
            html.Button("▶ play", id=ids.play, n_clicks=0, className="play"),
            dcc.Dropdown(id=ids.speed, options=[{"label": f"{s} steps/s", "value": s} for s in PLAY_SPEEDS],
                         value=DEFAULT_SPEED, clearable=False, searchable=False, className="play-speed"),
        ], className="play-controls", title="playback speed: optimizer steps per second"),
        # no tooltip: it covered the step's line; the box beside the slider shows the step.
        # data-slider: a room's follower moves this slider when only the presenter's step changed
        html.Div(dcc.Slider(id=ids.step, min=0, max=max(steps, 1), step=1,
                            value=min(step, steps) if step is not None else steps, marks=None, updatemode="drag"),
                 className="step-slider", **{"data-slider": ids.step}),
        html.Div(id=ids.text, className="step-text"),
        dcc.Interval(id=ids.ticker, disabled=True),  # its interval: from the speed, on load
    ]


def register_playback(ids: PlaybackIDs) -> None:
    """Playback in the browser: ▶ play steps the slider on each tick (several steps a tick at high
    speeds), the speed sets the tick, and a new step moves the figures' markers (no request)."""
    clientside_callback(
        f"""
        function(clicks, ticks, step, max, stopped, speed, tick) {{
            const nu = window.dash_clientside.no_update;
            // a click and a tick can arrive in one call: the click wins (triggered_id names only one)
            const clicked = window.dash_clientside.callback_context.triggered
                .some(t => t.prop_id === "{ids.play}.n_clicks");
            if (clicked) {{
                if (stopped) {{ (window.descentPlayed || (window.descentPlayed = {{}}))["{ids.step}"] = null;
                               return [(step >= max) ? 0 : step, false, "❚❚ pause"]; }}
                return [nu, true, "▶ play"];
            }}
            if (stopped) {{ return [nu, nu, nu]; }}
            const stride = Math.max(1, Math.round(Number(speed) * tick / 1000));  // steps a tick
            // playing, a new run arrived (a value typed, then ▶ play): it shows its end; it plays from
            // its start rather than stop there
            const played = window.descentPlayed || (window.descentPlayed = {{}});
            const from = (step >= max && played["{ids.step}"] !== step) ? 0 : (step || 0);
            const next = from + stride;
            if (next >= max) {{ played["{ids.step}"] = max; return [max, true, "▶ play"]; }}
            played["{ids.step}"] = next;
            return [next, false, nu];
        }}
        """,
        Output(ids.step, "value", allow_duplicate=True),
        Output(ids.ticker, "disabled"),
        Output(ids.play, "children"),
        Input(ids.play, "n_clicks"),
        Input(ids.ticker, "n_intervals"),
        State(ids.step, "value"),
        State(ids.step, "max"),
        State(ids.ticker, "disabled"),
        State(ids.speed, "value"),
        State(ids.ticker, "interval"),
        prevent_initial_call=True,
    )
    clientside_callback(  # the playback speed sets the tick (on load too)
        f"""function(speed) {{
            return Math.max({MIN_TICK_MS}, Math.round(1000 / (Number(speed) > 0 ? Number(speed) : {DEFAULT_SPEED})));
        }}""",
        Output(ids.ticker, "interval"),
        Input(ids.speed, "value"),
    )
    clientside_callback(  # playback moves the markers in the browser: no request, no redraw of the maps
        ClientsideFunction("descent", "playStep"),
        Output(ids.text, "children"),
        Input(ids.step, "value"),
        Input(ids.view, "data"),
    )


@dataclass(frozen=True, slots=True)
class PreviewIDs:
    """A page's live drag (assets/descent.js): the line that says which run is on screen, the store
    the browser asks for a slider's preview through, the store the preview comes back in, and the
    store of the view (``state``, ``query`` and ``play``) the preview is drawn over."""

    badge: str
    want: str
    store: str
    view: str


NO_PREVIEW = "no preview for this slider: release it"
MAX_KEY = 100  # longer than any setting's key: a request with more is not the page's

# What a page previews for a dragged slider's key in its checked view: per run it moves (by its place
# among the view's runs: map panel, curve and fitted line), the run's spec and the setting varied.
# Empty: a slider with no preview; InvalidSpec: a key the page cannot preview, with the reason.
PreviewRuns = Callable[[str, Checked], Mapping[int, tuple[RunSpec, str]]]


def preview_parts(ids: PreviewIDs, page: str) -> list:
    """The badge (its page and its want store named for the browser) and the preview's two stores."""
    return [html.Div(id=ids.badge, className="engine", **{"data-page": page, "data-want": ids.want}),
            dcc.Store(id=ids.want), dcc.Store(id=ids.store)]


def register_preview(ids: PreviewIDs, page: str, runs: PreviewRuns) -> Callable:
    """Dragging a slider of ``page`` draws its preview: the browser follows the hand and asks for the
    slider's stops once per drag; a new view is torch's exact run. Returns the server's callback."""

    @callback(Output(ids.store, "data"), Input(ids.want, "data"), State(ids.view, "data"),
              prevent_initial_call=True)
    def preview(want, view):
        """The grabbed slider's stops on the batched engine, one cached call per run it moves (the
        page's ``runs`` say which), for the browser to pick from while the slider is dragged."""
        key = want.get("key") if isinstance(want, dict) else None
        if (not isinstance(key, str) or len(key) > MAX_KEY or not isinstance(view, dict)
                or not isinstance(view.get("state"), dict)):
            return no_update  # not what the page sends: nobody to tell
        query = view.get("query")
        checked = check_state(view["state"], page)
        try:
            moved = runs(key, checked) if checked.ok else {}
            if not moved:
                return {"key": key, "query": query, "note": NO_PREVIEW}
            previews = {panel: cached(run_preview, PreviewSpec(spec, name)) for panel, (spec, name) in moved.items()}
        except InvalidSpec as err:
            return {"key": key, "query": query, "note": f"no preview: {err.message}; release it"}
        return preview_data(key, query, previews)

    clientside_callback(  # a new view (torch's exact run), or the preview data of a grabbed slider
        ClientsideFunction("descent", "previewArrived"),
        Output(ids.badge, "children"),
        Input(ids.view, "data"),
        Input(ids.store, "data"),
    )
    return preview
