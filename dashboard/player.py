"""The lesson player, on every page: the top bar's list of lessons, and the bar of the lesson's
step (its text, step k of n, ◀ ▶; the arrow keys, assets/descent.js).

Where a lesson stands lives in the address (``?lesson=momentum.3``), beside the step's view: a link
opens a lesson at its step, the browser's back button steps back, and a room's followers follow the
presenter's step as they follow any address (assets/room.js), so one who broke away and rejoins is at
the presenter's step. A lesson opened from a file stays in its reader's browser (``LESSON_OPENED``);
the server checks it again each time it is shown.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import parse_qsl, urlencode

import dash
from dash import (
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

from dashboard.ids import ID
from dashboard.lessons import (
    KEY,
    MAX_BYTES,
    OPENED,
    Lesson,
    LessonError,
    built_in,
    load_text,
    parse,
    position,
)

DRAFT = "title: My lesson\nabout: What it is about.\nsteps:\n"  # the writer's start: steps are added below


def step_href(lesson: Lesson, number: int) -> str:
    """The address of step ``number`` (1-based) of ``lesson``: its view, and where the lesson stands."""
    step = lesson.steps[number - 1]
    view = step.view()
    return dash.get_relative_path(view + ("&" if "?" in view else "?") + urlencode({KEY: f"{lesson.key}.{number}"}))


def menu() -> html.Details:
    """The top bar's lessons: each built-in one (its first step), and a lesson file to open."""
    entries = [html.Li([dcc.Link(lesson.title, href=step_href(lesson, 1), className="lesson-open"),
                        html.Span(f" · {len(lesson.steps)} steps", className="lesson-size"),
                        html.Div(lesson.about, className="lesson-about") if lesson.about else None])
               for lesson in built_in().values()]
    return html.Details([
        html.Summary("lessons", title="guided tours: each step a view and a few sentences"),
        html.Div([
            html.Ul(entries, className="lesson-list"),
            dcc.Upload(html.Button("Open a lesson file…", title=f"a lesson (YAML, at most {MAX_BYTES // 1000} KB): "
                                                                 "see the README's Lessons"),
                       # the browser's own cap refuses without a word: the server's says why (64 KB)
                       id=ID.LESSON_UPLOAD, accept=".yaml,.yml", max_size=4 * MAX_BYTES, multiple=False),
            html.Div(id=ID.LESSON_NOTE, className="lesson-note", role="status"),
            html.Details([
                html.Summary("Write a lesson"),
                html.P("Set up a view, then add it as a step; write each step's title and text in the file "
                       "below (the format: lessons/README.md), check it by playing it, and download it.",
                       className="hint"),
                html.Button("+ this view as a step", id=ID.LESSON_ADD, n_clicks=0,
                            title="the page and its settings, as the link holds them, as the next step"),
                # kept in this browser as it is typed (assets/descent.js: Dash's own persistence would
                # stop the whole page where a browser refuses storage)
                dcc.Textarea(id=ID.LESSON_DRAFT, value=DRAFT, className="lesson-draft", spellCheck=False,
                             maxLength=MAX_BYTES),
                html.Div([html.Button("Play it", id=ID.LESSON_PLAY, n_clicks=0,
                                      title="check the lesson and open its first step"),
                          html.Button("Download .yaml", id=ID.LESSON_SAVE, n_clicks=0,
                                      title="check the lesson and save it as a file")], className="sweep-buttons"),
                dcc.Download(id=ID.LESSON_FILE),
            ], className="lesson-writer"),
        ], className="lessons-panel"),
    ], id=ID.LESSONS, className="lessons-menu")


def parts() -> list[Any]:
    """What the app's layout holds for the player: the bar, the opened lesson, the address."""
    return [dcc.Location(id=ID.LESSON_LOCATION, refresh="callback-nav"),
            dcc.Store(id=ID.LESSON_OPENED, storage_type="session"),
            html.Div(id=ID.LESSON_BAR, className="lesson-bar", hidden=True)]


def _without_lesson(pathname: str, search: str) -> str:
    query = [(k, v) for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True) if k != KEY]
    return pathname + ("?" + urlencode(query) if query else "")


def find(name: str, opened: Any) -> Lesson | None:
    """A built-in lesson by name, or the one opened from a file (checked again: a browser's store is
    what the browser says)."""
    if name == OPENED:
        try:
            return parse(opened, OPENED) if isinstance(opened, dict) else None
        except LessonError:
            return None
    return built_in().get(name)


