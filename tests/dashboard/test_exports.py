"""Exports for slides (dashboard/exports.py): which steps, the caption and the file name, the
checks, the frames against torch's run, and the files themselves opened and counted (GIF frames,
MP4 and WebM duration, PNG size, SVG caption, HTML frames), made through the CLI."""

from __future__ import annotations

import io
import re
import tracemalloc

import imageio_ffmpeg
import pytest
from PIL import Image

from compute import InvalidSpec, run_trajectory
from dashboard import exports
from dashboard.exports import ExportSpec, View, caption, export, file_name, frame_steps, main
from dashboard.state import check_state, from_query


def _checked(query: dict):
    state, notes = from_query(query)
    assert notes == []
    return check_state(state)


def test_frames_spread_over_the_steps_with_both_ends():
    assert frame_steps(0, 100, 5) == [0, 25, 50, 75, 100]
    assert frame_steps(10, 13, 60) == [10, 11, 12, 13]  # fewer steps than frames: each step once
    steps = frame_steps(0, 5000, 150)
    assert len(steps) == 150 and steps[0] == 0 and steps[-1] == 5000


def test_the_caption_and_name_say_what_the_figure_shows():
    checked = _checked({"sgd.momentum": "0.9", "sgd.nesterov": "true", "run.batch_size": "10",
                        "run.clip_grad_norm": "true", "run.max_norm": "2", "loss": "huber", "huber.delta": "0.5"})
    text = caption(checked, 0, 80)
    assert text.startswith("HuberLoss(delta=0.5) · torch.optim.SGD(lr=0.1, momentum=0.9, nesterov=True)")
    assert "start w=6, b=-3" in text and "batch_size 10" in text and "max_norm 2" in text
    assert text.endswith("steps 0–80")
    assert caption(checked, 30, 30).endswith("step 30")
    assert file_name(checked, ExportSpec("map", "gif"), 0, 80) == \
        "descent-lab_map_HuberLoss_SGD-lr0.1-momentum0.9-nesterovTrue_steps0-80.gif"
    assert file_name(checked, ExportSpec("all-maps", "png"), 80, 80) == \
        "descent-lab_all-maps_all-losses_SGD-lr0.1-momentum0.9-nesterovTrue_step80.png"
    side = check_state({**checked.state, "tab": "all"})
    assert caption(side, 0, 1).startswith("MSELoss, L1Loss, HuberLoss(delta=0.5), SmoothL1Loss(beta=1.0) · ")


@pytest.mark.parametrize("kwargs, field", [
    ({"figure": "surface"}, "export.figure"), ({"fmt": "avi"}, "export.fmt"), ({"size": "4k"}, "export.size"),
    ({"frames": 1}, "export.frames"), ({"frames": exports.MAX_FRAMES + 1}, "export.frames"),
    ({"frames": 2.5}, "export.frames"), ({"fps": 7}, "export.fps"), ({"first": -1}, "export.first"),
    ({"first": 10, "last": 10}, "export.last"), ({"figure": ["map"]}, "export.figure"),
    ({"fmt": {"a": 1}}, "export.fmt"), ({"size": None}, "export.size"), ({"frames": True}, "export.frames"),
    ({"fps": [10]}, "export.fps"), ({"frames": "60"}, "export.frames"),
])
def test_bad_exports_are_refused_with_the_setting_named(kwargs, field):
    with pytest.raises(InvalidSpec) as err:
        ExportSpec(**kwargs)
    assert err.value.field == field


def test_each_frame_shows_torchs_run_at_its_step():
    checked = _checked({"sgd.momentum": "0.9", "run.epochs": "30"})
    view = View(checked, "map")
    traj = run_trajectory(checked.specs["mse"][0])
    for k in (0, 7, 30):
        marker = next(t for t in view.at(k)["data"] if t.get("name") == "step")
        assert marker["x"] == [float(traj.bias[k])] and marker["y"] == [float(traj.weight[k])]


def test_a_run_with_no_steps_in_range_is_a_message():
    state, _ = from_query({"run.epochs": "10"})
    with pytest.raises(InvalidSpec, match="no steps from 10 on"):
        export(state, ExportSpec("curve", "gif", first=50))


