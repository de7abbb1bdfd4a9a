"""Lessons: the built-in files load and every step's view opens; their claims hold against compute;
a lesson file is checked whole, each kind of mistake one sentence naming the step; the player."""

import base64
import textwrap

import pytest
import yaml
from dash import no_update

from dashboard import player
from dashboard.claims import MEASURES, evaluate
from dashboard.ids import ID
from dashboard.lessons import MAX_BYTES, MAX_STEPS, OPENED, LessonError, built_in, load_text, position
from dashboard.state import PATHS, from_query

from .conftest import call_callback

GOOD = """
title: A small lesson
about: Two steps.
steps:
  - title: The default
    view: /?sgd.lr=0.1
    text: The toy lab at lr 0.1.
    try: Move lr.
    notice: It converges.
    claims:
      - {measure: diverges, is: false}
      - {measure: final_loss, below: {step: 2}}
  - title: Slower
    view: /compare?compare.runs=1&r0.sgd.lr=0.01&r0.sgd.momentum=0
    text: One run in compare.
    claims:
      - {measure: final_loss, above: 0.6, run: 1}
"""


def test_the_built_in_lessons_are_four_and_every_step_opens_its_view():
    lessons = built_in()
    assert len(lessons) >= 4
    assert [key.split("-", 1)[0] for key in lessons] == [str(i) for i in range(1, len(lessons) + 1)]
    pages = set()
    for lesson in lessons.values():
        assert 3 <= len(lesson.steps) <= MAX_STEPS and lesson.title and lesson.about
        for step in lesson.steps:
            pages.add(step.page)
            _state, notes = from_query(dict(step.query), step.page)  # what the page does with the address
            assert notes == [], (lesson.key, step.title, notes)
            assert step.view().startswith(PATHS[step.page])
            again = load_text(yaml.safe_dump(lesson.to_dict()), lesson.key)  # a download reads back the same
            assert again == lesson
    assert pages == set(PATHS)  # the lessons visit every page


@pytest.mark.parametrize("key", sorted(built_in()))
def test_every_claim_of_a_built_in_lesson_holds(key):
    """The lesson's facts about numbers, run through compute: a lesson cannot drift from the tool."""
    outcomes = evaluate(built_in()[key])
    failed = [o.sentence for o in outcomes if not o.holds]
    assert not failed, "\n".join(failed)
    if key != "4-landscapes":
        assert len(outcomes) >= 5


def test_a_claim_that_does_not_hold_is_reported_with_its_numbers():
    lesson = load_text(GOOD.replace("below: {step: 2}", "above: 10"))
    outcomes = evaluate(lesson)
    wrong = [o for o in outcomes if not o.holds]
    assert len(wrong) == 1 and "final_loss of run 1 is 0.499" in wrong[0].sentence and "not above 10" in wrong[0].sentence
    assert all(o.holds for o in evaluate(load_text(GOOD)))
    (missing,) = evaluate(load_text(GOOD.replace("run: 1}", "run: 3}").replace("- {measure: diverges, is: false}\n", "")
                                    .replace("- {measure: final_loss, below: {step: 2}}\n", "")))
    assert not missing.holds and "cannot be measured: run 3: the view shows 1 run(s)" in missing.sentence


def bad(text: str) -> str:
    with pytest.raises(LessonError) as err:
        load_text(textwrap.dedent(text))
    assert "Traceback" not in err.value.message and "\n" not in err.value.message
    return err.value.message


def step(**fields) -> str:
    """A one-step lesson with ``fields`` over a good step's."""
    body = {"title": "One", "view": "/?sgd.lr=0.1", "text": "Some text.", **fields}
    return yaml.safe_dump({"title": "T", "steps": [{k: v for k, v in body.items() if v is not None}]})


