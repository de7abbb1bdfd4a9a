"""Exports for slides: the toy lab's playback as an animated GIF, MP4 or WebM, a self-contained
HTML file with Plotly frames, or a PNG or SVG still; each with a caption of its settings and a file
name that says what it shows. The page (a background job with progress and cancel) and the CLI
(``python -m dashboard.exports``) make the same files through ``export``.

Frames are the page's own figure builders at each step, rendered by Kaleido (Plotly's static
export, driving a headless Chrome or Chromium: ``BROWSER_PATH`` names it when it is not on the
PATH); GIF frames are assembled by Pillow, videos by FFmpeg (the imageio-ffmpeg binary).

A file is estimated from its settings before anything is built (``estimate_bytes``), and refused
when it would pass MAX_BYTES, with what to lower (``ExportTooLarge``).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compute import LOSSES, InvalidSpec
from compute.script import loss_call, optimizer_call
from compute.surfaces import NONE, SURFACES
from dashboard import figures as F
from dashboard.compat import stop_kaleido
from dashboard.settings import settings
from dashboard.state import TOY, Checked, check_state, from_query
from dashboard.toyview import fit_data, shown_losses, shown_title, toy_runs

# format: (MIME type, animated)
log = logging.getLogger(__name__)
KALEIDO_STOP_S = 20.0  # the renderer's shutdown, at most (dashboard/compat.py stop_kaleido)
FORMATS = {"gif": ("image/gif", True), "mp4": ("video/mp4", True), "webm": ("video/webm", True),
           "html": ("text/html", True), "png": ("image/png", False), "svg": ("image/svg+xml", False)}
# which figure, by the tab it belongs to
FIGURES = {"map": "single", "curve": "single", "fit": "single",
           "all-maps": "all", "all-curves": "all", "all-fits": "all"}
FIGURE_LABELS = {"map": "loss map", "curve": "loss per step", "fit": "fitted line",
                 "all-maps": "2 × 2 loss maps", "all-curves": "loss per step (all losses)",
                 "all-fits": "fitted lines (all losses)"}
SIZES = {"960x540": (960, 540), "1280x720": (1280, 720), "1920x1080": (1920, 1080)}
FPS = (5, 10, 15, 20, 30)
MAX_FRAMES = 150  # an animation's frames at most (Kaleido renders about 3 to 6 a second here)
DEFAULT_FRAMES = 60
MAX_BYTES = 40 << 20  # a file larger than this is refused (it travels back through the job store)


class ExportTooLarge(InvalidSpec):
    """The file would be (or came out) larger than MAX_BYTES; the message names what to lower."""


class ExportUnavailable(RuntimeError):
    """No browser for Kaleido: ``str`` says so to a participant, ``hint`` what the host installs."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True, slots=True)
class ExportSpec:
    """One export of the toy lab's view: what, how, and which steps (validated on creation)."""

    figure: str = "map"
    fmt: str = "gif"
    size: str = "1280x720"
    frames: int = DEFAULT_FRAMES
    fps: int = 10
    first: int = 0
    last: int | None = None  # None: the run's last step

    def __post_init__(self) -> None:
        if not isinstance(self.figure, str) or self.figure not in FIGURES:
            raise InvalidSpec(f"figure must be one of {', '.join(FIGURES)}", "export.figure")
        if not isinstance(self.fmt, str) or self.fmt not in FORMATS:
            raise InvalidSpec(f"format must be one of {', '.join(FORMATS)}", "export.fmt")
        if not isinstance(self.size, str) or self.size not in SIZES:
            raise InvalidSpec(f"size must be one of {', '.join(SIZES)}", "export.size")
        if not isinstance(self.frames, int) or isinstance(self.frames, bool) or not 2 <= self.frames <= MAX_FRAMES:
            raise InvalidSpec(f"frames must be a whole number from 2 to {MAX_FRAMES}", "export.frames")
        if isinstance(self.fps, bool) or self.fps not in FPS:
            raise InvalidSpec(f"fps must be one of {', '.join(map(str, FPS))}", "export.fps")
        if not isinstance(self.first, int) or isinstance(self.first, bool) or self.first < 0:
            raise InvalidSpec("first must be a step, 0 or more", "export.first")
        if self.last is not None and (not isinstance(self.last, int) or self.last <= self.first):
            raise InvalidSpec("last must be a step after first", "export.last")

    @property
    def animated(self) -> bool:
        return FORMATS[self.fmt][1]


