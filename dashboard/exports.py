"""Exports for slides: the toy lab's playback as an animated GIF, MP4 or WebM, a self-contained
HTML file with Plotly frames, or a PNG or SVG still; each with a caption of its settings and a file
name that says what it shows. The page (a background job with progress and cancel) and the CLI
(``python -m dashboard.exports``) make the same files through ``export``.

Frames are the page's own figure builders at each step, rendered by Kaleido (Plotly's static
export, driving a headless Chrome or Chromium: ``BROWSER_PATH`` names it when it is not on the
PATH); GIF frames are assembled by Pillow, videos by FFmpeg (the imageio-ffmpeg binary).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from compute import LOSSES, InvalidSpec
from compute.script import loss_call, optimizer_call
from dashboard import figures as F
from dashboard.state import TOY, Checked, check_state, from_query
from dashboard.toyview import fit_data, shown_losses, toy_runs

# format: (MIME type, animated)
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
    """The file came out larger than MAX_BYTES."""


class ExportUnavailable(RuntimeError):
    """No browser for Kaleido, or no FFmpeg: the message says what to install."""


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
    losses = ", ".join(loss_call(spec).replace("()", "") for spec in specs)
    return (f"{losses} · torch.optim.{optimizer_call(run)} · start w={_short(run.init_weight)}, "
            f"b={_short(run.init_bias)} · {loop} · " + (f"steps {first}–{last}" if last > first else f"step {last}"))


def file_name(checked: Checked, spec: ExportSpec, first: int, last: int) -> str:
    """``descent-lab_map_MSELoss_SGD-lr0.1-momentum0.9_steps0-100.gif``: what the file shows."""
    state = checked.state
    run = checked.specs[shown_losses(state)[0]][0]
    loss = "all-losses" if FIGURES[spec.figure] == "all" else LOSSES[state["loss"]].title
    optimizer = re.sub(r"[^A-Za-z0-9.=-]+", "-", optimizer_call(run)).replace("=", "").strip("-")
    steps = f"step{last}" if not spec.animated else f"steps{first}-{last}"
    return f"descent-lab_{spec.figure}_{loss}_{optimizer}_{steps}.{spec.fmt}"


class View:
    """The toy lab's view of a checked state, as the page computes it: runs, maps, data."""

    def __init__(self, checked: Checked, figure: str) -> None:
        state = dict(checked.state, tab=FIGURES[figure])
        self.checked = check_state(state)
        if not self.checked.ok:
            raise InvalidSpec("; ".join(self.checked.blocking.values()))
        self.state, self.figure = self.checked.state, figure
        self.runs, self.grids = toy_runs(self.checked)
        self.x, self.y, self.problem = fit_data(self.state)
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
        return F.make_fit_figure(self.x, self.y, runs, step, self.problem)


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
    if os.environ.get("BROWSER_PATH"):
        return
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        if found := shutil.which(name):
            os.environ["BROWSER_PATH"] = found
            return
    raise ExportUnavailable("Exports need Chrome or Chromium on the server (Debian: apt-get install chromium; "
                            "or set BROWSER_PATH).")


def _images(figures: list[dict], fmt: str, width: int, height: int,
            progress: Callable[[int, int], None]) -> list[bytes]:
    import kaleido

    _browser()
    kaleido.start_sync_server(silence_warnings=True)
    try:
        out = []
        for i, figure in enumerate(figures):
            out.append(kaleido.calc_fig_sync(figure, opts={"format": fmt, "width": width, "height": height,
                                                           "scale": 1}))
            progress(i + 1, len(figures))
        return out
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


def _gif(pngs: list[bytes], fps: int) -> bytes:
    from PIL import Image

    frames = [Image.open(io.BytesIO(png)).convert("RGB") for png in pngs]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=round(1000 / fps),
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


def _html(figures: list[dict], steps: list[int], fps: int, width: int, height: int) -> bytes:
    """One file: Plotly.js inlined, the first frame drawn, every frame a Plotly frame, ▶ and a slider."""
    import plotly.graph_objects as go

    duration = round(1000 / fps)
    figure = go.Figure(figures[0])
    figure.frames = [go.Frame(data=f["data"], layout={"annotations": f["layout"]["annotations"]}, name=str(k))
                     for f, k in zip(figures, steps, strict=True)]
    play = {"frame": {"duration": duration, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    figure.update_layout(
        height=height + 60, width=width,
        updatemenus=[{"type": "buttons", "x": 0, "y": 1.12, "xanchor": "left", "showactive": False,
                      "buttons": [{"label": "▶ play", "method": "animate", "args": [None, play]},
                                  {"label": "⏸ pause", "method": "animate",
                                   "args": [[None], {"frame": {"duration": 0, "redraw": False}, "mode": "immediate"}]}]}],
        sliders=[{"active": 0, "currentvalue": {"prefix": "step "}, "pad": {"t": 30},
                  "steps": [{"label": str(k), "method": "animate",
                             "args": [[str(k)], {"frame": {"duration": 0, "redraw": True}, "mode": "immediate"}]}
                            for k in steps]}],
    )
    return figure.to_html(include_plotlyjs=True, full_html=True, auto_play=False,
                          config={"displaylogo": False}).encode()


def export(state: dict[str, Any], spec: ExportSpec, progress: Callable[[int, int], None] = lambda done, total: None
           ) -> Exported:
    """The file ``spec`` asks for, of the toy lab's view of ``state`` (a page state, as from_query's).

    ``progress(done, total)`` is called after each rendered frame (a job's cancel raises there).
    """
    checked = check_state(state)
    if not checked.ok:
        raise InvalidSpec("; ".join(checked.blocking.values()))
    view = View(checked, spec.figure)
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
    figures = [for_slides(view.at(k), text, width, height, k, spec.animated) for k in steps]
    name = file_name(view.checked, spec, first if spec.animated else steps[0], last if spec.animated else steps[0])
    mime = FORMATS[spec.fmt][0]
    if spec.fmt == "html":
        progress(1, 1)
        content = _html(figures, steps, spec.fps, width, height)
    elif spec.fmt in ("png", "svg"):
        content = _images(figures, spec.fmt, width, height, progress)[0]
    else:
        pngs = _images(figures, "png", width, height, progress)
        content = _gif(pngs, spec.fps) if spec.fmt == "gif" else _video(pngs, spec.fps, spec.fmt)
    if len(content) > MAX_BYTES:
        raise ExportTooLarge(f"the file would be {len(content) >> 20} MiB (at most {MAX_BYTES >> 20}): "
                             "fewer frames or a smaller size")
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
        print(f"\nerror: {err}", file=sys.stderr)
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
