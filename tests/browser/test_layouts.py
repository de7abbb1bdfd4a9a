"""Layouts (issue 11): on a phone (390×844) the navigation fits, the figures come before the
controls, and no page is wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import shot
from .test_toy_lab import TIMEOUT

PAGES = [("/", "#map-figure .main-svg"), ("/?tab=all", "#all-maps-figure .main-svg"),
         ("/compare", "#compare-map .main-svg"), ("/sweep", "#sweep-figure"), ("/landscape", "#ls-main")]


@pytest.fixture
def phone(browser, server_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.mark.parametrize(("path", "figure"), PAGES)
def test_a_phone_sees_the_figures_first_and_nothing_wider_than_the_screen(phone, server_url, path, figure):
    phone.goto(server_url + path)
    expect(phone.locator(figure).first).to_be_visible(timeout=TIMEOUT)
    width = phone.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1] == 390, width
    nav = phone.locator(".topbar nav a").last.bounding_box()
    assert nav["x"] + nav["width"] <= 390, "the navigation fits"
    figure_top = phone.locator(figure).first.bounding_box()["y"]
    controls_top = phone.locator(".controls").first.bounding_box()["y"]
    assert figure_top < controls_top, "the figures come before the controls"
    shot(phone, "phone" + path.replace("/", "-").replace("?", "-").rstrip("-"))
