"""Compare: up to four runs (any optimizer, any settings) over one loss map and one loss curve."""

from __future__ import annotations

from typing import Any

import dash
from dash import (
    ALL,
    MATCH,
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
    InvalidSpec,
    RunSpec,
    loss_grid,
    run_trajectories,
    run_trajectory,
)
from compute.surfaces import NONE
from dashboard.cache import cached, cached_each
from dashboard.carry import carry_query
from dashboard.controls import (
    CHECKED,
    error_messages,
    group_controls,
    log_checklist,
    param_control,
    settings_from_controls,
)
from dashboard.figures import (
    RUN_COLOURS,
    make_compare_map_figure,
    make_compare_surface_figure,
    make_coordinates_figure,
    make_curve_figure,
    make_fit_figure,
    not_a_map,
    playback_data,
    trace_update,
    traces_only,
)
from dashboard.ids import (
    COMPARE,
    ID,
    TOY,
    CompareID,
    optimizer_group_id,
    param_id,
    param_msg_id,
    run_part_id,
    shown_messages_id,
    to_toy_id,
)
from dashboard.lessons import opened_view
from dashboard.outputs import matched, updates
from dashboard.panels import (
    GROUP_FULL,
    GROUP_LIGHT,
    URL_SYNC_JS,
    PlaybackIDs,
    PreviewIDs,
    completed,
    data_section,
    graph,
    loss_section,
    neuron_only,
    playback_controls,
    preview_parts,
    problem_section,
    register_follow,
    register_playback,
    register_preview,
    register_schedule_switch,
    register_surface_switch,
    schedule_section,
    section,
    shown_if,
    training_section,
    view_header,
)
from dashboard.state import (
    COUNT,
    MAX_RUNS,
    OPTIMIZERS,
    PATHS,
    Checked,
    check_state,
    check_value,
    from_query,
    to_query,
)
from dashboard.toyview import fit_data, shown_title

RUN_PREFIXES = {f"r{i}" for i in range(MAX_RUNS)}
dash.register_page(__name__, path=PATHS[COMPARE], name="Compare", title="Descent Lab · compare")


def run_label(i: int, state: dict[str, Any]) -> str:
    """"1 · SGD lr=0.1 momentum=0.9": the run's optimizer and what differs from torch's defaults."""
    key = state[f"r{i}.optimizer"]
    row = OPTIMIZERS[key]
    changed = [f"{p.shown}={state[f'r{i}.{key}.{p.name}']:g}" if p.kind is not bool else p.name
               for p in row.params
               if p.name == "lr" or state[f"r{i}.{key}.{p.name}"] != p.default]
    return f"{i + 1} · {row.title} " + " ".join(changed)


def toy_href(state: dict[str, Any], i: int) -> str:
    """The toy lab's address with run ``i``'s settings (a run not compared now: the toy lab's own)."""
    if i >= state[COUNT.key]:
        return dash.get_relative_path(PATHS[TOY])
    return dash.get_relative_path(PATHS[TOY]) + carry_query({**state, "step": None}, COMPARE, i)


def _card_group(i: int, key: str, values: dict[str, Any], full: bool) -> list:
    """Run ``i``'s controls of optimizer ``key`` (``values``: by the setting's name); sliders when ``full``."""
    return [param_control(key, p, values.get(p.name, p.default), COMPARE, i, slider=full) for p in OPTIMIZERS[key].params]


