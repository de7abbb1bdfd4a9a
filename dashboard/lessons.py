"""Lessons: an ordered list of steps, each a view of a page with a few sentences, read from a YAML
file (``lessons/*.yaml``, or one a person opens) and checked on load.

The format (lessons/README.md has it with an example)::

    title: Why momentum works            # required
    about: One or two sentences.          # optional
    steps:                                # 1 to MAX_STEPS
      - title: A narrow valley            # required
        view: /?data.x_offset=3&sgd.lr=0.09   # a page and its settings, as a link holds them
        text: What the view shows.        # required (Markdown)
        try: What to change.              # optional
        notice: What to look for.         # optional
        claims:                           # optional: facts about the numbers, checked (dashboard/claims.py)
          - {measure: final_loss, above: 0.55}

A file is checked whole before anything of it is used: an unknown field, page or setting, a value out
of range, a claim that names no measure: one sentence naming the step, never a crash. YAML is read with
the safe loader, without aliases, within MAX_BYTES: a file cannot run code or grow in memory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import yaml

from compute import InvalidSpec
from dashboard.claims import LessonError, check_claim, check_references
from dashboard.state import LESSON_KEY, PAGE_OF_PATH, PAGES, PATHS, check_state

HERE = Path(__file__).resolve().parent
# lessons/ beside app.py in a checkout; installed, the package's copy of it (pyproject.toml)
FOLDER = HERE.parent / "lessons" if (HERE.parent / "lessons").is_dir() else HERE / "lesson_files"
MAX_BYTES = 64_000  # a lesson file, read or opened
MAX_STEPS = 40
MAX_TEXT = 2_000  # characters of one field
MAX_CLAIMS = 12  # per step
KEY = LESSON_KEY  # the address's lesson and step: ?lesson=momentum.3 (1-based)
OPENED = "file"  # the key of a lesson a person opened from a file (kept in their browser)
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
STEP_FIELDS = {"title": True, "view": True, "text": True, "try": False, "notice": False, "claims": False}
LESSON_FIELDS = {"title": True, "about": False, "steps": True}


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    page: str  # a key of dashboard.state.PAGES
    query: tuple[tuple[str, str], ...]  # the view's settings, as the author wrote them (checked)
    text: str
    try_: str = ""
    notice: str = ""
    claims: tuple[dict[str, Any], ...] = ()

    @property
    def path(self) -> str:
        return PATHS[self.page]

    def view(self) -> str:
        """The step's address within the app: the page's path and the settings' query."""
        return self.path + ("?" + urlencode(self.query) if self.query else "")

    def state(self) -> dict[str, Any]:
        """Every setting of the page as the step's view has it (the rest at their defaults)."""
        return check_state(dict(self.query), self.page).state


@dataclass(frozen=True, slots=True)
class Lesson:
    key: str
    title: str
    about: str
    steps: tuple[Step, ...]

    def to_dict(self) -> dict[str, Any]:
        """The lesson as its file says it (``parse`` reads it back): for a download or a browser's store."""
        def step(s: Step) -> dict[str, Any]:
            out: dict[str, Any] = {"title": s.title, "view": s.view(), "text": s.text}
            out.update({k: v for k, v in (("try", s.try_), ("notice", s.notice)) if v})
            if s.claims:
                out["claims"] = [dict(c) for c in s.claims]
            return out

        return {"title": self.title, **({"about": self.about} if self.about else {}),
                "steps": [step(s) for s in self.steps]}