def frame_steps(first: int, last: int, frames: int) -> list[int]:
    """At most ``frames`` steps from ``first`` to ``last``, evenly spread, both ends included."""
    return sorted(set(np.rint(np.linspace(first, last, min(frames, last - first + 1))).astype(int).tolist()))


def _short(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def caption(checked: Checked, first: int, last: int) -> str:
    """The settings a figure shows: loss(es), the optimizer's torch.optim call, the loop, the steps."""
    state = checked.state
    specs = [checked.specs[loss][0] for loss in shown_losses(state)]
    run = specs[0]
    loop = f"{state['run.epochs']} epochs"
    if state["run.batch_size"] and state["run.batch_size"] < state["data.n"]:
        loop += f", batch_size {state['run.batch_size']} (batch_seed {state['run.batch_seed']})"
    if state["run.clip_grad_norm"]:
        loop += f", clip_grad_norm_ max_norm {_short(state['run.max_norm'])}"
    if not state["run.zero_grad"]:
        loop += ", zero_grad off"
    if run.surface.on:
        losses = f"{run.surface.title} f(x, y) = {SURFACES[run.surface.name].expression(run.surface.values).text}"
        start = f"start x={_short(run.init_bias)}, y={_short(run.init_weight)}"
    else:
        losses = ", ".join(loss_call(spec).replace("()", "") for spec in specs)
        start = f"start w={_short(run.init_weight)}, b={_short(run.init_bias)}"
    return (f"{losses} · torch.optim.{optimizer_call(run)} · {start} · {loop} · "
            + (f"steps {first}–{last}" if last > first else f"step {last}"))


def file_name(checked: Checked, spec: ExportSpec, first: int, last: int) -> str:
    """``descent-lab_map_MSELoss_SGD-lr0.1-momentum0.9_steps0-100.gif``: what the file shows."""
    state = checked.state
    run = checked.specs[shown_losses(state)[0]][0]
    loss = ("all-losses" if FIGURES[spec.figure] == "all" and not run.surface.on
            else re.sub(r"[^A-Za-z0-9]+", "-", shown_title(state, state["loss"])).strip("-"))
    optimizer = re.sub(r"[^A-Za-z0-9.=-]+", "-", optimizer_call(run)).replace("=", "").strip("-")
    steps = f"step{last}" if not spec.animated else f"steps{first}-{last}"
    return f"descent-lab_{spec.figure}_{loss}_{optimizer}_{steps}.{spec.fmt}"


def figure_checked(checked: Checked, figure: str) -> Checked:
    """The checked state of the tab ``figure`` belongs to (its losses, its specs); InvalidSpec if blocked."""
    shown = check_state(dict(checked.state, tab=FIGURES[figure]))
    if not shown.ok:
        raise InvalidSpec("; ".join(shown.blocking.values()))
    return shown


class View:
    """The toy lab's view of a checked state, as the page computes it: runs, maps, data."""

    def __init__(self, checked: Checked, figure: str) -> None:
        self.checked = figure_checked(checked, figure)
        self.state, self.figure = self.checked.state, figure
        self.runs, self.grids = toy_runs(self.checked)
        self.x, self.y, self.problem, self.feature = fit_data(self.state)
        self.last = max(traj.finite_steps for traj in self.runs.values()) - 1

    def at(self, step: int) -> dict:
        """The figure at ``step``, built by the page's own builders."""
        runs, log = self.runs, self.state["log"]
        if self.figure == "map":
            (title, traj), grid = next(iter(runs.items())), next(iter(self.grids.values()))
            return F.make_map_figure(grid, traj, title, step, log)
        if self.figure == "all-maps":
            return F.make_all_maps_figure(self.grids, runs, step, log)
        if self.figure in ("curve", "all-curves"):
            return F.make_curve_figure(runs, step)
        if self.state["surface"] != NONE:  # a surface has no data to fit: its point's coordinates, as the page
            return F.make_coordinates_figure(runs)
        return F.make_fit_figure(self.x, self.y, runs, step, self.problem, self.feature)


def for_slides(figure: dict, text: str, width: int, height: int, step: int, animated: bool) -> dict:
    """The figure sized for a slide: larger text, and the caption (and the step) under it."""
    scale = width / 1280
    layout = dict(figure["layout"])
    margin = dict(layout.get("margin", {}))
    margin["b"] = int(margin.get("b", 40) + 70 * scale)
    margin["t"] = int(max(margin.get("t", 50), 60 * scale))
    layout.update(width=width, height=height, margin=margin, font={"size": round(16 * scale)},
                  paper_bgcolor="white", uirevision=None)
    if isinstance(layout.get("title"), dict):
        layout["title"] = {**layout["title"], "font": {"size": round(22 * scale)}}
    if isinstance(layout.get("legend"), dict) and layout["legend"].get("orientation") == "h":
        layout["legend"] = {**layout["legend"], "y": -0.08, "yanchor": "top"}
    note = {"text": text + (f" · <b>step {step}</b>" if animated else ""), "xref": "paper", "yref": "paper",
            "x": 0, "xanchor": "left", "y": 0, "yanchor": "top", "yshift": -int(margin["b"] - 30 * scale),
            "showarrow": False, "align": "left", "font": {"size": round(13 * scale), "color": "#333"}}
    layout["annotations"] = [*layout.get("annotations", []), note]
    return {"data": figure["data"], "layout": layout}


@dataclass(frozen=True, slots=True)
class Exported:
    name: str
    mime: str
    content: bytes
    frames: int


def _browser() -> None:
    """Point Kaleido at a Chrome or Chromium on this machine, or say what to install."""
    if settings().server.BROWSER_PATH:
        os.environ["BROWSER_PATH"] = settings().server.BROWSER_PATH  # where Kaleido looks for it
        return
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if found := shutil.which(name):
            os.environ["BROWSER_PATH"] = found
            return
    raise ExportUnavailable("Exports need Chrome or Chromium on the server, and it has none: ask its host.",
                            "Debian: apt-get install chromium; or set BROWSER_PATH to a Chrome or Chromium.")


def _images(figures: Iterable[dict], count: int, fmt: str, width: int, height: int,
            progress: Callable[[int, int], None]) -> list[bytes]:
    """Each of ``count`` figures rendered by Kaleido; each figure is built as it is rendered (a
    figure of the 2 × 2 maps at resolution 301 holds 2 MB of arrays: never all of them at once)."""
    import kaleido

    _browser()
    kaleido.start_sync_server(silence_warnings=True)
    try:
        out = []
        for i, figure in enumerate(figures):
            out.append(kaleido.calc_fig_sync(figure, opts={"format": fmt, "width": width, "height": height,
                                                           "scale": 1}))
            progress(i + 1, count)
        return out
    finally:
        if not stop_kaleido(KALEIDO_STOP_S):
            log.warning("export: Kaleido's renderer did not stop within %s s; a new one starts next time",
                        KALEIDO_STOP_S)


def _gif(pngs: list[bytes], fps: int) -> bytes:
    from PIL import Image

    frames = (Image.open(io.BytesIO(png)).convert("RGB") for png in pngs)  # decoded one at a time
    out = io.BytesIO()
    next(frames).save(out, format="GIF", save_all=True, append_images=frames, duration=round(1000 / fps),
                      loop=0)
    return out.getvalue()


def _video(pngs: list[bytes], fps: int, fmt: str) -> bytes:
    import imageio_ffmpeg
    from PIL import Image

    first = Image.open(io.BytesIO(pngs[0]))
    size = first.size
    codec = {"mp4": "libx264", "webm": "libvpx-vp9"}[fmt]
    params = ["-crf", "32", "-b:v", "0"] if fmt == "webm" else ["-crf", "20", "-movflags", "+faststart"]
    with tempfile.TemporaryDirectory() as scratch:
        path = str(Path(scratch) / f"export.{fmt}")
        writer = imageio_ffmpeg.write_frames(path, size, fps=fps, codec=codec, pix_fmt_out="yuv420p",
                                             macro_block_size=2, output_params=params, ffmpeg_log_level="error")
        writer.send(None)
        for png in pngs:
            writer.send(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).tobytes())
        writer.close()
        return Path(path).read_bytes()