def _run_card(i: int, state: dict[str, Any]) -> html.Div:
    chosen = state[f"r{i}.optimizer"]
    # only the chosen optimizer's controls: four cards of every optimizer's made Dash's every update
    # slow (a duplicate took 20 s, its pattern-matched State over some 900 controls); the others are
    # built when chosen (show_run_optimizer) or when a run is copied in (edit_runs)
    groups = [html.Div(_card_group(i, key, {p.name: state[f"r{i}.{key}.{p.name}"] for p in row.params}, True)
                       if key == chosen else [],
                       id=optimizer_group_id(key, COMPARE, i), className=GROUP_FULL if key == chosen else GROUP_LIGHT,
                       style=shown_if(key == chosen))
              for key, row in OPTIMIZERS.items()]
    return html.Div(
        [
            html.Div([html.Span(f"run {i + 1}", className="run-name",
                                style={"borderLeft": f"6px solid {RUN_COLOURS[i]}"}),
                      html.Button("duplicate", id=run_part_id("duplicate", i), n_clicks=0, className="small"),
                      html.Button("remove", id=run_part_id("remove", i), n_clicks=0, className="small")],
                     className="run-head"),
            dcc.Link("open in the toy lab", id=to_toy_id(i), href=toy_href(state, i), className="run-toy",
                     title="the toy lab with this run's optimizer and the shared settings"),
            dcc.Dropdown(id=run_part_id("optimizer", i), value=chosen, clearable=False,
                         options=[{"label": row.title, "value": key} for key, row in OPTIMIZERS.items()]),
            *groups,
        ],
        id=run_part_id("card", i), className="run-card", style=shown_if(i < state[COUNT.key]),
    )


def _query(state: dict[str, Any]) -> str:
    """The link: shared settings and each active run's chosen optimizer (no unused runs)."""
    active = {f"r{i}": state[f"r{i}.optimizer"] for i in range(state[COUNT.key])}

    def travels(key: str) -> bool:
        run, _, rest = key.partition(".")
        if run not in RUN_PREFIXES:
            return True  # a shared setting
        return run in active and (rest == "optimizer" or rest.split(".")[0] == active[run])

    return to_query({**{k: v for k, v in state.items() if travels(k)}, "step": None}, COMPARE)


PLAYBACK = PlaybackIDs(CompareID.PLAY, CompareID.SPEED, CompareID.STEP, CompareID.STEP_TEXT, CompareID.TICKER,
                       CompareID.STORE)
PREVIEW = PreviewIDs(CompareID.ENGINE, CompareID.PREVIEW_WANT, CompareID.PREVIEW, CompareID.STORE)


def _steps(state: dict[str, Any]) -> int:
    """The runs' optimizer steps (they share the loop; a valid state: from_query checked it)."""
    return max(spec.steps for spec in check_state(state, COMPARE).specs["runs"])


def layout(**query: Any) -> html.Div:
    """The page, with its runs and settings from the URL's query string."""
    state, notes = from_query(opened_view(query, COMPARE), COMPARE)
    controls = html.Aside(
        [
            section("Runs", [*[_run_card(i, state) for i in range(MAX_RUNS)],
                             html.Div(_runs_note(state[COUNT.key]), id=CompareID.RUNS_NOTE, className="hint"),
                             dcc.Store(id=CompareID.COUNT, data=state[COUNT.key])],
                    "Up to four runs share the loss, data, start and loop; each has its own optimizer. "
                    "Duplicate a run, then tweak the copy."),
            problem_section(state, COMPARE, CompareID.PROBLEM),
            neuron_only("loss", COMPARE, state, loss_section(state, COMPARE, CompareID.LOSS)),
            schedule_section(state, COMPARE, CompareID.SCHEDULE),
            training_section(state, COMPARE),
            neuron_only("data", COMPARE, state, data_section(state, COMPARE)),
            section("Loss map", [
                *group_controls("grid", state, page=COMPARE),
                log_checklist(CompareID.LOG, state["log"]),
            ]),
        ],
        className="controls",
    )
    main = html.Main(
        [
            *view_header(notes, CompareID.QUERY_NOTE, CompareID.LINK, CompareID.STATUS, COMPARE),
            html.Div([*playback_controls(PLAYBACK, _steps(state), state["step"]), *preview_parts(PREVIEW, COMPARE)],
                     className="playback"),
            html.Div([html.Div([graph(CompareID.MAP, "460px"), graph(CompareID.SURFACE, "460px")], className="row"),
                      html.Div([graph(CompareID.CURVE, "340px"), graph(CompareID.FIT, "340px")], className="row")],
                     className="deck"),  # presenting, a key flips the rows (assets/descent.js)
            dcc.Store(id=CompareID.STORE),
            dcc.Store(id=CompareID.TRACES),
            dcc.Store(id=CompareID.TRACES_DRAWN),
            dcc.Store(id=shown_messages_id(COMPARE), data=[]),
        ],
        className="view",
    )
    return html.Div([controls, main], className="toy-lab")