def test_a_file_over_the_cap_is_refused_even_when_the_estimate_let_it_through(monkeypatch):
    monkeypatch.setattr(exports, "MAX_BYTES", 4 << 20)  # the HTML page alone is 4.8 MB
    monkeypatch.setattr(exports, "estimate_bytes", lambda checked, spec: 0)
    state, _ = from_query({"run.epochs": "5"})
    with pytest.raises(exports.ExportTooLarge, match=r"^this HTML file would be 5 MiB, over the 4 MiB an export may "
                                                     r"be: lower the frames, or choose GIF, MP4 or WebM$"):
        export(state, ExportSpec("curve", "html", frames=3))


def _shown(query: dict, figure: str):
    return exports.figure_checked(_checked(query), figure)


def test_an_html_of_the_2x2_maps_at_301_is_refused_before_anything_is_built(monkeypatch):
    """150 frames of four 301 × 301 maps would be some 330 MB of HTML (and GiBs while built): the
    refusal comes from the settings alone, before a run, a map or a frame is computed."""
    def never(*args, **kwargs):
        raise AssertionError("computed before the refusal")

    for name in ("View", "toy_runs", "for_slides", "_html"):
        monkeypatch.setattr(exports, name, never)
    state, _ = from_query({"tab": "all", "grid.resolution": "301"})
    spec = ExportSpec("all-maps", "html", frames=exports.MAX_FRAMES)
    tracemalloc.start()
    try:
        with pytest.raises(exports.ExportTooLarge) as err:
            export(state, spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # one figure of these maps alone holds 2 MB
    assert err.value.field == "export.frames"
    assert re.fullmatch(r"this HTML file would be about [\d,]+ MiB, over the 40 MiB an export may be: lower the "
                        r"frames \(at most \d+ fit\) or the map resolution \(now 301\), or choose GIF, MP4 or WebM",
                        err.value.message), err.value.message
    fit = int(re.search(r"at most (\d+) fit", err.value.message).group(1))
    assert exports.estimate_bytes(_shown({"tab": "all", "grid.resolution": "301"}, "all-maps"),
                                  ExportSpec("all-maps", "html", frames=fit)) <= exports.MAX_BYTES
    assert exports.estimate_bytes(_shown({"tab": "all", "grid.resolution": "301"}, "all-maps"),
                                  ExportSpec("all-maps", "html", frames=fit + 1)) > exports.MAX_BYTES


# Settings with the most in each figure that still export quickly: a log map (whose base64 writes
# the most "/" as "\u002f"), clipped steps, mini-batch losses, the logistic neuron's sigmoid.
ESTIMATED = [
    ("map", {"log": "true", "grid.resolution": "201"}),
    ("map", {"run.clip_grad_norm": "true", "run.max_norm": "0.5", "run.epochs": "1000"}),
    ("all-maps", {"tab": "all", "grid.resolution": "71"}),
    ("curve", {"run.epochs": "200", "run.batch_size": "10"}),
    ("all-curves", {"tab": "all", "run.epochs": "300"}),
    ("fit", {"loss": "bce", "data.n": "300"}),
    ("all-fits", {"tab": "all"}),
]
HTML_FACTOR = 1.5  # the HTML estimate is at most this many times the real file (1.0–1.4 measured)


def test_every_figure_is_estimated():
    assert {figure for figure, _ in ESTIMATED} == set(exports.FIGURES) == set(exports.CONTENT)


@pytest.mark.parametrize(("figure", "query"), ESTIMATED)
def test_the_html_estimate_bounds_the_real_file(figure, query):
    state, _ = from_query(query)
    spec = ExportSpec(figure, "html", frames=8)
    estimate = exports.check_size(_shown(query, figure), spec)
    real = len(export(state, spec).content)
    assert real <= estimate <= HTML_FACTOR * real, (real, estimate)


@pytest.mark.parametrize("fmt", ["gif", "mp4", "webm", "png", "svg"])
def test_only_html_can_pass_the_cap_within_the_specs_bounds(fmt):
    """The pixel formats and SVG at their largest (every frame, the largest size, four maps at the
    largest resolution, the longest clipped run) are estimated under MAX_BYTES: never refused early."""
    query = {"tab": "all", "grid.resolution": "301", "run.epochs": "2000", "run.clip_grad_norm": "true"}
    spec = ExportSpec("all-maps", fmt, size="1920x1080", frames=exports.MAX_FRAMES)
    assert exports.check_size(_shown(query, "all-maps"), spec) <= exports.MAX_BYTES
    html = ExportSpec("all-maps", "html", size="1920x1080", frames=exports.MAX_FRAMES)
    assert exports.estimate_bytes(_shown(query, "all-maps"), html) > 8 * exports.MAX_BYTES


@pytest.mark.parametrize("figure", list(exports.FIGURES))
def test_the_defaults_are_never_refused(figure):
    for fmt in exports.FORMATS:
        exports.check_size(_shown({"tab": exports.FIGURES[figure]}, figure), ExportSpec(figure, fmt))


def _cli(tmp_path, *args: str):
    assert main([*args, "--size", "960x540", "--out", str(tmp_path)]) == 0
    (made,) = list(tmp_path.iterdir())
    return made


def _estimate(query: dict, figure: str, fmt: str, frames: int) -> int:
    return exports.estimate_bytes(_shown(query, figure), ExportSpec(figure, fmt, size="960x540", frames=frames))


# the CLI's rasters are drawn by Kaleido, which drives a headless Chromium: browser tests (`make test`,
# not `make check`'s inner loop)
RENDERS = pytest.mark.browser


@RENDERS
def test_the_cli_makes_a_gif_of_the_asked_frames(tmp_path):
    made = _cli(tmp_path, "--format", "gif", "--query", "sgd.lr=0.2&run.epochs=20", "--frames", "4", "--fps", "5")
    assert made.name == "descent-lab_map_MSELoss_SGD-lr0.2_steps0-20.gif"
    image = Image.open(made)
    assert image.n_frames == 4 and image.size == (960, 540) and image.info["duration"] == 200
    estimate = _estimate({"sgd.lr": "0.2", "run.epochs": "20"}, "map", "gif", 4)
    assert made.stat().st_size <= estimate <= 10 * made.stat().st_size  # pixel formats: within 10×


@RENDERS
@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_the_cli_makes_a_video_of_the_asked_length(tmp_path, fmt):
    made = _cli(tmp_path, "--format", fmt, "--figure", "all-maps", "--query", "tab=all&run.epochs=20",
                "--frames", "6", "--fps", "5")
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(made))
    assert frames == 6 and seconds == pytest.approx(6 / 5, abs=0.05)
    assert made.stat().st_size <= _estimate({"tab": "all", "run.epochs": "20"}, "all-maps", fmt, 6)


