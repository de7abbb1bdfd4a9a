"""The landscapes page in a real browser: train with progress, see 1D and 2D views, cancel."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from .conftest import param_selector, shot

TIMEOUT = 60_000


def choose_view(page, name: str, mode: str) -> None:
    """Choose a view, and wait until the page's request holds it (the link shows it), as Train & draw
    reads it: a click within the settings check's round trip draws the view before."""
    page.click("#ls-mode")
    page.get_by_role("option", name=name).click()
    expect(page.locator("#ls-link")).to_have_value(re.compile(rf"mode={mode}\b"), timeout=TIMEOUT)


def test_train_and_see_the_plane_then_the_line(page):
    link = page.base_url + "/landscape?net.epochs=6&landscape.resolution=9"
    page.goto(link.replace("epochs=6", "epochs=7"))
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw: it trains the MLP", timeout=TIMEOUT)  # a link trains nothing
    expect(page.locator("#ls-main")).to_contain_text("Press Train & draw")  # no empty axes
    page.fill(param_selector("net", "epochs", "landscape"), "6")  # typed, and the click leaves the box:
    page.click("#ls-run")  # the value typed is the one trained (it reached the settings after the click)
    expect(text).to_contain_text("6 epochs: test accuracy", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("filter-normalized")
    expect(page.locator("#ls-training .gtitle")).to_have_text("training")
    shot(page, "landscape-plane")
    choose_view(page, "initial → trained", "line")
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


def test_the_plane_through_three_trainings(page):
    """The view "A, B and C": three trainings, the plane through them with each model marked, the
    range on −0.5 to 1.5, the training figure with all three."""
    page.goto(page.base_url + "/landscape?net.epochs=3&landscape.resolution=9")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw", timeout=TIMEOUT)
    choose_view(page, "A, B and C: the plane through three trainings", "three")
    expect(page.locator(param_selector("landscape", "lo", "landscape"))).to_have_value("-0.5", timeout=TIMEOUT)
    page.click("#ls-run")
    expect(text).to_contain_text("test accuracy A", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("the plane through three trained models")
    expect(page.locator("#ls-main .textpoint")).to_have_count(3)
    expect(page.locator("#ls-main .legend")).to_contain_text("model C")
    expect(page.locator("#ls-training .gtitle")).to_contain_text("C: seed 1")
    shot(page, "landscape-three")


def test_training_shows_progress_and_can_be_cancelled(page):
    page.goto(page.base_url + "/landscape?net.epochs=2&landscape.resolution=5&mode=line")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw", timeout=TIMEOUT)
    page.click("#ls-run")
    expect(page.locator("#ls-main .gtitle")).to_contain_text("1D: from the initial", timeout=TIMEOUT)
    for name, value in (("epochs", "150"), ("batch_size", "16")):  # a long training, on the same page
        box = page.locator(param_selector("net", name, "landscape"))
        box.fill(value)
        box.press("Enter")
    expect(text).to_contain_text("Out of date", timeout=TIMEOUT)
    page.click("#ls-run")
    expect(text).to_contain_text("training MLP on digits (8 × 8) (epochs): ", timeout=TIMEOUT)
    shot(page, "landscape-training-progress")
    page.click("#ls-cancel")
    expect(page.locator("#ls-cancel")).to_be_disabled(timeout=TIMEOUT)
    expect(page.locator("#ls-run")).to_be_enabled()
    expect(text).to_have_text("Cancelled.")
    page.wait_for_timeout(1500)  # no late progress report writes over it
    expect(text).to_have_text("Cancelled.")
    expect(page.locator("#ls-main .gtitle")).to_contain_text("1D: from the initial")  # the last good figure


def test_a_landscape_file_of_your_own_model_opens_with_the_pages_figures(page, tmp_path):
    import torch

    from compute.api import loss_plane, save_landscape

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    save_landscape(tmp_path / "mine.npz", loss_plane(model, torch.nn.functional.cross_entropy, (x, y),
                                                     resolution=11, seed=1))
    (tmp_path / "bad.npz").write_bytes(b"not a zip file at all")
    page.goto(page.base_url + "/landscape")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw", timeout=TIMEOUT)
    box = page.locator("#ls-run").bounding_box()
    assert box is not None and box["y"] + box["height"] <= page.viewport_size["height"]  # above the fold
    page.set_input_files("#ls-upload input[type=file]", str(tmp_path / "mine.npz"))
    expect(text).to_contain_text("Showing mine.npz: θ* + a·d₁ + b·d₂: your model", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("your model")
    expect(page.locator("#ls-training")).to_contain_text("holds no training")
    shot(page, "landscape-opened-file")
    page.set_input_files("#ls-upload input[type=file]", str(tmp_path / "bad.npz"))
    expect(text).to_contain_text("bad.npz: not a landscape file", timeout=TIMEOUT)
    expect(page.locator("#ls-main .gtitle")).to_contain_text("your model")  # the figure stays


def _link_holds(link, key: str, value: float) -> None:
    """Wait until the view's link holds ``value`` for ``key`` (none of the values typed here is the
    page's default, which the link leaves out)."""
    deadline = time.monotonic() + TIMEOUT / 1000
    while not ((shown := parse_qs(urlsplit(link.input_value()).query).get(key)) and float(shown[0]) == value):
        assert time.monotonic() < deadline, f"the link kept {key}={shown}, not {value}"
        time.sleep(0.2)


def test_the_hessian_plane_and_the_sharpness_during_training(page):
    """The Hessian's view: Lanczos's progress, then the plane with λ₁ and λ₂ on its axes. The
    sharpness view: a long measurement cancelled, then a short one drawn against 2/lr with the
    trace beside it."""
    # the MLP: Lanczos on a convolutional network is tested in compute (tests/compute/test_spectrum.py);
    # here, the page's view of it
    page.goto(page.base_url + "/landscape?model=mlp&net.epochs=3&landscape.resolution=9")
    text = page.locator("#ls-progress-text")
    expect(text).to_contain_text("Press Train & draw", timeout=TIMEOUT)
    choose_view(page, "the Hessian's top two eigenvectors", "hessian")
    page.click("#ls-run")
    expect(text).to_contain_text("81 points evaluated", timeout=TIMEOUT)
    expect(page.locator("#ls-main .xtitle")).to_contain_text("λ₁ =")
    expect(page.locator("#ls-main .ytitle")).to_contain_text("λ₂ =")
    shot(page, "landscape-hessian-plane")

    page.click("#ls-mode")
    page.get_by_role("option", name="sharpness during training: λmax against lr's threshold").click()
    link = page.locator("#ls-link")
    expect(link).to_have_value(re.compile(r"mode=edge"), timeout=TIMEOUT)
    page.wait_for_timeout(1000)  # as a person would: a setting typed within the view change's round trip can be lost
    for group, name, value in (("curvature", "samples", "300"), ("curvature", "every", "4"),
                               ("net", "epochs", "40")):  # each step within the page's caps: 221 measurements
        box = page.locator(param_selector(group, name, "landscape"))
        box.fill(value)
        box.press("Enter")
        expect(link).to_have_value(re.compile(rf"{group}\.{name}={value}\b"), timeout=TIMEOUT)
    page.click("#ls-run")
    expect(text).to_contain_text("sharpness during training (measurements): ", timeout=TIMEOUT)
    page.click("#ls-cancel")
    expect(text).to_have_text("Cancelled.", timeout=TIMEOUT)
    expect(page.locator("#ls-run")).to_be_enabled()

    for group, name, value in (("net", "epochs", "3"), ("curvature", "every", "5"), ("curvature", "samples", "300"),
                               ("curvature", "trace_samples", "3"), ("sgd", "momentum", "0"), ("sgd", "lr", "0.05")):
        box = page.locator(param_selector(group, name, "landscape"))
        box.fill(value)
        box.press("Enter")
        _link_holds(link, f"{group}.{name}", float(value))  # before the next one is typed
    expect(text).to_contain_text("Out of date", timeout=TIMEOUT)
    page.click("#ls-run")
    expect(text).to_contain_text("measurements at or past it", timeout=TIMEOUT)
    expect(text).to_contain_text("2/lr = 40")
    expect(page.locator("#ls-main .gtitle")).to_contain_text("sharpness during training")
    expect(page.locator("#ls-main .annotation-text")).to_contain_text("2/lr = 40 (lr 0.05)")
    expect(page.locator("#ls-surface .legend")).to_contain_text("trace (Hutchinson, 3 probes)")
    shot(page, "landscape-sharpness-during-training")