@pytest.mark.parametrize(("text", "said"), [
    (step(view="/nowhere"), "step 1 (“One”): view '/nowhere' is no page"),
    (step(view="/?sgd.lrr=0.1"), "step 1 (“One”): unknown setting 'sgd.lrr'"),
    (step(view="/?sgd.lr=-1"), "step 1 (“One”): sgd.lr must be"),
    (step(view="/?data.x_scale=0"), "data.x_scale must be"),
    (step(view="/?grid.b_min=5&grid.b_max=1"), "b_min must be below b_max"),
    (step(view="/landscape?net.epochs=100000"), "net.epochs"),
    (step(view="https://elsewhere.example/?sgd.lr=1"), "view must be a page's address"),
    (step(view="//evil.example/"), "view must be a page's address on this site"),
    (step(view=None), "step 1: view is missing"),
    (step(title=None), "step 1: title is missing"),
    (step(text=""), "text must be text (it is required)"),
    (step(notcie="x"), "step 1: unknown field 'notcie'"),
    (step(text="x" * 3000), "longer than 2,000 characters"),
    (step(claims=[{"measure": "fast"}]), "claim 1: no measure 'fast'"),
    (step(claims=[{"measure": "final_loss"}]), "claim 1: a claim needs a bound"),
    (step(claims=[{"measure": "diverges", "below": 1}]), "diverges takes is: true or is: false"),
    (step(claims=[{"measure": "final_loss", "is": True}]), "is takes true or false"),
    (step(claims=[{"measure": "loss_at", "below": 1}]), "loss_at needs step"),
    (step(claims=[{"measure": "final_loss", "below": {"step": 4}}]), "a bound's step must be a step of this lesson, 1 to 1"),
    (step(claims=[{"measure": "final_loss", "below": "low"}]), "a bound must be a finite number"),
    (step(claims=[{"measure": "diverged_share", "below": 1}]), "diverged_share is a measure of the sweep page, not of toy"),
    (step(claims=[{"measure": "final_loss", "run": 9, "below": 1}]), "run must be 1 to 4"),
    (step(claims=[{"measure": "final_loss", "below": {"measure": "loss_at"}}]), "a bound's measure takes no step"),
    (yaml.safe_dump({"title": "T", "steps": [
        {"title": "A sweep", "view": "/sweep", "text": "t"},
        {"title": "A run", "view": "/", "text": "t", "claims": [{"measure": "final_loss", "below": {"step": 1}}]}]}),
     "step 2 (“A run”), claim 1: step 1 is on the sweep page, which has no final_loss"),
    (yaml.safe_dump({"title": "T", "steps": []}), "steps must be a list of 1 to 40 steps"),
    (yaml.safe_dump({"title": "T", "steps": [{"title": "a", "view": "/", "text": "t"} for _ in range(41)]}),
     "1 to 40 steps"),
    (yaml.safe_dump({"steps": [{"title": "a", "view": "/", "text": "t"}]}), "the lesson: title is missing"),
    (yaml.safe_dump(["a", "list"]), "the lesson must be a mapping"),
    ("title: [unclosed", "is not valid YAML (line 1)"),
    ("title: !!python/object/apply:os.system ['echo hi']\nsteps: []", "is not valid YAML"),
    ("a: &x [1, 2]\nb: *x\n", "may not use YAML aliases"),
    ("title: " + "[" * 5000 + "]" * 5000, "nests too deeply"),
])
def test_a_bad_lesson_file_is_one_sentence_naming_where(text, said):
    assert said in bad(text)


def test_a_lesson_file_is_bounded_before_it_is_read():
    assert "at most 64 KB" in bad("title: x\n" + "#" * MAX_BYTES)
    assert bad("title: 41\nsteps: []") == "the lesson: title must be text"
    with pytest.raises(LessonError, match="UTF-8"):
        load_text(b"title: \xff\xfe")
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    assert "aliases" in bad(bomb)


def test_an_address_names_a_lesson_and_its_step():
    assert position("2-momentum.3") == ("2-momentum", 3)
    assert position("2-momentum.99") == ("2-momentum", 40)  # past the end: the bar shows the last step
    for value in (None, "", "momentum", "momentum.0", "momentum.-1", "momentum.99999", "../etc.1", "Momentum.1", 3,
                  "a.b.c"):
        assert position(value) is None, value