@callback(
    Output(optimizer_group_id(ALL, COMPARE, MATCH), "style"),
    Output(optimizer_group_id(ALL, COMPARE, MATCH), "children"),
    Output(optimizer_group_id(ALL, COMPARE, MATCH), "className"),
    Input(run_part_id("optimizer", MATCH), "value"),
    State(optimizer_group_id(ALL, COMPARE, MATCH), "className"),
    State(param_id(ALL, ALL, COMPARE, MATCH), "value"),
)
def show_run_optimizer(optimizer, classes, values):
    """Each run card shows its chosen optimizer's controls only (built when first chosen; a copied
    run's are built by edit_runs)."""
    run = ctx.outputs_list[0][0]["id"]["run"] if ctx.outputs_list and ctx.outputs_list[0] else 0
    return completed(COMPARE, optimizer, classes, values, lambda key, state: _card_group(
        run, key, {p.name: state[f"{key}.{p.name}"] for p in OPTIMIZERS[key].params}, True))


FULL = f"{MAX_RUNS} runs, the most a comparison holds: remove one to duplicate another."


def _runs_note(count: int) -> str:
    return FULL if count >= MAX_RUNS else ""


@callback(
    Output(run_part_id("card", ALL), "style"),
    Output(run_part_id("duplicate", ALL), "disabled"),
    Output(run_part_id("duplicate", ALL), "title"),
    Output(CompareID.RUNS_NOTE, "children"),
    Input(CompareID.COUNT, "data"),
)
def show_cards(count):
    """The runs in use; at the most runs, duplicate is off and says why (it did nothing, silently)."""
    count = count if isinstance(count, int) and 1 <= count <= MAX_RUNS else COUNT.param.default
    full = count >= MAX_RUNS
    runs = [item["id"]["run"] for item in ctx.outputs_list[0]]
    return ([shown_if(run < count) for run in runs], [full] * len(runs),
            [FULL if full else "a copy of this run in the next slot, to tweak"] * len(runs), _runs_note(count))


@callback(
    Output(optimizer_group_id(ALL, COMPARE, ALL), "children", allow_duplicate=True),
    Output(optimizer_group_id(ALL, COMPARE, ALL), "className", allow_duplicate=True),
    Output(run_part_id("optimizer", ALL), "value"),
    Output(CompareID.COUNT, "data"),
    Input(run_part_id("duplicate", ALL), "n_clicks"),
    Input(run_part_id("remove", ALL), "n_clicks"),
    State(param_id(ALL, ALL, COMPARE, ALL), "value"),
    State(run_part_id("optimizer", ALL), "value"),
    State(CompareID.COUNT, "data"),
    prevent_initial_call=True,
)
def edit_runs(_dup, _remove, values, optimizers, count):
    """Duplicate a run into the next free slot, or remove one and move the later ones up: each card's
    chosen optimizer's controls built again with its run's values (the others empty)."""
    trigger = ctx.triggered_id if isinstance(ctx.triggered_id, dict) else {}
    run, part = trigger.get("run"), trigger.get("type")
    items = ctx.states_list[0]
    groups = ctx.outputs_list[0] if ctx.outputs_list else []
    unchanged = [no_update] * len(groups), [no_update] * len(groups), [no_update] * MAX_RUNS, no_update
    if not isinstance(count, int) or not isinstance(run, int) or not 0 <= run < MAX_RUNS:
        return unchanged
    settings = settings_from_controls(items, values)
    runs = [({k.split(".", 1)[1]: v for k, v in settings.items() if k.startswith(f"r{i}.")},
             optimizers[i] if i < len(optimizers) else "sgd") for i in range(MAX_RUNS)]
    if part == "run-duplicate" and count < MAX_RUNS:
        runs[count] = runs[run]
        count += 1
    elif part == "run-remove" and count > 1 and run < count:
        del runs[run]
        runs.append(({}, "sgd"))
        count -= 1
    else:
        return unchanged
    children, classes = [], []
    for item in groups:
        key, i = item["id"]["key"], item["id"]["run"]
        values, chosen = runs[i]
        if key == chosen and key in OPTIMIZERS:
            own = {p.name: values.get(f"{key}.{p.name}", p.default) for p in OPTIMIZERS[key].params}
            children.append(_card_group(i, key, own, True))
            classes.append(GROUP_FULL)
        else:
            children.append([])
            classes.append(GROUP_LIGHT)
    return children, classes, [optimizer for _, optimizer in runs], count


