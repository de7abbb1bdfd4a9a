"""Moving between pages in a real browser: the top bar brings each page back as it was left (a room's
follower sees the same), and a run travels from the toy lab to Compare and back."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import param_selector, shot
from .test_compare import run_param
from .test_toy_lab import TIMEOUT, open_lab, set_number

LR = param_selector("sgd", "lr")
LEGEND = "#compare-map .legend"
# the shared profile keeps what earlier tests left in localStorage: this tab starts without it
FRESH_STORAGE = ("if (!sessionStorage.getItem('test-fresh')) "
                 "{ localStorage.clear(); sessionStorage.setItem('test-fresh', '1'); }")


def _boxes_apart(page, selector: str, width: int) -> list[dict]:
    """The boxes of ``selector``'s visible elements: none overlaps another, none runs past ``width``."""
    boxes = [b for b in (e.bounding_box() for e in page.locator(selector).all()) if b and b["width"] > 0]
    for i, a in enumerate(boxes):
        assert a["x"] >= 0 and a["x"] + a["width"] <= width, ("cut at the edge", a)
        for b in boxes[i + 1:]:
            apart = (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                     or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])
            assert apart, ("overlap", a, b)
    return boxes


def test_the_top_bar_keeps_settings_and_a_run_travels_to_compare_and_back(page, browser, server_url):
    page.add_init_script(FRESH_STORAGE)
    open_lab(page)
    set_number(page, "sgd", "lr", "0.05")
    page.wait_for_url("**sgd.lr=0.05**", timeout=TIMEOUT)

    # a room's follower opens whatever address the presenter's page has: a kept query included
    page.click("#room-button")
    code = page.inner_text(".room-code")
    watcher = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        follower = watcher.new_page()
        follower.goto(f"{server_url}/r/{code}")
        expect(follower.locator(LR)).to_have_value("0.05", timeout=TIMEOUT)

        # Toy lab → Compare → Toy lab by the top bar: the value is still there
        page.click("nav >> text=Compare")
        expect(page.locator(LEGEND)).to_contain_text("2 · Adam lr=0.1", timeout=TIMEOUT)
        expect(follower.locator(LEGEND)).to_contain_text("2 · Adam lr=0.1", timeout=TIMEOUT)
        page.click("nav >> text=Toy lab")
        expect(page.locator(LR)).to_have_value("0.05", timeout=TIMEOUT)
        expect(page.locator("#step-text")).to_contain_text("step 100:", timeout=TIMEOUT)
        assert "sgd.lr=0.05" in page.url
        expect(follower.locator(LR)).to_have_value("0.05", timeout=TIMEOUT)
    finally:
        watcher.close()

    page.click("#room-button")  # (hides the room's bar)

    # the share area, on a laptop's screen: the new link beside the link box, nothing over another
    page.set_viewport_size({"width": 1280, "height": 720})
    link = page.locator("#to-compare-link")
    expect(link).to_have_attribute("href", "/compare?r0.sgd.lr=0.05&r0.sgd.momentum=0.0&compare.runs=1")
    _boxes_apart(page, ".share > *", 1280)
    shot(page, "navigation-share-1280x720")

    # "open this run in Compare": the toy lab's run is Compare's one run
    link.click()
    expect(page.locator(LEGEND)).to_contain_text("1 · SGD lr=0.05", timeout=TIMEOUT)
    expect(page.locator(LEGEND)).not_to_contain_text("2 ·")
    # tweaked there, "open in the toy lab" brings the tweak back: typed without Enter, the click that
    # leaves the box waits for the page to take it (it opened the value before)
    shot(page, "navigation-compare-card")
    box = page.locator(run_param(0, "sgd", "lr"))
    box.fill("0.07")
    page.click("#to-toy-link-r0")
    expect(page.locator(LR)).to_have_value("0.07", timeout=TIMEOUT)
    # and the top bar's Compare is the comparison as it was left
    page.click("nav >> text=Compare")
    expect(page.locator(LEGEND)).to_contain_text("1 · SGD lr=0.07", timeout=TIMEOUT)
    assert "compare.runs=1" in page.url
    # its defaults: the comparison the page opens on
    page.click(".share >> text=defaults")
    expect(page.locator(LEGEND)).to_contain_text("2 · Adam lr=0.1", timeout=TIMEOUT)


def test_the_share_area_on_a_phone_and_a_browser_that_keeps_nothing(browser, server_url):
    """390 × 844, touch: the links beside the share link are a finger's size, inside the screen,
    over nothing. This browser refuses localStorage (as a private window may): the top bar opens the
    pages at their defaults, as it did before it kept anything, and nothing breaks."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    context.add_init_script("Object.defineProperty(window, 'localStorage', "
                            "{get() { throw new DOMException('refused', 'SecurityError'); }})")
    errors: list[str] = []
    try:
        phone = context.new_page()
        phone.on("pageerror", lambda err: errors.append(str(err)))
        phone.goto(server_url + "/?sgd.lr=0.05")
        expect(phone.locator("#to-compare-link")).to_have_attribute("href", "/compare?r0.sgd.lr=0.05&r0.sgd"
                                                                    ".momentum=0.0&compare.runs=1", timeout=TIMEOUT)
        expect(phone.locator("#step-text")).to_contain_text("step 100:", timeout=TIMEOUT)
        boxes = _boxes_apart(phone, ".share > *", 390)
        assert len(boxes) == 5, boxes  # label, link box, copy, open in Compare, defaults
        assert phone.locator(".share-link").bounding_box()["width"] > 300, "the link box is a line of its own"
        for action in phone.locator(".share-action").all():
            assert action.bounding_box()["height"] >= 44, action.inner_text()
        phone.locator(".share").scroll_into_view_if_needed()
        shot(phone, "navigation-share-phone")
        phone.click("nav >> text=Compare")
        expect(phone.locator(LEGEND)).to_contain_text("2 · Adam lr=0.1", timeout=TIMEOUT)
        phone.click("nav >> text=Toy lab")
        expect(phone.locator(LR)).to_have_value("0.1", timeout=TIMEOUT)
    finally:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