def test_a_link_naming_only_a_step_opens_its_view():
    from dashboard.lessons import opened_view

    step = built_in()["2-momentum"].steps[1]
    assert opened_view({"lesson": "2-momentum.2"}, "toy") == {**dict(step.query), "lesson": "2-momentum.2"}
    assert opened_view({"lesson": "2-momentum.2", "sgd.lr": "0.5"}, "toy") == {"lesson": "2-momentum.2", "sgd.lr": "0.5"}
    assert opened_view({"lesson": "2-momentum.6"}, "toy") == {"lesson": "2-momentum.6"}  # the sweep's step
    assert opened_view({"lesson": "nope.1"}, "toy") == {"lesson": "nope.1"}
    children, _ = player.bar("?lesson=2-momentum.6", "/", None)
    assert "↺ open this step's view" in str(children) and "lesson-again elsewhere" in str(children)
    children, _ = player.bar("?lesson=2-momentum.6", "/sweep", None)
    assert "↺ this step's view" in str(children) and "elsewhere" not in str(children)


def test_the_bar_shows_the_step_and_links_its_neighbours():
    lesson = built_in()["2-momentum"]
    children, hidden = player.bar("?data.x_offset=3&lesson=2-momentum.2", "/", None)
    assert not hidden
    text = str(children)
    assert lesson.steps[1].title in text and "step 2 of 7:" in text
    assert player.step_href(lesson, 3) in text and player.step_href(lesson, 1) in text
    assert "href='/?data.x_offset=3'" in text  # close: the view stays, the lesson goes
    last, _ = player.bar("?lesson=2-momentum.40", "/sweep", None)  # past the end: the last step
    assert "step 7 of 7" in str(last) and "lesson-next off" in str(last)
    assert player.bar("?sgd.lr=0.1", "/", None) == ([], True)
    missing, hidden = player.bar("?lesson=nope.1", "/", None)
    assert not hidden and "There is no lesson 'nope'" in str(missing)
    assert player.step_href(lesson, 2).endswith("&lesson=2-momentum.2")


def test_a_lesson_opened_from_a_file_is_checked_again_when_shown():
    opened = load_text(GOOD).to_dict()
    children, _ = player.bar(f"?lesson={OPENED}.2", "/compare", opened)
    assert "Slower" in str(children) and "step 2 of 2" in str(children)
    tampered = {**opened, "steps": [{**opened["steps"][0], "view": "/?sgd.lr=-5"}]}
    children, _ = player.bar(f"?lesson={OPENED}.1", "/", tampered)
    assert "a file of their own" in str(children)  # a follower before the room brings it, or a store edited by hand


def _upload(text: bytes) -> str:
    return "data:application/x-yaml;base64," + base64.b64encode(text).decode()


def test_opening_a_lesson_file_opens_its_first_step_or_says_why_not():
    def opened(contents):
        return call_callback(player.open_file, contents, 0, "small.yaml", player.DRAFT,
                             triggered=[(ID.LESSON_UPLOAD, "contents")])

    store, note, href = opened(_upload(GOOD.encode()))
    assert store == load_text(GOOD).to_dict() and "Opened “A small lesson”: 2 steps" in note
    assert href == "/?sgd.lr=0.1&lesson=file.1"
    for contents, said in ((_upload(b"title: [oops"), "small.yaml: the lesson file is not valid YAML"),
                           (_upload(b"x" * (MAX_BYTES + 10)), "at most 64 KB"),
                           ("data:;base64,@@@@", "could not be read"), (None, "that was not a file")):
        store, note, href = opened(contents)
        assert said in note and store is no_update and href is no_update, note


def test_a_lesson_written_on_the_page_plays_and_downloads_once_it_reads():
    def play(draft):
        return call_callback(player.open_file, None, 1, None, draft, triggered=[(ID.LESSON_PLAY, "n_clicks")])

    store, note, href = play(GOOD)
    assert store["title"] == "A small lesson" and href.endswith("lesson=file.1")
    _, note, href = play(player.DRAFT)  # the writer's start: no step yet
    assert note == "the draft: the lesson: steps must be a list of 1 to 40 steps" and href is no_update
    saved, note = call_callback(player.save_draft, 1, GOOD)
    assert saved["filename"] == "a-small-lesson.yaml" and saved["content"] == GOOD and "2 steps" in note
    saved, note = call_callback(player.save_draft, 1, GOOD.replace("/compare?", "/nowhere?"))
    assert saved is no_update and note.startswith("Not saved: step 2 (“Slower”): view '/nowhere' is no page")


def test_every_measure_is_documented():
    assert all(m.help for m in MEASURES.values())