HTML_CONTROLS_PX = 90  # the HTML file's row under the caption: ▶ play, ❚❚ pause and the step slider


def _html(figures: list[dict], steps: list[int], fps: int, width: int, height: int, title: str) -> bytes:
    """One file: Plotly.js inlined, the first frame drawn, every frame a Plotly frame, and a row of
    controls (▶, ❚❚ and a step slider) under the caption, in a margin of its own (over the plot they
    covered the axis; under it, the caption); the page's title is the caption."""
    import html

    import plotly.graph_objects as go

    duration = round(1000 / fps)
    figure = go.Figure(figures[0])
    figure.frames = [go.Frame(data=f["data"], layout={"annotations": f["layout"]["annotations"]}, name=str(k))
                     for f, k in zip(figures, steps, strict=True)]
    play = {"frame": {"duration": duration, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    margin = figures[0]["layout"]["margin"]
    plot = height - margin["t"] - margin["b"]  # the plot area's height: the paper's unit
    row = -(margin["b"] + 8) / plot  # just under the caption, in paper units
    figure.update_layout(
        height=height + HTML_CONTROLS_PX, width=width, margin={**margin, "b": margin["b"] + HTML_CONTROLS_PX},
        updatemenus=[{"type": "buttons", "direction": "right", "x": 0, "xanchor": "left", "y": row,
                      "yanchor": "top", "pad": {"t": 22}, "showactive": False,
                      "buttons": [{"label": "▶ play", "method": "animate", "args": [None, play]},
                                  {"label": "❚❚ pause", "method": "animate",
                                   "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}]}],
        sliders=[{"active": 0, "currentvalue": {"prefix": "step "}, "x": 0.2, "len": 0.8, "y": row,
                  "yanchor": "top", "pad": {"t": 0},
                  "steps": [{"label": str(k), "method": "animate",
                             "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}]}
                            for k in steps]}],
    )
    page = figure.to_html(include_plotlyjs=True, full_html=True, auto_play=False, config={"displaylogo": False})
    return page.replace("<head>", f"<head><title>Descent Lab: {html.escape(title)}</title>", 1).encode()


# ---- what a file will cost, known before any frame is built ------------------------------------
#
# An HTML export holds every frame's whole figure (each frame redraws the maps): the 2 × 2 maps at
# resolution 301 are 365,000 numbers a frame, 150 frames some 330 MB of text and GiBs while it is
# built. So ``export`` estimates the file from the settings alone (``estimate_bytes``) and refuses
# early; the check of the finished file against MAX_BYTES stays as the last line of defence.
#
# The costs below are measured on real exports (plotly 7.1 with Plotly.js inlined, Kaleido 1.5 and
# Chromium, Pillow 13, imageio-ffmpeg's FFmpeg), each rounded up past the largest seen:
# - HTML: Plotly.js and the page around it 4.82 MB; per frame about 3.3 kB (its caption, its slider
#   step) and 280 B a trace; a typed array's 4-byte value is base64 (5.33 B) whose "/" the page
#   writes as "\u002f" (6 B), so 5.6–7.7 B a value (a log map has the most "/"); a JSON number 20 B.
#   The estimate is 1.0–1.4 times the real file (1.4: large maps of few "/").
# - GIF: at most 32 kB a frame at 960 × 540 and 53 kB at 1920 × 1080 (the 2 × 2 maps); MP4 and WebM
#   at most 8.6 kB. PNG at most 0.35 B a pixel. The estimates are 2–12 times the real GIFs and PNGs,
#   4–20 times the videos (a curve's frames differ least).
# - SVG draws the contours (about 2 kB per map and grid line) and every marker (80 B): at most 2.6 MB
#   (the 2 × 2 maps at 301); the estimate, counting map values instead, is 1.3–35 times the file.
# Within the spec's bounds (MAX_FRAMES, a resolution of at most 301, SIZES) only HTML can pass
# MAX_BYTES: GIF, MP4, WebM, PNG and SVG stay under 17 MB at their largest. They are estimated all
# the same, so that a larger bound (more frames, a 4K size) is caught here too.


@dataclass(frozen=True, slots=True)
class Content:
    """What one frame's figure holds: its traces, the values of its maps (a contour's z, x and y), the
    values of its other typed arrays (paths, curves, data points; a float64 counts twice) and the
    numbers written out as JSON text (markers, fitted lines)."""

    traces: int = 0
    grid: int = 0
    points: int = 0
    listed: int = 0

    def __add__(self, other: Content) -> Content:
        return Content(self.traces + other.traces, self.grid + other.grid, self.points + other.points,
                       self.listed + other.listed)


@dataclass(frozen=True, slots=True)
class Cost:
    """A format's bytes: ``fixed + frames × (frame + pixel × width × height + trace × traces
    + grid × map values + point × other values + listed × listed numbers)``."""

    fixed: int = 0
    frame: int = 0
    pixel: float = 0.0
    trace: int = 0
    grid: float = 0.0
    point: float = 0.0
    listed: int = 0


COSTS = {
    "html": Cost(fixed=4_850_000, frame=4_500, trace=800, grid=9.6, point=9.6, listed=24),
    "gif": Cost(fixed=10_000, frame=50_000, pixel=0.03),
    "mp4": Cost(fixed=10_000, frame=10_000, pixel=0.01),
    "webm": Cost(fixed=10_000, frame=10_000, pixel=0.01),
    "png": Cost(frame=100_000, pixel=0.5),
    "svg": Cost(fixed=100_000, trace=2_000, grid=20, point=80, listed=60),
}


def _map_content(run: Any, grid: Any) -> Content:
    """One map panel (``figures._map_panel``): the contour's z, x and y; the whole path's bias,
    weight and loss (and the clipped steps'); the start, end, step and moment markers."""
    rows, r = run.steps + 1, grid.resolution
    return Content(traces=7, grid=r * r + 2 * r, points=(5 if run.clip_grad_norm else 3) * rows, listed=10)


def _curve_content(run: Any, _grid: Any) -> Content:
    """One run's loss per step (``figures.make_curve_figure``): step and loss of every row, the step's
    marker, and the mini-batch loss when there are batches."""
    rows, batches = run.steps + 1, run.batches_per_epoch > 1
    return Content(traces=2 + batches, points=2 * rows * (1 + batches), listed=2)


def _fit_content(run: Any, _grid: Any) -> Content:
    """One run's fitted line or sigmoid (``figures.fit_span``: 2 or 60 points) as JSON numbers; on a
    surface its x and y at every step (two typed arrays, and the steps)."""
    if run.surface.on:
        return Content(traces=2, points=4 * (run.steps + 1))
    return Content(traces=1, listed=2 * (60 if LOSSES[run.loss.name].problem == "classification" else 2))


def _fit_base(checked: Checked) -> Content:
    """The fit figure's data points (x, y), and the true curve (100 float64 points) or the boundary."""
    if checked.state["surface"] != NONE:
        return Content()
    return Content(traces=2, points=2 * checked.state["data.n"] + 2 * 2 * 100, listed=4)


# per figure: (what each shown loss adds, what the figure holds besides)
CONTENT: dict[str, tuple[Callable[[Any, Any], Content], Callable[[Checked], Content]]] = {
    "map": (_map_content, lambda _checked: Content()),
    "all-maps": (_map_content, lambda _checked: Content()),
    "curve": (_curve_content, lambda _checked: Content()),
    "all-curves": (_curve_content, lambda _checked: Content()),
    "fit": (_fit_content, _fit_base),
    "all-fits": (_fit_content, _fit_base),
}


def figure_content(checked: Checked, figure: str) -> Content:
    """An upper bound of what one frame of ``figure`` holds, from the checked specs alone (a run's
    rows: its steps + 1, whether it diverges or not)."""
    per_loss, base = CONTENT[figure]
    total = base(checked)
    for loss in shown_losses(checked.state):
        total += per_loss(*checked.specs[loss])
    return total


def frame_count(checked: Checked, spec: ExportSpec) -> int:
    """An upper bound of the frames ``export`` makes: the spec's, at most one per step of the runs."""
    if not spec.animated:
        return 1
    steps = max(checked.specs[loss][0].steps for loss in shown_losses(checked.state))
    last = steps if spec.last is None else min(spec.last, steps)
    return max(1, min(spec.frames, last - min(spec.first, steps) + 1))


def _frame_bytes(checked: Checked, spec: ExportSpec) -> float:
    """One frame's bytes at most: ``frame + pixel × width × height + trace × traces + grid × map values
    + point × other values + listed × listed numbers`` with the format's row of ``COSTS``."""
    cost, content = COSTS[spec.fmt], figure_content(checked, spec.figure)
    width, height = SIZES[spec.size]
    return (cost.frame + cost.pixel * width * height + cost.trace * content.traces + cost.grid * content.grid
            + cost.point * content.points + cost.listed * content.listed)


def estimate_bytes(checked: Checked, spec: ExportSpec) -> int:
    """The file's size at most (see the costs' notes for how far above it), from the settings alone,
    before anything is computed: ``fixed + frames × frame bytes`` (``_frame_bytes``). An HTML file
    holds the first figure once more (drawn before ▶ is pressed)."""
    frames = frame_count(checked, spec) + (spec.fmt == "html")
    return int(COSTS[spec.fmt].fixed + frames * _frame_bytes(checked, spec))


def _too_large(size: int, checked: Checked, spec: ExportSpec, estimated: bool) -> ExportTooLarge:
    """The refusal, naming what to lower: the frames (and how many fit), the map's resolution, the
    size, or the format."""
    lower = []
    if spec.animated:
        html = spec.fmt == "html"
        fit = int((MAX_BYTES - COSTS[spec.fmt].fixed) // _frame_bytes(checked, spec)) - html
        lower.append(f"the frames (at most {fit} fit)" if 2 <= fit < spec.frames else "the frames")
    if figure_content(checked, spec.figure).grid:
        lower.append(f"the map resolution (now {checked.state['grid.resolution']})")
    if spec.fmt != "html":
        lower.append("the size")
    text = ", ".join(lower[:-1]) + (" or " if len(lower) > 1 else "") + lower[-1]
    if spec.fmt == "html":
        text += ", or choose GIF, MP4 or WebM"
    what = f"about {size / 2**20:,.0f} MiB" if estimated else f"{size / 2**20:,.0f} MiB"
    return ExportTooLarge(f"this {spec.fmt.upper()} file would be {what}, over the {MAX_BYTES >> 20} MiB an "
                          f"export may be: lower {text}", "export.frames" if spec.animated else "export.fmt")


def check_size(checked: Checked, spec: ExportSpec) -> int:
    """The estimate of the file's size; ExportTooLarge, naming what to lower, when it passes MAX_BYTES.
    ``checked`` is the figure's tab's (``figure_checked``)."""
    size = estimate_bytes(checked, spec)
    if size > MAX_BYTES:
        raise _too_large(size, checked, spec, estimated=True)
    return size


def export(state: dict[str, Any], spec: ExportSpec, progress: Callable[[int, int], None] = lambda done, total: None
           ) -> Exported:
    """The file ``spec`` asks for, of the toy lab's view of ``state`` (a page state, as from_query's).

    ``progress(done, total)`` is called after each rendered frame (a job's cancel raises there).
    A file whose estimate (``estimate_bytes``) passes MAX_BYTES is refused before anything is
    computed; one that comes out larger all the same is refused after.
    """
    checked = check_state(state)
    if not checked.ok:
        raise InvalidSpec("; ".join(checked.blocking.values()))
    shown = figure_checked(checked, spec.figure)
    check_size(shown, spec)  # before a run, a map or a frame is computed
    view = View(shown, spec.figure)
    first = min(spec.first, view.last)
    last = view.last if spec.last is None else min(spec.last, view.last)
    if spec.animated:
        if last <= first:
            raise InvalidSpec(f"the run has no steps from {first} on: lower first", "export.first")
        steps = frame_steps(first, last, spec.frames)
    else:  # a still: the step shown (the playback step on the page; the last one by default)
        step = state.get("step")
        steps = [min(step, view.last) if isinstance(step, int) else last]
    width, height = SIZES[spec.size]
    text = caption(view.checked, first if spec.animated else steps[0], last if spec.animated else steps[0])
    figures = (for_slides(view.at(k), text, width, height, k, spec.animated) for k in steps)
    name = file_name(view.checked, spec, first if spec.animated else steps[0], last if spec.animated else steps[0])
    mime = FORMATS[spec.fmt][0]
    if spec.fmt == "html":
        progress(1, 1)
        content = _html(list(figures), steps, spec.fps, width, height, text)
    elif spec.fmt in ("png", "svg"):
        content = _images(figures, len(steps), spec.fmt, width, height, progress)[0]
    else:
        pngs = _images(figures, len(steps), "png", width, height, progress)
        content = _gif(pngs, spec.fps) if spec.fmt == "gif" else _video(pngs, spec.fps, spec.fmt)
    if len(content) > MAX_BYTES:  # the last line of defence: the estimate let it through
        raise _too_large(len(content), shown, spec, estimated=False)
    return Exported(name, mime, content, len(steps))


def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.exports --format gif --figure map --query 'sgd.lr=0.2' --out DIR``."""
    parser = argparse.ArgumentParser(prog="python -m dashboard.exports", description=__doc__.split("\n\n")[0])
    parser.add_argument("--query", default="", help="the toy lab's settings as in its link (sgd.momentum=0.9&tab=all)")
    parser.add_argument("--figure", choices=list(FIGURES), default="map")
    parser.add_argument("--format", dest="fmt", choices=list(FORMATS), default="gif")
    parser.add_argument("--size", choices=list(SIZES), default="1280x720")
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help=f"at most {MAX_FRAMES}")
    parser.add_argument("--fps", type=int, choices=FPS, default=10)
    parser.add_argument("--first", type=int, default=0, help="the first step of an animation")
    parser.add_argument("--last", type=int, default=None, help="its last step (default: the run's last)")
    parser.add_argument("--out", default=".", help="a folder (the file is named after what it shows) or a file")
    args = parser.parse_args(argv)
    from urllib.parse import parse_qsl

    state, notes = from_query(dict(parse_qsl(args.query.lstrip("?"))), TOY)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    try:
        spec = ExportSpec(args.figure, args.fmt, args.size, args.frames, args.fps, args.first, args.last)
        done = export(state, spec, progress=lambda d, t: print(f"\rframe {d}/{t}", end="", file=sys.stderr))
    except (InvalidSpec, ExportUnavailable) as err:
        print(f"\nerror: {err} {getattr(err, 'hint', '')}".rstrip(), file=sys.stderr)
        return 2
    out = Path(args.out)
    path = out / done.name if out.is_dir() else out
    path.write_bytes(done.content)
    print(f"\n{path} ({len(done.content):,} bytes, {done.frames} frame{'s' if done.frames > 1 else ''})",
          file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