# What the render callback writes, by name (it returns a dict of them).
RENDER_OUTPUTS = {
    "shared_messages": Output(param_msg_id(ALL, ALL, COMPARE), "children"),
    "run_messages": Output(param_msg_id(ALL, ALL, COMPARE, ALL), "children"),
    "status": Output(CompareID.STATUS, "children"),
    "map": Output(CompareID.MAP, "figure"),
    "surface": Output(CompareID.SURFACE, "figure"),
    "curve": Output(CompareID.CURVE, "figure"),
    "fit": Output(CompareID.FIT, "figure"),
    "view": Output(CompareID.STORE, "data"),
    "traces": Output(CompareID.TRACES, "data"),
    "step_max": Output(CompareID.STEP, "max"),
    "step": Output(CompareID.STEP, "value"),
    "shown": Output(shown_messages_id(COMPARE), "data"),
    **{f"to_toy_{i}": Output(to_toy_id(i), "href") for i in range(MAX_RUNS)},
}


@callback(
    RENDER_OUTPUTS,
    Input(param_id(ALL, ALL, COMPARE), "value"),
    Input(param_id(ALL, ALL, COMPARE, ALL), "value"),
    Input(run_part_id("optimizer", ALL), "value"),
    Input(CompareID.COUNT, "data"),
    Input(CompareID.LOSS, "value"),
    Input(CompareID.SCHEDULE, "value"),
    Input(CompareID.LOG, "value"),
    State(CompareID.PROBLEM, "value"),  # read: choosing one sets the start, which renders (as the toy lab)
    State(CompareID.STEP, "value"),
    State(CompareID.STORE, "data"),
    State(shown_messages_id(COMPARE), "data"),
)
def render(shared, per_run, optimizers, count, loss, schedule, log, surface, step, drawn, shown):
    """Check every setting, run each compared run (cached), draw them on one map.

    When the map on screen is the one this view needs (``drawn``) and the runs are as many, only
    the runs' traces are sent: into the map on screen (the trace store), as a patch of the surface."""
    raw = settings_from_controls(ctx.inputs_list[0], shared)
    raw.update(settings_from_controls(ctx.inputs_list[1], per_run))
    for item, optimizer in zip(ctx.inputs_list[2], optimizers if isinstance(optimizers, list) else []):
        raw[f"r{item['id']['run']}.optimizer"] = optimizer
    raw.update({COUNT.key: count, "surface": surface, "loss": loss, "schedule": schedule,
                "log": isinstance(log, list) and CHECKED in log})
    checked = check_state(raw, COMPARE)
    shared_msgs, run_msgs, status, now_shown = error_messages(
        checked, matched("shared_messages"), matched("run_messages"), shown=shown,
        blocked="Nothing was recomputed: fix the settings marked in red.")
    messages = {"shared_messages": shared_msgs, "run_messages": run_msgs, "shown": now_shown}
    if not checked.ok:
        return updates(RENDER_OUTPUTS, status=status, **messages)
    state = checked.state
    specs = checked.specs["runs"]
    runs = {run_label(i, state): traj
            for i, traj in enumerate(cached_each(run_trajectory, run_trajectories, list(specs)))}
    grid = cached(loss_grid, checked.specs[state["loss"]][1])
    title = shown_title(state, state["loss"])
    x, y, problem, feature = fit_data(state)
    on_surface = state["surface"] != NONE
    status = [html.Div(f"{name}: diverged at step {traj.diverged_at}; its path stops at step "
                       f"{traj.diverged_at - 1}.", className="diverged")
              for name, traj in runs.items() if traj.diverged_at is not None]
    maps = "|".join([checked.specs[state["loss"]][1].cache_key(), str(state["log"]), str(len(runs))])
    same_maps = ctx.triggered_id is not None and isinstance(drawn, dict) and drawn.get("maps") == maps

    last = max(traj.finite_steps for traj in runs.values()) - 1
    try:  # a link's step on the first load (the playback step is cosmetic: a bad one means the end)
        wanted = check_value("step", step, COMPARE) if ctx.triggered_id is None else None
    except InvalidSpec:
        wanted = None
    shown_step = min(wanted, last) if wanted is not None else last
    map_figure = make_compare_map_figure(grid, runs, title, state["log"], shown_step)
    surface = make_compare_surface_figure(grid, runs, title, state["log"])
    moved = {"figure": CompareID.MAP, **trace_update(map_figure, not_a_map)} if same_maps else no_update
    # (a surface's fit slot holds its coordinates per step, drawn whole: no fitted line to move)
    roles = {"map": CompareID.MAP, "curve": CompareID.CURVE, **({} if on_surface else {"fit": CompareID.FIT})}
    play = playback_data(runs, x, shown_step, state["log"], False, roles, problem, compare=True, surface=on_surface)
    fit = make_coordinates_figure(runs) if on_surface else make_fit_figure(x, y, runs, shown_step, problem, feature)
    return updates(RENDER_OUTPUTS, status=status, map=no_update if same_maps else map_figure,
                   surface=traces_only(surface, not_a_map) if same_maps else surface,
                   curve=make_curve_figure(runs, shown_step), fit=fit,
                   view={"state": state, "query": _query(state), "maps": maps, "play": play}, traces=moved,
                   step_max=max(last, 1), step=shown_step, **messages,
                   **{f"to_toy_{i}": toy_href(state, i) for i in range(MAX_RUNS)})


