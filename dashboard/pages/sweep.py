"""The sweep: one measure of the toy run over a grid of two optimizer hyperparameters."""

from __future__ import annotations

from typing import Any

import dash
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from compute import Param
from compute.batched import SCHEDULE_PREFIX
from compute.curvature import sweep_sharpness, sweep_stability
from compute.optimizers import LOOP_MAX_RUN_STEPS
from compute.schedules import SCHEDULES, schedule_group
from compute.surfaces import SURFACES
from compute.sweep import MEASURES, run_sweep
from dashboard.cache import cached
from dashboard.controls import (
    as_control,
    clicked_point,
    param_control,
)
from dashboard.figures import make_sweep_figure, shown_value
from dashboard.ids import SWEEP, SweepID, param_id, shown_messages_id
from dashboard.lessons import opened_view
from dashboard.outputs import updates
from dashboard.panels import (
    URL_SYNC_JS,
    JobIDs,
    data_section,
    graph,
    job_callback,
    labelled_dropdown,
    loss_section,
    neuron_only,
    optimizer_section,
    problem_section,
    progress_row,
    register_optimizer_switch,
    register_schedule_switch,
    register_settings_check,
    register_surface_switch,
    schedule_section,
    section,
    training_section,
    view_header,
)
from dashboard.state import FIELD_BY_KEY, OPTIMIZERS, PATHS, check_state, from_query, to_query
from dashboard.state import SWEEP as SWEEP_PAGE

dash.register_page(__name__, path=PATHS[SWEEP_PAGE], name="Sweep", title="Descent Lab · sweep")


AXIS_FIELDS = ("lo", "hi", "points", "log")


def axis_params(optimizer: str, schedule: str) -> dict[str, Param]:
    """What an axis can sweep: the optimizer's numeric hyperparameters and its schedule's arguments
    ("schedule.warmup_steps")."""
    return {**{p.name: p for p in OPTIMIZERS[optimizer].params if p.kind is not bool},
            **{SCHEDULE_PREFIX + p.name: p for p in SCHEDULES[schedule].params if p.kind is not bool}}


def axis_options(optimizer: str, schedule: str = "none") -> dict[str, str]:
    """The axes' choices: name → label."""
    return {name: (f"{SCHEDULES[schedule].title}: {p.shown}" if name.startswith(SCHEDULE_PREFIX) else p.shown)
            for name, p in axis_params(optimizer, schedule).items()}


def axis_key(state: dict[str, Any], name: str) -> str:
    """The setting an axis's value is: ``sgd.lr``, or ``schedule_warmup.warmup_steps``."""
    if name.startswith(SCHEDULE_PREFIX):
        return f"{schedule_group(state.get('schedule', 'none'))}.{name[len(SCHEDULE_PREFIX):]}"
    return f"{state.get('optimizer')}.{name}"


def _field(state: dict[str, Any], name: str) -> html.Div:
    return param_control("sweep", FIELD_BY_KEY[f"sweep.{name}"].param, state[f"sweep.{name}"], SWEEP)


def _axis(state: dict[str, Any], which: str, dropdown_id: str) -> list:
    return [
        labelled_dropdown(dropdown_id, state[f"sweep.{which}"], axis_options(state["optimizer"], state["schedule"]),
                          f"{which} axis"),
        *[_field(state, f"{which}_{name}") for name in AXIS_FIELDS],
    ]


def _request(state: dict[str, Any]) -> dict[str, Any]:
    return {"state": state, "query": to_query({**state, "step": None}, SWEEP_PAGE)}


