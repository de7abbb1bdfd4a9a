"""Sidebar panels shared by the pages: each built from the registries and parameter tables."""

from __future__ import annotations

from typing import Any

from dash import ALL, Input, Output, callback, ctx, dcc, html

from compute import LOSSES, OPTIMIZERS
from dashboard.controls import group_controls
from dashboard.ids import optimizer_group_id

URL_SYNC_JS = """
function(view, step) {
    if (!view || typeof view.query !== "string") { return window.dash_clientside.no_update; }
    const params = new URLSearchParams(view.query.slice(1));
    if (step !== null && step !== undefined) { params.set("step", step); }
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


def graph(component_id: str, height: str) -> dcc.Graph:
    """A figure of a page, with the one modebar configuration."""
    return dcc.Graph(id=component_id, config=GRAPH_CONFIG, style={"height": height})


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


def loss_section(state: dict[str, Any], page: str, dropdown_id: str) -> html.Details:
    return section("Loss (torch.nn)", [
        dcc.Dropdown(id=dropdown_id, value=state["loss"], clearable=False,
                     options=[{"label": row.title, "value": key} for key, row in LOSSES.items()]),
        *[c for key, row in LOSSES.items() for c in group_controls(key, state, row.title, page)],
    ])


def optimizer_section(state: dict[str, Any], page: str, dropdown_id: str, hint: str | None = None) -> html.Details:
    """The optimizer choice and each optimizer's controls, only the chosen one's shown."""
    return section("Optimizer (torch.optim)", [
        dcc.Dropdown(id=dropdown_id, value=state["optimizer"], clearable=False,
                     options=[{"label": row.title, "value": key} for key, row in OPTIMIZERS.items()]),
        *[html.Div(group_controls(key, state, page=page), id=optimizer_group_id(key, page),
                   style=shown_if(key == state["optimizer"])) for key in OPTIMIZERS],
    ], hint)


def training_section(state: dict[str, Any], page: str, hint: str | None = None) -> html.Details:
    return section("Training", group_controls("run", state, page=page), hint)


def data_section(state: dict[str, Any], page: str) -> html.Details:
    return section("Data", group_controls("data", state, page=page),
                   "y = 0.75x² + x + 2 + noise·ε, drawn with numpy's seed; for BCEWithLogitsLoss, "
                   "two classes: y = 1 where x + 0.5 + noise·ε > 0.")


def register_optimizer_switch(page: str, dropdown_id: str) -> None:
    """Show only the chosen optimizer's controls on ``page``."""

    @callback(Output(optimizer_group_id(ALL, page), "style"), Input(dropdown_id, "value"))
    def show_optimizer(optimizer):
        return [shown_if(item["id"]["key"] == optimizer) for item in ctx.outputs_list]

    return show_optimizer


def view_header(notes: list[str], note_id: str, link_id: str, status_id: str) -> list:
    """What tops every page's view: what the link could not use, the link itself, the status line."""
    return [
        html.Div("Ignored from the link: " + "; ".join(notes) if notes else "", id=note_id,
                 className="query-note" if notes else ""),
        html.Div([html.Span("Link to this view", className="share-label"),
                  dcc.Input(id=link_id, type="text", readOnly=True, className="share-link"),
                  dcc.Clipboard(target_id=link_id, title="copy link", className="copy")], className="share"),
        html.Div(id=status_id, className="status"),
    ]


def progress_row(bar_id: str, text_id: str) -> html.Div:
    """A progress bar and its line of text, fed by a background callback's ``progress``."""
    return html.Div([html.Progress(id=bar_id, value="0", max="1"), html.Span(id=text_id, className="progress-text")],
                    className="progress-row")
