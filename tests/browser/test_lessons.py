"""Orientation and lessons in a real browser: a newcomer's first view has the page's lead, folded
for good once folded; the lesson player steps through a built-in lesson, every step's view opening
without an error; a lesson file opened from disk."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from dashboard.lessons import built_in

from .conftest import shot

TIMEOUT = 30_000


def test_a_newcomer_sees_what_the_page_shows_and_can_fold_it_away(page):
    page.goto(page.base_url + "/")
    lead = page.locator("details.lead")
    try:
        expect(lead).to_have_attribute("open", "", timeout=TIMEOUT)
        expect(lead).to_contain_text("Try first:")
        assert lead.is_visible() and lead.bounding_box()["y"] < 200  # above the figures, in the first screen
        # the presets say what they show before a click
        expect(page.locator(".preset").first).to_contain_text("the baseline")
        lead.locator("summary").click()
        expect(lead).not_to_have_attribute("open", "")
        page.reload()
        page.wait_for_selector("#map-figure .main-svg", timeout=TIMEOUT)
        expect(page.locator("details.lead")).not_to_have_attribute("open", "", timeout=TIMEOUT)  # remembered
        expect(page.locator("details.lead summary")).to_be_visible()
        # a term on the status line explains itself
        term = page.locator("#stability-note abbr.term", has_text="κ")
        assert "condition number" in term.get_attribute("title", timeout=TIMEOUT)
    finally:
        page.evaluate("() => localStorage.removeItem('descent-lead-folded-toy')")


def test_the_player_steps_through_a_lesson_and_every_view_opens(page):
    lesson = built_in()["2-momentum"]
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(page.base_url + "/compare")
    page.wait_for_selector("#compare-map .main-svg", timeout=TIMEOUT)
    page.click("#lessons-menu summary")
    page.click(f"text={lesson.title}")
    expect(page.locator("#lessons-menu")).not_to_have_attribute("open", "")  # the menu folds
    bar = page.locator("#lesson-bar")
    for number, step in enumerate(lesson.steps, 1):
        expect(bar).to_contain_text(f"step {number} of {len(lesson.steps)}", timeout=TIMEOUT)
        expect(bar.locator(".lesson-step-title")).to_have_text(step.title)
        figure = "#sweep-figure" if step.page == "sweep" else "#map-figure"
        page.wait_for_selector(f"{figure} .main-svg", timeout=TIMEOUT)
        # the step's own view drawn: the link box follows a view once it is drawn (the last step's
        # figures stay on screen until then)
        expect(page.locator("#sweep-link" if step.page == "sweep" else "#share-link")).to_have_value(
            re.compile(rf"[?&]lesson={lesson.key}\.{number}(&|$)"), timeout=TIMEOUT)
        if step.page == "sweep":
            expect(page.locator("#sweep-progress-text")).to_contain_text("done", timeout=60_000)
        else:
            expect(page.locator("#step-text")).to_contain_text("step", timeout=TIMEOUT)
            expect(page.locator("#run-status .diverged:not(.past-bound)")).to_have_count(1 if number == 3 else 0, timeout=TIMEOUT)
        assert page.inner_text("#global-error").strip() == ""
        assert "Ignored" not in page.inner_text("main")  # nothing of the step's view was refused
        assert page.evaluate("new URLSearchParams(location.search).get('lesson')") == f"{lesson.key}.{number}"
        if number == 2:
            expect(page.locator("#stability-note")).to_contain_text("κ 152", timeout=TIMEOUT)
            shot(page, "lesson-momentum-step-2")
        if number < len(lesson.steps):
            if number % 2:
                page.locator("body").press("ArrowRight")
            else:
                bar.locator("a.lesson-next").click()
    expect(bar.locator(".lesson-next")).to_have_text("end")
    bar.locator("a.lesson-prev").click()
    expect(bar).to_contain_text(f"step {len(lesson.steps) - 1} of", timeout=TIMEOUT)
    page.go_back()  # the browser's back button steps back too
    expect(bar).to_contain_text(f"step {len(lesson.steps)} of", timeout=TIMEOUT)
    bar.locator("a.lesson-close").click()
    expect(bar).to_be_hidden(timeout=TIMEOUT)
    assert "lesson=" not in page.url and "standardize=true" in page.url  # the view stays
    assert errors == []


def test_a_lesson_file_opens_at_its_first_step_or_says_what_is_wrong(page, tmp_path):
    good = tmp_path / "mine.yaml"
    good.write_text("title: Mine\nsteps:\n  - title: Slow\n    view: /?sgd.lr=0.02\n    text: A *slow* run.\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: Bad\nsteps:\n  - title: Lost\n    view: /?sgd.lr=-2\n    text: x\n")
    page.goto(page.base_url + "/")
    page.wait_for_selector("#map-figure .main-svg", timeout=TIMEOUT)
    page.click("#lessons-menu summary")
    page.set_input_files("#lesson-upload input[type=file]", str(bad))
    expect(page.locator("#lesson-note")).to_contain_text("bad.yaml: step 1 (“Lost”): sgd.lr must be", timeout=TIMEOUT)
    page.set_input_files("#lesson-upload input[type=file]", str(good))
    expect(page.locator("#lesson-bar")).to_contain_text("Mine", timeout=TIMEOUT)
    expect(page.locator("#lesson-bar .lesson-text em")).to_have_text("slow")
    page.wait_for_function("() => new URLSearchParams(location.search).get('sgd.lr') === '0.02'", timeout=TIMEOUT)
    # written on the page: this view as a step, played, in the reader's own browser (the menu is still
    # open: it says what was opened)
    expect(page.locator("#lesson-note")).to_contain_text("Opened “Mine”: 1 step")
    page.click("text=Write a lesson")
    try:
        page.click("#lesson-add")
        page.wait_for_function("() => document.querySelector('#lesson-draft').value.includes(\"view: '/?sgd.lr=0.02\")",
                               timeout=TIMEOUT)
        page.click("#lesson-play")
        expect(page.locator("#lesson-bar")).to_contain_text("My lesson", timeout=TIMEOUT)
        expect(page.locator("#lesson-bar")).to_contain_text("step 1 of 1")
    finally:
        page.evaluate("() => Object.keys(localStorage).filter(k => k.includes('lesson-draft'))"
                      ".forEach(k => localStorage.removeItem(k))")
