"""Export for slides in the browser: a GIF and an HTML file come down with their names and open
(frames counted; the HTML plays in Chromium with its contour map intact); Cancel stops a long one."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.browser.conftest import SHOTS, shot, wait_js


def _open(page) -> None:
    page.goto(page.base_url + "/?sgd.momentum=0.9&run.epochs=40")
    page.wait_for_selector("#map-figure .js-plotly-plot .contour", timeout=30000)


def _choose(page, dropdown: str, text: str) -> None:
    page.click(f"#{dropdown}")
    page.get_by_role("option", name=text).click()


def _export(page, fmt: str, frames: int) -> tuple[str, bytes]:
    _choose(page, "export-format", fmt)
    page.fill("#export-frames", str(frames))
    with page.expect_download(timeout=120_000) as download:
        page.click("#export-run")
    path = download.value.path()
    return download.value.suggested_filename, Path(path).read_bytes()


def test_a_gif_and_an_html_animation_come_down_and_open(page, browser):
    _open(page)
    name, gif = _export(page, "GIF (animated)", 6)
    assert name == "descent-lab_map_MSELoss_SGD-lr0.1-momentum0.9_steps0-40.gif"
    image = Image.open(io.BytesIO(gif))
    assert image.n_frames == 6 and image.size == (1280, 720)
    wait_js(page, "document.getElementById('export-text').textContent.includes('6 frames')")
    shot(page, "export-gif")

    name, html = _export(page, "HTML (Plotly frames)", 5)
    assert name.endswith("_steps0-40.html")
    SHOTS.mkdir(parents=True, exist_ok=True)
    saved = SHOTS / "export.html"
    saved.write_bytes(html)
    viewer = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        viewer.goto(saved.as_uri())  # self-contained: no server, no network
        viewer.wait_for_selector(".js-plotly-plot .contour", timeout=30000)
        assert viewer.evaluate("document.querySelector('.js-plotly-plot')._transitionData._frames.length") == 5
        viewer.click("text=▶ play")
        viewer.wait_for_function("document.querySelector('.js-plotly-plot').layout.sliders[0].active === 4",
                                 timeout=20000)  # played to the last frame
        assert viewer.locator(".js-plotly-plot .contour").count() >= 1, "the map survived the animation"
        caption = viewer.inner_text(".js-plotly-plot")
        assert "torch.optim.SGD(lr=0.1, momentum=0.9)" in caption and "step 40" in caption
        assert viewer.title() == "Descent Lab: MSELoss · torch.optim.SGD(lr=0.1, momentum=0.9) · start w=6, b=-3 · " \
                                 "40 epochs · steps 0–40"
        viewer.screenshot(path=str(SHOTS / "export-html.png"))
        _apart(viewer)
    finally:
        viewer.close()


def _apart(viewer) -> None:
    """What the HTML file shows does not overlap: the plot, its legend, the caption, and the row of
    ▶/❚❚ and the step slider under them, each within the page (their bounding boxes)."""
    boxes = viewer.evaluate("""() => {
        const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
        const caption = [...document.querySelectorAll('.annotation')].find(e => e.textContent.includes('torch.optim'));
        return {plot: box(document.querySelector('.nsewdrag')), legend: box(document.querySelector('.legend')),
                caption: box(caption), buttons: box(document.querySelector('.updatemenu-container')),
                slider: box(document.querySelector('.slider-container')),
                page: [0, 0, document.documentElement.scrollWidth, document.documentElement.scrollHeight]};
    }""")
    names = ["plot", "legend", "caption", "buttons", "slider"]
    for i, a in enumerate(names):
        left, top, right, bottom = boxes[a]
        assert left >= 0 and top >= 0 and right <= boxes["page"][2] and bottom <= boxes["page"][3], (a, boxes)
        for b in names[i + 1:]:
            other = boxes[b]
            apart = right <= other[0] or other[2] <= left or bottom <= other[1] or other[3] <= top
            assert apart, f"{a} overlaps {b}: {boxes}"


def test_cancel_stops_a_long_export(page):
    _open(page)
    _choose(page, "export-format", "MP4 (H.264)")
    page.fill("#export-frames", "150")
    page.click("#export-run")
    wait_js(page, "/frame \\d+ of 41/.test(document.getElementById('export-text').textContent)",
                           timeout=60000)  # 41 steps: at most 41 frames
    page.click("#export-cancel")
    wait_js(page, "document.getElementById('export-text').textContent === 'Cancelled.'", timeout=15000)
    wait_js(page, "!document.getElementById('export-run').disabled", timeout=15000)


def test_a_bad_frame_count_is_a_message(page):
    _open(page)
    page.fill("#export-frames", "1000")
    page.click("#export-run")
    wait_js(page, "document.getElementById('export-text').textContent.startsWith('Not exported: frames')",
                           timeout=30000)


def test_the_camera_icon_names_its_file_after_the_view(page):
    _open(page)
    page.hover("#map-figure .js-plotly-plot")
    with page.expect_download(timeout=30000) as download:
        page.click("#map-figure .modebar-btn[data-title='Download plot as a PNG']")
    assert download.value.suggested_filename == "descent-lab_toy_map_run.epochs40_sgd.momentum0.9_step40.png"
