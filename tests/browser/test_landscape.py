"""The landscapes page in a real browser: train with progress, see 1D and 2D views, cancel."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import shot

TIMEOUT = 60_000


def test_train_and_see_the_plane_then_the_line(page):
    page.goto(page.base_url + "/landscape?net.epochs=6&landscape.resolution=9")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("test accuracy", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("filter-normalized")
    expect(page.locator("#ls-training .gtitle")).to_have_text("training")
    shot(page, "landscape-plane")
    page.click("#ls-mode")
    page.get_by_role("option", name="initial → trained").click()
    page.click("#ls-run")
    expect(page.locator("#ls-main .gtitle")).to_contain_text("1D: from the initial", timeout=TIMEOUT)
    expect(page.locator("#ls-main .legend")).to_contain_text("test accuracy")
    shot(page, "landscape-line")


def test_training_shows_progress_and_can_be_cancelled(page):
    page.goto(page.base_url + "/landscape?model=cnn&net.epochs=150&net.batch_size=16")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("training CNN (epochs): ", timeout=TIMEOUT)
    shot(page, "landscape-training-progress")
    page.click("#ls-cancel")
    expect(page.locator("#ls-cancel")).to_be_disabled(timeout=TIMEOUT)
    expect(page.locator("#ls-run")).to_be_enabled()
    assert "test accuracy" not in text.inner_text()
