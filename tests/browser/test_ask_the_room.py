"""Asking the room in real browsers: the presenter poses a question, three participants answer from
their own pages with their own value, the presenter's figure shows three answers, and the engine's
answer reaches everyone. Then the presenter's own lesson file reaches a follower's page."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .conftest import param_selector, shot

TIMEOUT = 30_000


def test_three_participants_answer_and_the_presenter_sees_three_answers(page, browser, tmp_path):
    page.goto(page.base_url + "/")
    page.wait_for_selector("#map-figure .main-svg", timeout=TIMEOUT)
    page.click("#room-button")
    code = page.inner_text(".room-code")
    contexts = [browser.new_context(viewport={"width": 1280, "height": 800}) for _ in range(3)]
    errors: list[str] = []
    try:
        people = [c.new_page() for c in contexts]
        for person in people:
            person.on("pageerror", lambda err: errors.append(str(err)))
            person.goto(f"{page.base_url}/r/{code}")
        for person in people:
            person.wait_for_selector("#map-figure .main-svg", timeout=TIMEOUT)
        page.select_option("select.room-ask", "stable-lr")
        expect(page.locator("#room-bar .room-prompt")).to_contain_text("largest value", timeout=TIMEOUT)
        for person, lr in zip(people, ("0.1", "0.5", "2"), strict=True):
            bar = person.locator("#room-bar")
            expect(bar.locator(".room-prompt")).to_contain_text("largest value", timeout=TIMEOUT)
            if lr != "0.1":  # their own value: typed on their own page (they are on their own from then on)
                box = person.locator(param_selector("sgd", "lr"))
                box.fill(lr)
                box.press("Enter")
                person.wait_for_function(
                    f"() => parseFloat(new URLSearchParams(location.search).get('sgd.lr')) === {lr}", timeout=TIMEOUT)
            button = bar.locator("button.room-answer")
            expect(button).to_have_text(re.compile(rf"answer: my lr is {lr}(\.0)?$"), timeout=TIMEOUT)
            button.click()
            expect(bar.locator(".room-answered")).to_have_text(f"You answered {float(lr):g}.", timeout=TIMEOUT)
        expect(page.locator("#room-bar .room-answers-count")).to_have_text("3 answers (sgd.lr)", timeout=TIMEOUT)
        expect(page.locator("#room-answers .scatterlayer .point")).to_have_count(3, timeout=TIMEOUT)
        page.click("button.room-reveal")
        expect(page.locator("#room-bar .room-truth")).to_contain_text("The engine: 0.966", timeout=TIMEOUT)
        expect(page.locator("#room-answers .shapelayer path")).to_have_count(1)  # the engine's answer, drawn
        shot(page, "room-question-presenter")
        for person in people:
            expect(person.locator("#room-bar .room-truth")).to_contain_text("The engine: 0.966", timeout=TIMEOUT)
        shot(people[1], "room-question-participant")
        page.click("text=close the question")
        expect(people[0].locator("#room-bar .room-prompt")).to_have_count(0, timeout=TIMEOUT)
        # the presenter's own lesson file: a follower's page shows its text too
        mine = tmp_path / "mine.yaml"
        mine.write_text("title: Our own lesson\nsteps:\n  - title: Slow\n    view: /?sgd.lr=0.02\n"
                        "    text: A run at lr 0.02.\n")
        page.click("#lessons-menu summary")
        page.set_input_files("#lesson-upload input[type=file]", str(mine))
        expect(page.locator("#lesson-bar")).to_contain_text("Our own lesson", timeout=TIMEOUT)
        expect(people[0].locator("#lesson-bar")).to_contain_text("A run at lr 0.02.", timeout=TIMEOUT)
        expect(people[0].locator("#lesson-bar")).to_contain_text("Our own lesson")
    finally:
        for c in contexts:
            c.close()
        page.click("#room-bar >> text=end the room")  # (rooms per address are counted)
    assert errors == []
