"""The landscapes page in a real browser: train with progress, see 1D and 2D views, cancel."""

from __future__ import annotations

from playwright.sync_api import expect

from .conftest import shot

TIMEOUT = 60_000


def test_train_and_see_the_plane_then_the_line(page):
    link = page.base_url + "/landscape?net.epochs=6&landscape.resolution=9"
    page.goto(link)
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw: it trains the MLP", timeout=TIMEOUT)  # a link trains nothing
    expect(page.locator("#ls-main")).to_contain_text("Press Train & draw")  # no empty axes
    page.click("#ls-run")
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
    page.click("#ls-mode")  # a view that is not on disk: the line stays, marked out of date
    page.get_by_role("option", name="PCA of the path").click()
    expect(text).to_contain_text("Out of date", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("1D: from the initial")
    page.goto(link)  # the link again: everything is on disk, so it draws at once, untrained
    expect(page.locator("#ls-main .gtitle")).to_contain_text("filter-normalized", timeout=TIMEOUT)
    expect(text).to_contain_text("test accuracy")


def test_training_shows_progress_and_can_be_cancelled(page):
    page.goto(page.base_url + "/landscape?model=cnn&net.epochs=150&net.batch_size=16")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw", timeout=TIMEOUT)
    page.click("#ls-run")
    expect(text).to_contain_text("training CNN (epochs): ", timeout=TIMEOUT)
    shot(page, "landscape-training-progress")
    page.click("#ls-cancel")
    expect(page.locator("#ls-cancel")).to_be_disabled(timeout=TIMEOUT)
    expect(page.locator("#ls-run")).to_be_enabled()
    expect(text).to_have_text("Cancelled.")
    page.wait_for_timeout(1500)  # no late progress report writes over it
    expect(text).to_have_text("Cancelled.")
