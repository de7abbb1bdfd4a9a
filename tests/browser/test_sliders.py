"""Sliders and number boxes in a real browser: in sync, −/+ in the slider's own scale, on every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compute import OPTIMIZERS
from compute.params import nearest_stop
from dashboard.ids import preset_id

from .conftest import _selector, param_selector, part_selector, shot
from .test_toy_lab import TIMEOUT, open_lab, set_number

LR = OPTIMIZERS["sgd"].params[0]
MOMENTUM = OPTIMIZERS["sgd"].params[1]


def _slider_at(page, group: str, name: str, page_name: str = "toy") -> int:
    return int(page.locator(part_selector("param-slider", group, name, page_name) + " [role=slider]")
               .get_attribute("aria-valuenow"))


def _expect_slider(page, group: str, name: str, index: int, page_name: str = "toy") -> None:
    expect(page.locator(part_selector("param-slider", group, name, page_name) + " [role=slider]")
           ).to_have_attribute("aria-valuenow", str(index), timeout=TIMEOUT)


def test_plus_and_minus_step_through_the_stops_in_their_scale(page):
    open_lab(page)
    box = page.locator(param_selector("sgd", "lr"))
    page.click(part_selector("param-up", "sgd", "lr"))
    expect(box).to_have_value("0.11", timeout=TIMEOUT)  # the next E24 stop, not 1.1
    page.click(part_selector("param-down", "sgd", "lr"))
    page.click(part_selector("param-down", "sgd", "lr"))
    expect(box).to_have_value("0.091", timeout=TIMEOUT)
    _expect_slider(page, "sgd", "lr", LR.stops.index(0.091))
    page.wait_for_url("**sgd.lr=0.091**", timeout=TIMEOUT)  # the view was recomputed with it
    momentum = page.locator(param_selector("sgd", "momentum"))
    page.click(part_selector("param-down", "sgd", "momentum"))
    expect(momentum).to_have_value("0", timeout=TIMEOUT)  # stays in range, never −1
    set_number(page, "sgd", "momentum", "0.98")
    page.click(part_selector("param-up", "sgd", "momentum"))
    page.click(part_selector("param-up", "sgd", "momentum"))
    expect(momentum).to_have_value("0.99", timeout=TIMEOUT)  # the slider's end: no 2
    shot(page, "sliders-nudged")


def test_a_typed_value_moves_the_slider_to_its_nearest_stop(page):
    open_lab(page)
    set_number(page, "sgd", "lr", "0.0475")
    _expect_slider(page, "sgd", "lr", nearest_stop(LR.stops, 0.0475, log=True))
    set_number(page, "sgd", "momentum", "0.904")
    _expect_slider(page, "sgd", "momentum", nearest_stop(MOMENTUM.stops, 0.904, log=False))
    expect(page.locator(param_selector("sgd", "lr"))).to_have_value("0.0475")  # the exact value stays


def test_a_value_a_callback_writes_moves_the_slider(page):
    open_lab(page)
    page.click(_selector(preset_id("momentum")))  # the preset writes momentum 0.9 into the box
    expect(page.locator(param_selector("sgd", "momentum"))).to_have_value("0.9", timeout=TIMEOUT)
    _expect_slider(page, "sgd", "momentum", MOMENTUM.stops.index(0.9))


def test_a_released_slider_writes_its_stop_into_the_box_and_recomputes(page):
    open_lab(page)
    thumb = page.locator(part_selector("param-slider", "sgd", "momentum") + " [role=slider]")
    thumb.focus()
    for _ in range(5):
        thumb.press("ArrowRight")
    expect(page.locator(param_selector("sgd", "momentum"))).to_have_value("0.05", timeout=TIMEOUT)
    page.wait_for_url("**sgd.momentum=0.05**", timeout=TIMEOUT)
    expect(page.locator("#step-text")).to_contain_text("arrow: −lr·momentum_buffer", timeout=TIMEOUT)


@pytest.mark.parametrize(("path", "group", "name", "page_name", "value"), [
    ("/compare", "data", "noise", "compare", "0.33"),
    ("/sweep", "run", "epochs", "sweep", "110"),
    ("/landscape", "net", "epochs", "landscape", "22"),
])
def test_every_page_has_sliders_in_step_with_their_boxes(page, path, group, name, page_name, value):
    page.goto(page.base_url + path)
    page.wait_for_selector(part_selector("param-slider", group, name, page_name), timeout=TIMEOUT)
    page.click(part_selector("param-up", group, name, page_name))
    expect(page.locator(param_selector(group, name, page_name))).to_have_value(value, timeout=TIMEOUT)
    assert _slider_at(page, group, name, page_name) >= 1