def bar(search: Any, pathname: Any, opened: Any) -> tuple[list[Any], bool]:
    """The bar's children, and whether it is hidden (no lesson in the address)."""
    search = search if isinstance(search, str) else ""
    pathname = pathname if isinstance(pathname, str) else "/"
    where = position(dict(parse_qsl(search.lstrip("?"))).get(KEY))
    if where is None:
        return [], True
    name, number = where
    close = dcc.Link("✕ close", href=_without_lesson(pathname, search), className="lesson-close",
                     title="leave the lesson (the view stays)")
    lesson = find(name, opened)
    if lesson is None:
        said = ("The presenter's lesson is a file of their own: its text comes with the room's next look."
                if name == OPENED else f"There is no lesson {name!r}.")
        return [html.Div([html.Span(said, className="lesson-name"), close], className="lesson-head")], False
    number = min(number, len(lesson.steps))
    step = lesson.steps[number - 1]
    elsewhere = "/" + (dash.strip_relative_path(pathname) or "") != step.path  # the step's page is not open
    nav = [dcc.Link("◀ back", href=step_href(lesson, number - 1), className="lesson-prev",
                    title="the step before (←)") if number > 1 else html.Span("◀ back", className="lesson-prev off"),
           dcc.Link("next ▶", href=step_href(lesson, number + 1), className="lesson-next",
                    title="the next step (→)") if number < len(lesson.steps) else html.Span("end", className="lesson-next off")]
    body = [dcc.Markdown(step.text, className="lesson-text")]
    if step.try_:
        body.append(html.P([html.Strong("Try this: "), step.try_], className="lesson-try"))
    if step.notice:
        body.append(html.P([html.Strong("What to notice: "), step.notice], className="lesson-notice"))
    return [
        html.Div([html.Span(lesson.title, className="lesson-name"),
                  html.Span(f"step {number} of {len(lesson.steps)}:", className="lesson-count"),
                  html.H2(step.title, className="lesson-step-title"),
                  *nav,
                  # a full load (a Link to the address Dash last routed would draw nothing new)
                  html.A("↺ open this step's view" if elsewhere else "↺ this step's view", href=step_href(lesson, number),
                         className="lesson-again elsewhere" if elsewhere else "lesson-again",
                         title="the page with this step's settings (again, if you changed them)"),
                  close], className="lesson-head"),
        html.Div(body, className="lesson-body"),
    ], False


@callback(
    Output(ID.LESSON_BAR, "children"),
    Output(ID.LESSON_BAR, "hidden"),
    Input(ID.LESSON_LOCATION, "search"),
    Input(ID.LESSON_LOCATION, "pathname"),
    Input(ID.LESSON_OPENED, "data"),
)
def show_step(search, pathname, opened):
    """The lesson's step the address names, or no bar."""
    return bar(search, pathname, opened)


@callback(
    Output(ID.LESSON_OPENED, "data"),
    Output(ID.LESSON_NOTE, "children"),
    Output(ID.LESSON_LOCATION, "href"),
    Input(ID.LESSON_UPLOAD, "contents"),
    Input(ID.LESSON_PLAY, "n_clicks"),
    State(ID.LESSON_UPLOAD, "filename"),
    State(ID.LESSON_DRAFT, "value"),
    prevent_initial_call=True,
)
def open_file(contents, _play, filename, draft):
    """A lesson file (or the draft being written), read and checked whole; its first step opened.
    What is wrong, in one sentence."""
    playing = ctx.triggered_id == ID.LESSON_PLAY
    name = "the draft" if playing else filename if isinstance(filename, str) else "the file"
    try:
        lesson = load_text(draft if isinstance(draft, str) else "") if playing else load_text(_uploaded(contents))
    except LessonError as err:
        return no_update, f"{name[:60]}: {err.message}", no_update
    steps = f"{len(lesson.steps)} step{'s' if len(lesson.steps) > 1 else ''}"
    return lesson.to_dict(), f"Opened “{lesson.title}”: {steps}.", step_href(lesson, 1)


@callback(
    Output(ID.LESSON_FILE, "data"),
    Output(ID.LESSON_NOTE, "children", allow_duplicate=True),
    Input(ID.LESSON_SAVE, "n_clicks"),
    State(ID.LESSON_DRAFT, "value"),
    prevent_initial_call=True,
)
def save_draft(_clicks, draft):
    """The draft as a file, once it reads as a lesson (as written: the author's comments stay)."""
    try:
        lesson = load_text(draft if isinstance(draft, str) else "")
    except LessonError as err:
        return no_update, f"Not saved: {err.message}"
    name = re.sub(r"[^a-z0-9]+", "-", lesson.title.lower()).strip("-")[:40] or "lesson"
    return dcc.send_string(draft, f"{name}.yaml", type="application/yaml"), f"Saved {name}.yaml: {len(lesson.steps)} steps."


def _uploaded(contents: Any) -> bytes:
    """An upload's bytes (a data: URL, base64), bounded before it is decoded."""
    if not isinstance(contents, str) or "," not in contents:
        raise LessonError("that was not a file")
    encoded = contents.split(",", 1)[1]
    if len(encoded) > (4 * MAX_BYTES * 4) // 3 + 8:
        raise LessonError(f"a lesson file is at most {MAX_BYTES // 1000} KB")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise LessonError("the file could not be read (its upload was damaged)") from None


clientside_callback(  # + this view as a step: the address as it is now, appended to the draft
    ClientsideFunction("descent", "addStep"),
    Output(ID.LESSON_DRAFT, "value"),
    Input(ID.LESSON_ADD, "n_clicks"),
    State(ID.LESSON_DRAFT, "value"),
    prevent_initial_call=True,
)
