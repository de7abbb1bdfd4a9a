"""The sweep page in a real browser: a map appears with progress, a cell opens its run."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from playwright.sync_api import expect

from .conftest import msg_selector, param_selector, shot

TIMEOUT = 30_000
SMALL = "?sweep.x_points=30&sweep.y_points=20&run.epochs=60"


def test_sweep_map_appears_and_a_click_opens_the_run(page):
    page.goto(page.base_url + "/sweep" + SMALL)
    expect(page.locator("#sweep-progress-text")).to_contain_text("600 runs × 60 steps done", timeout=TIMEOUT)
    expect(page.locator("#sweep-figure .gtitle")).to_contain_text("final loss over lr × momentum")
    shot(page, "sweep-default")
    plot = page.locator("#sweep-figure .nsewdrag").first
    box = plot.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)
    page.wait_for_url(lambda url: urlparse(url).path == "/", timeout=TIMEOUT)
    page.wait_for_selector("#map-figure .main-svg", timeout=TIMEOUT)
    query = parse_qs(urlparse(page.url).query)
    # a short link: a setting at its default is left out
    lr, momentum = (float(query.get(key, [default])[0]) for key, default in (("sgd.lr", 0.1), ("sgd.momentum", 0)))
    assert 0.01 < lr < 1 and 0 <= momentum < 0.99
    expect(page.locator(param_selector("sgd", "lr"))).to_have_value(repr(lr))
    expect(page.locator("#step-text")).to_contain_text("step 60:", timeout=TIMEOUT)
    shot(page, "sweep-opened-run")


def test_changing_the_measure_and_axis_reruns(page):
    page.goto(page.base_url + "/sweep" + SMALL)
    expect(page.locator("#sweep-progress-text")).to_contain_text("done", timeout=TIMEOUT)
    page.click("#sweep-measure")
    page.get_by_role("option", name="steps to reach the tolerance").click()
    expect(page.locator("#sweep-figure .gtitle")).to_contain_text("steps to reach the tolerance", timeout=TIMEOUT)
    page.click("#sweep-optimizer")
    page.get_by_role("option", name="Adam", exact=True).click()
    expect(page.locator("#sweep-figure .gtitle")).to_contain_text("over lr × beta1", timeout=TIMEOUT)
    shot(page, "sweep-adam-steps")


def test_bad_sweep_settings_are_explained(page):
    page.goto(page.base_url + "/sweep" + SMALL)
    expect(page.locator("#sweep-progress-text")).to_contain_text("done", timeout=TIMEOUT)
    box = page.locator(param_selector("sweep", "x_lo", "sweep"))
    box.fill("0")
    box.press("Enter")
    expect(page.locator(msg_selector("sweep", "x_lo", "sweep"))).to_contain_text("log axis needs lo > 0",
                                                                                timeout=TIMEOUT)


def test_a_long_sweep_shows_progress_and_can_be_cancelled(page):
    page.goto(page.base_url + "/sweep?sweep.x_points=300&sweep.y_points=300&run.epochs=110&data.n=400")
    expect(page.locator("#sweep-cancel")).to_be_enabled(timeout=TIMEOUT)
    expect(page.locator("#sweep-progress-text")).to_contain_text("step", timeout=TIMEOUT)
    shot(page, "sweep-progress")
    page.click("#sweep-cancel")
    expect(page.locator("#sweep-cancel")).to_be_disabled(timeout=TIMEOUT)
    expect(page.locator("#sweep-run")).to_be_enabled()
    assert "done" not in page.locator("#sweep-progress-text").inner_text()