@RENDERS
def test_the_cli_makes_stills_with_the_caption(tmp_path):
    (tmp_path / "png").mkdir()
    png = _cli(tmp_path / "png", "--format", "png", "--query", "step=7", "--figure", "fit")
    assert png.name == "descent-lab_fit_MSELoss_SGD-lr0.1_step7.png"
    assert Image.open(png).size == (960, 540)
    (tmp_path / "svg").mkdir()
    svg = _cli(tmp_path / "svg", "--format", "svg", "--query", "step=7&sgd.momentum=0.5")
    text = svg.read_text()
    assert text.startswith("<svg") and "torch.optim.SGD(lr=0.1, momentum=0.5)" in text and "step 7" in text


def test_the_cli_makes_a_self_contained_html_animation(tmp_path):
    made = _cli(tmp_path, "--format", "html", "--query", "run.epochs=20", "--frames", "3")
    html = made.read_text()
    assert "<script" in html and not re.search(r"<script[^>]*\ssrc=", html)  # plotly.js inlined: opens offline
    assert re.findall(r'"label":"(\d+)","method":"animate"', html) == ["0", "10", "20"]


def test_the_cli_says_what_is_wrong(tmp_path, capsys):
    assert main(["--frames", "1", "--out", str(tmp_path)]) == 2
    assert "frames must be a whole number from 2 to" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_missing_browser_is_a_message(monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setattr(exports.shutil, "which", lambda name: None)
    with pytest.raises(exports.ExportUnavailable, match="need Chrome or Chromium") as err:
        exports._browser()
    assert "apt-get" not in str(err.value) and "BROWSER_PATH" in err.value.hint, "commands are the host's, not the page's"


def test_a_gif_holds_every_frame_in_order():
    pngs = []
    for shade in (0, 120, 240):
        out = io.BytesIO()
        Image.new("RGB", (8, 6), (shade, shade, shade)).save(out, format="PNG")
        pngs.append(out.getvalue())
    gif = Image.open(io.BytesIO(exports._gif(pngs, 10)))
    seen = []
    for i in range(gif.n_frames):
        gif.seek(i)
        seen.append(gif.convert("RGB").getpixel((0, 0))[0])
    assert seen == [0, 120, 240]