def layout(**query: Any) -> html.Div:
    """The page, with its controls (and its first sweep) set from the URL's query string."""
    state, notes = from_query(opened_view(query, SWEEP_PAGE), SWEEP_PAGE)  # a valid sweep: from_query checked it
    request = _request(state)
    controls = html.Aside(
        [
            section("Sweep", [
                *_axis(state, "x", SweepID.X),
                *_axis(state, "y", SweepID.Y),
                labelled_dropdown(SweepID.MEASURE, state["sweep.measure"], MEASURES, "measure"),
                _field(state, "tolerance"),
                _field(state, "log_colour"),
                html.Div([html.Button("Run sweep", id=SweepID.RUN, n_clicks=0),
                          html.Button("Cancel", id=SweepID.CANCEL, n_clicks=0, disabled=True)],
                         className="sweep-buttons"),
            ], "Each cell is one run; all runs advance together on the batched engine. "
               "Click a cell to open that run in the toy lab."),
            problem_section(state, SWEEP, SweepID.PROBLEM),
            neuron_only("loss", SWEEP, state, loss_section(state, SWEEP, SweepID.LOSS)),
            optimizer_section(state, SWEEP, SweepID.OPTIMIZER, "Swept hyperparameters take the axes' values; "
                                                               "the others stay as set here."),
            schedule_section(state, SWEEP, SweepID.SCHEDULE),
            training_section(state, SWEEP),
            neuron_only("data", SWEEP, state, data_section(state, SWEEP)),
        ],
        className="controls",
    )
    main = html.Main(
        [
            *view_header(notes, SweepID.QUERY_NOTE, SweepID.LINK, SweepID.STATUS, SWEEP_PAGE),
            progress_row(SweepID.PROGRESS, SweepID.PROGRESS_TEXT),
            html.Div(graph(SweepID.FIGURE, "680px"), className="deck"),
            dcc.Store(id=SweepID.STORE, data=request),
            dcc.Store(id=SweepID.NAV),
            dcc.Store(id=shown_messages_id(SWEEP), data=[]),
            html.Div(id=SweepID.NAV_SINK, hidden=True),
        ],
        className="view",
    )
    return html.Div([controls, main], className="toy-lab")


register_optimizer_switch(SWEEP, SweepID.OPTIMIZER)
register_schedule_switch(SWEEP, SweepID.SCHEDULE)
register_surface_switch(SWEEP, SweepID.PROBLEM, SweepID.OPTIMIZER)


@callback(
    Output(SweepID.X, "options"),
    Output(SweepID.X, "value"),
    Output(SweepID.Y, "options"),
    Output(SweepID.Y, "value"),
    Output(param_id("sweep", ALL, SWEEP), "value"),
    Input(SweepID.OPTIMIZER, "value"),
    Input(SweepID.SCHEDULE, "value"),
    Input(SweepID.X, "value"),
    Input(SweepID.Y, "value"),
    prevent_initial_call=True,
)
def choose_axes(optimizer, schedule, x, y):
    """Offer the chosen optimizer's hyperparameters and its schedule's arguments; a newly chosen
    axis starts at its span."""
    if not isinstance(optimizer, str) or optimizer not in OPTIMIZERS or not isinstance(schedule, str) \
            or schedule not in SCHEDULES:
        return no_update, no_update, no_update, no_update, [no_update] * len(ctx.outputs_list[4])
    params = axis_params(optimizer, schedule)
    names = list(params)
    changed = {ctx.triggered_id} if ctx.triggered_id in (SweepID.X, SweepID.Y) else set()
    if not isinstance(x, str) or x not in params:
        x, changed = "lr", changed | {SweepID.X}
    if not isinstance(y, str) or y not in params or y == x:
        y, changed = next(n for n in names if n != x), changed | {SweepID.Y}
    new = {}
    for which, name, axis_id in (("x", x, SweepID.X), ("y", y, SweepID.Y)):
        if axis_id in changed:
            lo, hi = params[name].sweep_range
            new.update({f"{which}_lo": lo, f"{which}_hi": hi,
                        f"{which}_log": as_control(FIELD_BY_KEY[f"sweep.{which}_log"].param, params[name].log)})
    values = [new.get(item["id"]["name"], no_update) for item in ctx.outputs_list[4]]
    options = [{"label": label, "value": name} for name, label in axis_options(optimizer, schedule).items()]
    return options, x, options, y, values


check_sweep = register_settings_check(
    SWEEP, SweepID.STATUS, SweepID.STORE,
    {"surface": SweepID.PROBLEM, "loss": SweepID.LOSS, "optimizer": SweepID.OPTIMIZER, "schedule": SweepID.SCHEDULE, "sweep.x": SweepID.X,
     "sweep.y": SweepID.Y,
     "sweep.measure": SweepID.MEASURE},
    _request, blocked="Fix the settings marked in red to run the sweep.")