register_playback(PLAYBACK)
register_schedule_switch(COMPARE, CompareID.SCHEDULE)
register_surface_switch(COMPARE, CompareID.PROBLEM, log_id=CompareID.LOG)


def _preview_runs(key: str, checked: Checked) -> dict[int, tuple[RunSpec, str]]:
    """A grabbed slider of a run's card moves that run only: one preview a drag, whatever the number
    of runs. A shared setting moves every run (or the map): no preview."""
    run, _, rest = key.partition(".")
    if run not in RUN_PREFIXES:
        return {}
    i, state = int(run[1:]), checked.state
    if i >= state[COUNT.key]:
        raise InvalidSpec(f"run {i + 1} is not on screen (the comparison has {state[COUNT.key]})", "preview")
    group, _, name = rest.partition(".")
    if group != state[f"{run}.optimizer"]:
        raise InvalidSpec(f"run {i + 1} runs {OPTIMIZERS[state[f'{run}.optimizer']].title}, not {group!r:.40}",
                          "preview")
    return {i: (checked.specs["runs"][i], name)}


# Dragging a run's slider draws that run's preview, as on the toy lab (assets/descent.js).
preview = register_preview(PREVIEW, COMPARE, _preview_runs)
follow = register_follow(COMPARE, CompareID.LOSS)


clientside_callback(  # a view drawn: the banner of an earlier failure goes (dashboard/errors.py)
    "function(view) { return ''; }",
    Output(ID.ERROR, "children", allow_duplicate=True),
    Input(CompareID.STORE, "data"),
    prevent_initial_call=True,
)


clientside_callback(  # a new path over the map on screen: the map is not sent again
    ClientsideFunction("descent", "newPaths"),
    Output(CompareID.TRACES_DRAWN, "data"),
    Input(CompareID.TRACES, "data"),
    prevent_initial_call=True,
)


clientside_callback(URL_SYNC_JS, Output(CompareID.LINK, "value"), Input(CompareID.STORE, "data"),
                    Input(CompareID.STEP, "value"))