class _Loader(yaml.SafeLoader):
    """The safe loader without aliases: a file of references to references (a "billion laughs")
    cannot grow into more than its bytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise LessonError("a lesson file may not use YAML aliases (*name): write each value out")
        return super().compose_node(parent, index)


def read_yaml(text: str | bytes) -> Any:
    """A YAML document, safely: at most MAX_BYTES, no aliases, no tags that build objects."""
    if len(text) > MAX_BYTES:
        raise LessonError(f"a lesson file is at most {MAX_BYTES // 1000} KB (this one is {len(text) // 1000:,} KB)")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise LessonError("a lesson file is UTF-8 text (YAML); this one is not") from None
    try:
        return yaml.load(text, Loader=_Loader)
    except LessonError:
        raise
    except RecursionError:
        raise LessonError("the lesson file nests too deeply to be a lesson") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None)
        raise LessonError(f"the lesson file is not valid YAML{where}" + (f": {problem}" if problem else "")) from None


def _text(value: Any, where: str, name: str, required: bool) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise LessonError(f"{where}: {name} must be text" + (" (it is required)" if required and not value else ""))
    if len(value) > MAX_TEXT:
        raise LessonError(f"{where}: {name} is longer than {MAX_TEXT:,} characters")
    return value.strip()


def _fields(mapping: Any, known: dict[str, bool], where: str) -> None:
    if not isinstance(mapping, dict):
        raise LessonError(f"{where} must be a mapping of {', '.join(known)}")
    unknown = [k for k in mapping if k not in known]
    if unknown:
        raise LessonError(f"{where}: unknown field {str(unknown[0])!r:.40} (it may have {', '.join(known)})")
    missing = [k for k, required in known.items() if required and k not in mapping]
    if missing:
        raise LessonError(f"{where}: {missing[0]} is missing")


def parse_view(view: Any, where: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A step's view: a page's path and its query, every setting known and in range."""
    if not isinstance(view, str) or not view.startswith("/") or len(view) > MAX_TEXT:
        raise LessonError(f"{where}: view must be a page's address, such as /compare?loss=huber")
    parts = urlsplit(view)
    page = PAGE_OF_PATH.get(parts.path)
    if parts.netloc or parts.scheme:
        raise LessonError(f"{where}: view must be a page's address on this site, such as /compare?loss=huber")
    if page is None or parts.fragment:
        raise LessonError(f"{where}: view {parts.path!r:.40} is no page; the pages are {', '.join(PATHS.values())}")
    query = tuple((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != KEY)
    raw: dict[str, Any] = {}
    for key, value in query:
        if key in raw:
            raise LessonError(f"{where}: {key} is set twice in the view")
        try:
            raw[key] = PAGES[page].check_value(key, value)
        except InvalidSpec as err:  # "lr must be …" names the setting as the link does: "sgd.lr must be …"
            name = key.rsplit(".", 1)[-1]
            said = key + err.message[len(name):] if err.message.startswith(name + " ") else err.message
            raise LessonError(f"{where}: {said}") from None
    checked = check_state(raw, page)
    if checked.errors:
        key, message = next(iter(checked.errors.items()))
        raise LessonError(f"{where}: {message}" if key in message else f"{where}: {key}: {message}")
    return page, query


def parse(document: Any, key: str) -> Lesson:
    """A lesson from its YAML document (``read_yaml``), checked whole, or LessonError."""
    _fields(document, LESSON_FIELDS, "the lesson")
    title = _text(document.get("title"), "the lesson", "title", True)
    about = _text(document.get("about"), "the lesson", "about", False)
    steps = document.get("steps")
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise LessonError(f"the lesson: steps must be a list of 1 to {MAX_STEPS} steps")
    parsed = []
    for i, raw in enumerate(steps, 1):
        where = f"step {i}"
        _fields(raw, STEP_FIELDS, where)
        step_title = _text(raw.get("title"), where, "title", True)
        where = f"step {i} (“{step_title[:40]}”)"
        page, query = parse_view(raw.get("view"), where)
        claims = raw.get("claims") or []
        if not isinstance(claims, list) or len(claims) > MAX_CLAIMS:
            raise LessonError(f"{where}: claims must be a list of at most {MAX_CLAIMS}")
        checked = tuple(check_claim(claim, page, len(steps), f"{where}, claim {n}") for n, claim in enumerate(claims, 1))
        parsed.append(Step(step_title, page, query, _text(raw.get("text"), where, "text", True),
                           _text(raw.get("try"), where, "try", False), _text(raw.get("notice"), where, "notice", False),
                           checked))
    pages = [s.page for s in parsed]
    for i, s in enumerate(parsed, 1):
        check_references(s.claims, pages, f"step {i} (“{s.title[:40]}”)")
    return Lesson(key, title, about, tuple(parsed))


def shared(document: Any) -> dict[str, Any]:
    """A lesson a presenter shares with a room (the document of their opened file, as JSON), checked
    as a file is: the document as its file says it, or LessonError."""
    if len(json.dumps(document, default=str)) > 2 * MAX_BYTES:
        raise LessonError(f"a lesson is at most {MAX_BYTES // 1000} KB as a file")
    return parse(document, OPENED).to_dict()


def load_text(text: str | bytes, key: str = OPENED) -> Lesson:
    """A lesson from a file's text, checked: what opening a file does."""
    return parse(read_yaml(text), key)


@cache
def built_in() -> dict[str, Lesson]:
    """The lessons shipped in lessons/, by file name (``momentum.yaml`` is ``momentum``), in name order;
    read and checked once per process (a broken one is a bug: the suite checks every file)."""
    lessons = {}
    for path in sorted(FOLDER.glob("*.yaml")):
        if _NAME.fullmatch(path.stem):
            lessons[path.stem] = load_text(path.read_bytes(), path.stem)
    return lessons


def opened_view(query: dict[str, Any], page: str) -> dict[str, Any]:
    """A page's query, or, when it names a built-in lesson's step on this page and nothing else (a
    link such as /?lesson=2-momentum.2), that step's view: the settings the step's text is about."""
    if set(query) - {KEY, "step"}:
        return query
    where = position(query.get(KEY))
    lesson = built_in().get(where[0]) if where else None
    if lesson is None:
        return query
    step = lesson.steps[min(where[1], len(lesson.steps)) - 1]
    return {**dict(step.query), **query} if step.page == page else query


def position(value: Any) -> tuple[str, int] | None:
    """The lesson and 1-based step of an address's ``lesson=NAME.K``, or None."""
    if not isinstance(value, str):
        return None
    name, _, number = value.rpartition(".")
    if not _NAME.fullmatch(name) or not number.isdigit() or not 1 <= int(number) <= 9999:
        return None
    return name, min(int(number), MAX_STEPS)  # past the lesson's end: its last step