# What the sweep job writes, by name: the map and the status line under it.
SWEPT = {"figure": Output(SweepID.FIGURE, "figure"),
         "text": Output(SweepID.PROGRESS_TEXT, "children", allow_duplicate=True)}


@callback(
    SWEPT,
    Input(SweepID.STORE, "data"),
    Input(SweepID.RUN, "n_clicks"),
    **job_callback(JobIDs(SweepID.RUN, SweepID.CANCEL, SweepID.PROGRESS, SweepID.PROGRESS_TEXT), SWEPT, "text"),
    prevent_initial_call="initial_duplicate",
)
def sweep(set_progress, request, _clicks):
    """Run the requested sweep on the batched engine, with progress; cached on its spec."""
    state = request.get("state") if isinstance(request, dict) else None  # a request without settings is not a default sweep
    checked = check_state(state, SWEEP_PAGE) if isinstance(state, dict) else None
    if checked is None or not checked.ok:
        return updates(SWEPT, text="No sweep: " + ("; ".join(checked.blocking.values()) if checked
                                                 else "the settings need fixing."))
    spec = checked.specs["sweep"]
    set_progress(("0", str(spec.run.steps), f"{spec.runs:,} runs × {spec.run.steps} steps"))

    def report(done: int, total: int) -> None:
        set_progress((str(done), str(total), f"{spec.runs:,} runs × {spec.run.steps} steps: step {done}"))

    result = cached(run_sweep, spec, progress=report)
    state = checked.state
    stability = sweep_stability(spec)
    figure = make_sweep_figure(result, spec.x.name, spec.y.name, spec.x.log, spec.y.log,
                               state["sweep.log_colour"], stability)
    diverged = int((result.diverged_at >= 0).sum())
    surface = spec.run.surface
    where = ("MSE" if not surface.on else f"the {surface.title} surface" if SURFACES[surface.name].constant_hessian
             else f"the {surface.title} surface's minimum nearest the start (a minimum past it cannot hold a run)")
    theory = ("" if stability is None else
              f" Dashed: where full-batch SGD on {where} turns unstable in theory (lr·λmax = 2(1 + μ)/(1 − τ), "
              f"Nesterov 2(1 + μ)/(1 + 2μ); λmax = {sweep_sharpness(spec):.4g}).")
    row = OPTIMIZERS[spec.run.optimizer.name]
    looped = (f" {row.title} has no batched form: torch's own loop ran each run, at most "
              f"{LOOP_MAX_RUN_STEPS:,} run-steps." if not row.batched else "")
    return updates(SWEPT, figure=figure,
                   text=f"{spec.runs:,} runs × {spec.run.steps} steps done; {diverged:,} diverged.{theory}{looped}")


@callback(
    Output(SweepID.NAV, "data"),
    Input(SweepID.FIGURE, "clickData"),
    State(SweepID.STORE, "data"),
    prevent_initial_call=True,
)
def open_run(click, request):
    """Clicking a cell opens its run in the toy lab, at the values the cell's hover shows."""
    point = clicked_point(click)
    if point is None or not isinstance(request, dict) or not isinstance(request.get("state"), dict):
        return no_update
    state, (x, y) = dict(request["state"]), (shown_value(v) for v in point)
    state.update({axis_key(state, str(state.get("sweep.x"))): x, axis_key(state, str(state.get("sweep.y"))): y,
                  "tab": "single", "step": None})
    checked = check_state(state, SWEEP_PAGE)
    if not checked.ok:
        return no_update
    return dash.get_relative_path("/") + to_query(checked.state)  # the toy lab, under the app's path


clientside_callback(URL_SYNC_JS, Output(SweepID.LINK, "value"), Input(SweepID.STORE, "data"))
clientside_callback(  # a full page load of the toy lab, whose layout reads the run from the URL
    """function(href) {
        const root = JSON.parse(document.getElementById("_dash-config").textContent).requests_pathname_prefix;
        if (typeof href === "string" && href.startsWith(root + "?")) { window.location.assign(href); }
        return window.dash_clientside.no_update;
    }""",
    Output(SweepID.NAV_SINK, "title"),
    Input(SweepID.NAV, "data"),
    prevent_initial_call=True,
)
