"""Pure figure builders: results in, a Plotly figure out; no I/O, no globals, no callbacks.

Every page's figures, built on the primitives of ``dashboard/primitives.py`` (a loss contour, a
loss surface, a path, the log label): a figure here says only what is its own.

Builders return the figure's JSON form (``{"data": [...], "layout": {...}}``) with arrays
pre-encoded as Plotly typed arrays (base64). Building and validating ``go.Figure`` objects
cost 40-90 ms for the 2 × 2 view on this machine, against a 5 ms budget for a cached
update; tests run every builder's output through ``go.Figure`` so that Plotly still
validates every property. Each figure keeps its "current step" traces at fixed indices so
that playback patches only those.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from dash import Patch

from compute import LossGrid, Trajectory
from compute.curvature import CurvaturePath
from compute.data import BOUNDARY, BOUNDARY_TEXT, TRUE_CURVE_TEXT, true_curve
from compute.landscape import MARK_NAMES, Landscape
from compute.nets import Trained
from compute.preview import Preview
from compute.spectrum import Sharpening
from compute.sweep import MEASURES, SweepResult
from dashboard.primitives import (
    LINEAR_AXIS,
    LOG_AXIS,
    LOG_FLOOR,
    START_MARKER,
    Figure,
    centred_title,
    log_label,
    loss_contour,
    loss_surface,
    marker_trace,
    path_trace,
    scaled,
    surface_layout,
    typed_array,
)

RUN_COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")
PATH_COLOUR = "#d62728"
STEP_MARKER = {"color": "#ffdd00", "symbol": "diamond", "line": {"color": "black", "width": 1}}
# Traces of one map panel, in order: contour (heatmap-coloured), path, start, end, current,
# the optimizer's moment arrow at the current step, the clipped steps.
MAP_TRACES_PER_PANEL = 7
MAP_PATH, MAP_START, MAP_END, MAP_CURRENT, MAP_ARROW = 1, 2, 3, 4, 5
ARROW_COLOUR = "#ff7f0e"
SURFACE_CURRENT = 4  # surface, path, start, end, current
FIT_FIRST_LINE = 2  # data, true curve, then one fitted line per run
# the compare map: the map, then per run its path, its end and its playback step; the start last
COMPARE_TRACES_PER_RUN = 3
COMPARE_PATH, COMPARE_END, COMPARE_CURRENT = 1, 2, 3
INSIDE_LEGEND = {"y": 0.99, "yanchor": "top", "bgcolor": "rgba(255,255,255,0.7)"}


def _grid_contour(grid: LossGrid, log: bool, **extra: Any) -> dict:
    """The toy's loss map over (bias, weight), its colour bar 90% of the plot's height; on a log
    scale its colours span the values but for the lowest 1% (``log_span``)."""
    z = scaled(grid.loss, log)
    return loss_contour(typed_array(grid.biases), typed_array(grid.weights), z, log,
                        _short(grid), colorbar={"len": 0.9}, what=grid.value, **log_span(z, log), **extra)


def log_span(z: np.ndarray, log: bool) -> dict[str, Any]:
    """A log colour scale's range, from the 1st percentile of the map's values to its top: a minimum
    that is exactly 0 (a surface's, met by a grid point) is floored at 1e-12, and twelve decades of
    colour for a few points left the rest of the map one shade (those points take the lowest colour)."""
    finite = z[np.isfinite(z)]
    if not log or not finite.size:
        return {}
    low, high = float(np.percentile(finite, 1)), float(finite.max())
    return {"zmin": low, "zmax": high, "zauto": False} if high > low else {}


def _short(grid: LossGrid) -> tuple[str, str]:
    """The axes' names in a hover: "bias" and "weight" (a surface's: x and y)."""
    return grid.axes[0].split()[0], grid.axes[1].split()[0]


def _grid_surface(grid: LossGrid, log: bool, **extra: Any) -> dict:
    return loss_surface(typed_array(grid.biases), typed_array(grid.weights), scaled(grid.loss, log), opacity=0.9,
                        **extra)


# A schedule's lr: the path's points and the lr strip under the loss curve share this scale
LR_SCALE = "Viridis"


def scheduled(traj: Trajectory) -> bool:
    """Whether the run's lr moved during it (a schedule's): its path is coloured by lr."""
    n = traj.finite_steps
    return traj.lr is not None and n > 1 and bool(np.nanmax(traj.lr[:n]) > np.nanmin(traj.lr[:n]))


def _lr_marker(traj: Trajectory, size: float) -> dict:
    n = traj.finite_steps
    lr = traj.lr[:n]
    return {"color": typed_array(lr.astype(np.float32)), "colorscale": LR_SCALE, "cmin": float(np.nanmin(lr)),
            "cmax": float(np.nanmax(lr)), "size": size}


def _map_path(traj: Trajectory, name: str, colour: str, hover_name: str = "",
              axes: tuple[str, str] = ("bias", "weight"), **extra: Any) -> dict:
    """A run's path on the (bias, weight) map, each point's loss in its hover; where a schedule moved
    the lr, its points are coloured by the step's lr (dark: low, bright: high) and say it."""
    b, w, loss = _path(traj)
    hover_name += f"{axes[0]} %{{x:.4f}}<br>{axes[1]} %{{y:.4f}}"
    if scheduled(traj):
        n = traj.finite_steps
        text = np.stack([loss.astype(np.float64), traj.lr[:n]], axis=1).round(8).tolist()
        return path_trace(typed_array(b), typed_array(w), f"{name} (points: lr)", colour, customdata=text,
                          hovertemplate=f"{hover_name}<br>loss %{{customdata[0]:.5g}}"
                                        "<br>lr %{customdata[1]:.4g}<extra></extra>",
                          **{**extra, "marker": _lr_marker(traj, 6)})
    return path_trace(typed_array(b), typed_array(w), name, colour, text=typed_array(loss),
                      hovertemplate=f"{hover_name}<br>loss %{{text:.5g}}"
                                    "<extra></extra>", **extra)


# A map's axes: one unit of bias as long on screen as one unit of weight, so that contours keep their
# shape, a gradient step looks perpendicular to its contour and the Hessian's eigenvectors look
# orthogonal (the plot area shrinks to the map's aspect; assets/descent.js keeps the colour bar
# beside it and has a switch that fills the space instead).
EQUAL_SCALE = {"scaleanchor": "x", "scaleratio": 1, "constrain": "domain"}
# ... a map narrower than its space keeps to the side of its colour bar (the bar stands at the
# space's right edge: the page's first draw has it in place, without moving it after)
BAR_SIDE = {"constrain": "domain", "constraintoward": "right"}
# The legend at the foot of the figure, under the axis's title (placed at the plot's foot, as a
# share of the plot's height, it ran into the title when the figure grew). Each entry its own group
# (``flowing``), so that a row holds as many as fit: otherwise Plotly gives every entry the widest
# one's width, and a map's legend became a column of five rows over the ticks. The bottom margin
# holds the ticks and the title (40 px) and two rows of legend.
FOOT_LEGEND = {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0.5, "xanchor": "center",
               "traceorder": "grouped"}
FOOT_MARGIN = 90


# an axis whose title keeps clear of its tick labels at any text size (the margin grows to hold both)
TITLED = {"automargin": True}


def flowing(data: list[dict]) -> list[dict]:
    """The traces, each without a legend group in one of its own (FOOT_LEGEND's entries flow in rows)."""
    return [t if t.get("legendgroup") else {**t, "legendgroup": f"{i}:{t.get('name', '')}"} for i, t in enumerate(data)]


def _map_layout(grid: LossGrid, title: str, uirevision: str) -> dict:
    """One (bias, weight) map's layout: the grid's ranges at equal scale, the legend at the foot."""
    xr, yr = _axis_ranges(grid)
    return {"title": centred_title(title), "margin": {"l": 60, "r": 10, "t": 50, "b": FOOT_MARGIN},
            "xaxis": {"title": {"text": grid.axes[0], "standoff": 6}, "range": xr, **BAR_SIDE, **TITLED},
            "yaxis": {"title": {"text": grid.axes[1], "standoff": 6}, "range": yr, **EQUAL_SCALE, **TITLED},
            "legend": FOOT_LEGEND, "uirevision": uirevision, "shapes": minimum_rings(grid),
            # the ranges asked for: the browser sets them again once where Plotly's equal scale widened one
            # in a new figure instead of narrowing its space (assets/descent.js squareOnce)
            "meta": {"ranges": {"xaxis": xr, "yaxis": yr}}}


def minimum_rings(grid: LossGrid) -> list[dict]:
    """A white ring (12 px, whatever the zoom) around each of a surface's known minima: shapes, not
    traces, so the panel's traces keep their places."""
    return [{"type": "circle", "xref": "x", "yref": "y", "xsizemode": "pixel", "ysizemode": "pixel",
             "xanchor": mx, "yanchor": my, "x0": -7, "x1": 7, "y0": -7, "y1": 7,
             "line": {"color": "white", "width": 2}} for mx, my in grid.minima]


def clamp_step(step: int | None, traj: Trajectory) -> int:
    """The playback step as a row index of ``traj`` (None: the last finite row)."""
    last = traj.finite_steps - 1
    return last if step is None else max(0, min(int(step), last))


def _path(traj: Trajectory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = traj.finite_steps
    return traj.bias[:n], traj.weight[:n], traj.loss[:n]


def _map_panel(grid: LossGrid, traj: Trajectory, step: int | None, log: bool, axes: str,
               showscale: bool) -> list[dict]:
    b, w, _loss = _path(traj)
    k = clamp_step(step, traj)
    on = {"xaxis": "x" + axes, "yaxis": "y" + axes}
    return [
        _grid_contour(grid, log, showscale=showscale, **on),
        _map_path(traj, "path", PATH_COLOUR, axes=_short(grid), **on),
        marker_trace("scatter", [float(b[0])], [float(w[0])], "start", {"size": 12, **START_MARKER}, **on),
        marker_trace("scatter", [float(b[-1])], [float(w[-1])], "end",
                     {"size": 13, "color": "black", "symbol": "x"}, **on),
        marker_trace("scatter", [float(b[k])], [float(w[k])], "step", {"size": 14, **STEP_MARKER}, **on),
        {"type": "scatter", **arrow_xy(traj, k), "mode": "lines+markers", "name": "moment",
         "line": {"color": ARROW_COLOUR, "width": 3}, "hoverinfo": "skip",
         "marker": {"symbol": ["circle", "arrow"], "size": [1, 14], "angleref": "previous",
                    "color": ARROW_COLOUR}, **on},
        marker_trace("scatter", typed_array(b[traj.clipped[: len(b)]]), typed_array(w[traj.clipped[: len(b)]]),
                     "clipped step", {"size": 9, "symbol": "circle-open", "color": "#e377c2",
                                      "line": {"width": 2}}, **on),
    ]


def arrow_xy(traj: Trajectory, k: int) -> dict[str, list[float]]:
    """The moment arrow from row k's point: (bias, weight) to that plus the moment's step."""
    db, dw = (float(v) for v in traj.arrow[k])
    if not (np.isfinite(db) and np.isfinite(dw)):
        return {"x": [], "y": []}
    b, w = float(traj.bias[k]), float(traj.weight[k])
    return {"x": [b, b + db], "y": [w, w + dw]}


def _axis_ranges(grid: LossGrid) -> tuple[list[float], list[float]]:
    return ([float(grid.biases[0]), float(grid.biases[-1])],
            [float(grid.weights[0]), float(grid.weights[-1])])


# The right-hand accuracy axis over a loss axis. Its own ticks ("auto"): an overlaying axis
# otherwise syncs its ticks to the loss axis's, and a log loss axis left it unreadable.
# a second quantity on the right: its own ticks (synced to the left axis's grid they read 2.2496,
# 2.2558, …) and no zero line drawn across the plot
RIGHT_AXIS = {"overlaying": "y", "side": "right", "tickmode": "auto", "showgrid": False, "zeroline": False}
ACCURACY_AXIS = {"title": {"text": "accuracy"}, **RIGHT_AXIS, "range": [0, 1.02]}


EIGEN_COLOUR = "#17becf"


def eigen_length(grid: LossGrid) -> float:
    """How long the sharpest eigenvector's segment is drawn each side of the point: 12% of the
    map's shorter side (the flattest one's, half that)."""
    return 0.12 * min(float(grid.biases[-1] - grid.biases[0]), float(grid.weights[-1] - grid.weights[0]))


def eigen_xy(curvature: CurvaturePath, traj: Trajectory, k: int, length: float) -> dict[str, list]:
    """The Hessian's eigenvectors through row k's point on the (bias, weight) map: the sharpest
    (λmax) ``length`` each side, the flattest half that, None between them; nothing without curvature."""
    if k >= len(curvature.eigenvalues) or not curvature.eigenvalues[k, 0] > 0:
        return {"x": [], "y": []}
    b, w = float(traj.bias[k]), float(traj.weight[k])
    x: list = []
    y: list = []
    for i, scale in ((0, length), (1, length / 2)):
        vw, vb = (float(v) * scale for v in curvature.eigenvectors[k, :, i])
        x += [b - vb, b + vb, None]
        y += [w - vw, w + vw, None]
    return {"x": x[:-1], "y": y[:-1]}


def make_map_figure(grid: LossGrid, traj: Trajectory, title: str, step: int | None = None,
                    log: bool = False, curvature: CurvaturePath | None = None) -> Figure:
    """Heatmap-coloured contours of the loss over (bias, weight) with the optimizer's path; with
    ``curvature``, the Hessian's eigenvectors through the step's point (the last trace)."""
    data = _map_panel(grid, traj, step, log, "", True)
    if curvature is not None:
        data.append({"type": "scatter", **eigen_xy(curvature, traj, clamp_step(step, traj), eigen_length(grid)),
                     "mode": "lines", "name": "Hessian eigenvectors (long: λmax)", "hoverinfo": "skip",
                     "line": {"color": EIGEN_COLOUR, "width": 3}})
    return {"data": flowing(data), "layout": _map_layout(grid, title, "map")}


def make_surface_figure(grid: LossGrid, traj: Trajectory, title: str, step: int | None = None,
                        log: bool = False) -> Figure:
    """The loss surface in 3D with the path lying on it (z = the loss at each step)."""
    b, w, loss = _path(traj)
    z = scaled(loss, log)
    k = clamp_step(step, traj)
    return {
        "data": [
            _grid_surface(grid, log, contours={"z": {"show": True, "usecolormap": True, "project": {"z": True}}}),
            path_trace(typed_array(b), typed_array(w), "path", PATH_COLOUR, z=typed_array(z)),
            marker_trace("scatter3d", [float(b[0])], [float(w[0])], "start", {"size": 6, **START_MARKER},
                         z=[float(z[0])]),
            marker_trace("scatter3d", [float(b[-1])], [float(w[-1])], "end",
                         {"size": 6, "color": "black", "symbol": "x"}, z=[float(z[-1])]),
            marker_trace("scatter3d", [float(b[k])], [float(w[k])], "step",
                         {"size": 7, "color": "#ffdd00", "symbol": "diamond"}, z=[float(z[k])]),
        ],
        "layout": surface_layout(title, log, "surface", grid.axes, grid.value, showlegend=False),
    }


def make_curve_figure(runs: Mapping[str, Trajectory], step: int | None = None) -> Figure:
    """Loss against step for each run (log y axis), with the playback step marked.

    Mini-batch runs add their batch loss, faint, beside the full-data loss.
    """
    data = []
    for i, (label, traj) in enumerate(runs.items()):
        n, k = traj.finite_steps, clamp_step(step, traj)
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        data.append({"type": "scatter", "x": typed_array(np.arange(n)), "y": typed_array(traj.loss[:n]),
                     "mode": "lines", "name": label, "line": {"color": colour, "width": 2}})
        data.append(marker_trace("scatter", [k], [float(traj.loss[k])], label,
                                 {"size": 10, "color": colour, "symbol": "diamond"},
                                 showlegend=False))
    for i, (label, traj) in enumerate(runs.items()):  # after the runs: playback indices stay fixed
        if traj.steps_per_epoch > 1:
            n = traj.finite_steps
            data.append({"type": "scatter", "x": typed_array(np.arange(n)),
                         "y": typed_array(traj.batch_loss[:n]), "mode": "lines",
                         "name": f"{label} batch loss", "opacity": 0.35,
                         "line": {"color": RUN_COLOURS[i % len(RUN_COLOURS)], "width": 1}})
    strip = [(i, label, traj) for i, (label, traj) in enumerate(runs.items()) if scheduled(traj)]
    for i, label, traj in strip:  # the schedule's lr under the loss, its points on the path's scale
        n = traj.finite_steps
        data.append({"type": "scatter", "x": typed_array(np.arange(n)), "y": typed_array(traj.lr[:n]),
                     "yaxis": "y2", "mode": "lines+markers", "name": f"{label} lr" if len(runs) > 1 else "lr",
                     "line": {"color": RUN_COLOURS[i % len(RUN_COLOURS)], "width": 1},
                     "marker": _lr_marker(traj, 4), "showlegend": False,
                     "hovertemplate": "step %{x}<br>lr %{y:.4g}<extra></extra>"})
    layout: dict[str, Any] = {
        "title": centred_title("loss per step" + (" and the schedule's lr" if strip else "")),
        "margin": {"l": 60, "r": 10, "t": 50, "b": 40},
        "xaxis": {"title": {"text": "step", "standoff": 6}, **TITLED}, "yaxis": {"title": {"text": "loss"}, **LOG_AXIS},
        "legend": INSIDE_LEGEND | {"x": 0.99, "xanchor": "right"}, "uirevision": "curve",
    }
    if strip:  # a strip under the loss: the step axis at its foot
        layout["yaxis"] = {**layout["yaxis"], "domain": [0.36, 1.0]}
        layout["yaxis2"] = {"domain": [0.0, 0.26], "title": {"text": "lr"}, "anchor": "x", "rangemode": "tozero",
                            **TITLED}
        layout["xaxis"] = {**layout["xaxis"], "anchor": "y2"}
    return {"data": data, "layout": layout}


def fit_span(x: np.ndarray, problem: str = "regression") -> np.ndarray:
    """The x values a fitted line (two) or a fitted sigmoid (sixty) is drawn through."""
    return np.linspace(x.min(), x.max(), 60 if problem == "classification" else 2, dtype=np.float32)


def fitted_line(span: np.ndarray, traj: Trajectory, k: int, problem: str = "regression") -> list[float]:
    """w·x + b at row k, or σ(w·x + b), the predicted probability, for the logistic neuron."""
    z = traj.weight[k] * span + traj.bias[k]
    return (1 / (1 + np.exp(-z.astype(np.float64))) if problem == "classification" else z).tolist()


def feature_text(scale: float, offset: float) -> str:
    """The feature the neuron sees, as a formula of the drawn x: "x' = 2x + 4", "x' = x − 3"."""
    a = "" if scale == 1 else f"{scale:.3g}"
    b = "" if offset == 0 else f" {'−' if offset < 0 else '+'} {abs(offset):.3g}"
    return f"x' = {a}x{b}"


def make_coordinates_figure(runs: Mapping[str, Trajectory]) -> Figure:
    """On a surface, where the fit would be: each run's x and y against the step (solid x, dotted y)."""
    data = []
    for i, (title, traj) in enumerate(runs.items()):
        n = traj.finite_steps
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        steps = typed_array(np.arange(n, dtype=np.float32))
        prefix = f"{title}: " if len(runs) > 1 else ""
        data += [{"type": "scatter", "x": steps, "y": typed_array(traj.bias[:n]), "mode": "lines", "name": f"{prefix}x",
                  "line": {"color": colour, "width": 2}},
                 {"type": "scatter", "x": steps, "y": typed_array(traj.weight[:n]), "mode": "lines",
                  "name": f"{prefix}y", "line": {"color": colour, "width": 2, "dash": "dot"}}]
    return {"data": flowing(data), "layout": {"title": centred_title("the point (x, y) at each step"),
                                     "margin": {"l": 60, "r": 10, "t": 50, "b": FOOT_MARGIN},
                                     "xaxis": {"title": {"text": "step"}, **TITLED},
                                     "yaxis": {"title": {"text": "coordinate"}, **TITLED},
                                     "legend": FOOT_LEGEND,  # at the foot, clear of the lines wherever they go
                                     "uirevision": "fit"}}


def make_fit_figure(x: np.ndarray, y: np.ndarray, runs: Mapping[str, Trajectory],
                    step: int | None = None, problem: str = "regression",
                    feature: tuple[float, float] = (1.0, 0.0)) -> Figure:
    """The data, the true curve and each run's fitted line w·x + b (or σ(w·x + b)) at the step.

    x is the feature the neuron sees, x' = A·x + B of the drawn x (``feature`` = (A, B)): the true
    curve and the class boundary, written in the drawn x, are drawn at x' too."""
    span = fit_span(x, problem)
    scale, offset = feature
    moved = feature != (1.0, 0.0)
    seen = feature_text(scale, offset)
    suffix = f", where {seen}" if moved else ""
    data = [marker_trace("scatter", typed_array(x), typed_array(y), "data", {"color": "#444", "size": 6})]
    if problem == "classification":
        title, y_range = "fitted probability σ(w·x + b) of class 1", [-0.1, 1.1]
        boundary = scale * BOUNDARY + offset
        data.append({"type": "scatter", "x": [boundary, boundary], "y": [-0.1, 1.1], "mode": "lines",
                     "name": f"{BOUNDARY_TEXT}{suffix} (noise-free boundary)", "line": {"color": "#999", "dash": "dot"}})
    else:
        smooth = np.linspace(float(x.min()), float(x.max()), 100)
        pad = 0.15 * float(y.max() - y.min()) + 1e-6
        title, y_range = "fitted line y = w·x + b", [float(y.min()) - pad, float(y.max()) + pad]
        data.append({"type": "scatter", "x": typed_array(smooth), "y": typed_array(true_curve((smooth - offset) / scale)),
                     "mode": "lines", "name": TRUE_CURVE_TEXT + suffix, "line": {"color": "#999", "dash": "dot"}})
    for i, (label, traj) in enumerate(runs.items()):
        data.append({"type": "scatter", "x": span.tolist(),
                     "y": fitted_line(span, traj, clamp_step(step, traj), problem),
                     "mode": "lines", "name": label,
                     "line": {"color": RUN_COLOURS[i % len(RUN_COLOURS)], "width": 3}})
    return {
        "data": data,
        "layout": {
            "title": centred_title(title), "margin": {"l": 50, "r": 10, "t": 50, "b": 40},
            "xaxis": {"title": {"text": f"{seen}, the feature the neuron sees" if moved else "x", "standoff": 6},
                      **TITLED},
            "yaxis": {"title": {"text": "y"}, "range": y_range},
            "legend": INSIDE_LEGEND | ({"x": 0.99, "xanchor": "right", "y": 0.4} if problem == "classification"
                                       else {"x": 0.01, "xanchor": "left"}), "uirevision": "fit",
        },
    }


def make_all_maps_figure(grids: Mapping[str, LossGrid], runs: Mapping[str, Trajectory],
                         step: int | None = None, log: bool = False) -> Figure:
    """A 2 × 2 panel of loss maps, one per loss, each with its own path and colour bar."""
    data: list[dict] = []
    layout: dict[str, Any] = {"annotations": [], "showlegend": False, "uirevision": "all-maps",
                              "margin": {"l": 60, "r": 10, "t": 30, "b": 40}}
    for i, label in enumerate(grids):
        axes = "" if i == 0 else str(i + 1)
        row, col = divmod(i, 2)
        x0, top = (0.0 if col == 0 else 0.53), (1.0 if row == 0 else 0.46)
        panel = _map_panel(grids[label], runs[label], step, log, axes, True)
        # each map its own colour bar (the losses differ by orders of magnitude), beside it
        panel[0]["colorbar"] = {**panel[0]["colorbar"], "x": x0 + 0.43, "xanchor": "left", "y": top - 0.22,
                                "yanchor": "middle", "len": 0.4, "thickness": 10,
                                "title": {"text": log_label(log, "")}}
        data += panel
        xr, yr = _axis_ranges(grids[label])
        # every map named on both axes: a presenter shows one row of them at a time
        layout[f"xaxis{axes}"] = {"domain": [x0, x0 + 0.42], "anchor": f"y{axes}", "range": xr, "constrain": "domain",
                                  "title": {"text": grids[label].axes[0], "standoff": 4}}
        layout[f"yaxis{axes}"] = {"domain": [top - 0.44, top], "anchor": f"x{axes}", "range": yr,
                                  **EQUAL_SCALE, "scaleanchor": f"x{axes}",
                                  "title": {"text": grids[label].axes[1] if col == 0 else ""}}
        layout["annotations"].append({"text": f"<b>{label}</b>", "x": x0 + 0.21, "y": top,
                                      "xref": "paper", "yref": "paper", "showarrow": False,
                                      "yanchor": "bottom"})
    return {"data": data, "layout": layout}


def playback_data(runs: Mapping[str, Trajectory], x: np.ndarray, step: int, log: bool, panels: bool,
                  figures: Mapping[str, str], problem: str = "regression", arrow: str | None = None,
                  sizes: bool = False, compare: bool = False,
                  curvature: Mapping[str, tuple[CurvaturePath, np.ndarray | None]] | None = None,
                  eigen: tuple[int, float] | None = None, lr: float | None = None,
                  surface: bool = False) -> dict[str, Any]:
    """What the browser needs to move every "current step" trace and to say where each run is:
    each run's finite rows (weight, bias, loss, the moment arrow's end, the effective step sizes)
    as typed arrays, the figures (by role: map, surface, curve, fit) and traces to move, and the
    step the figures were drawn at.

    The browser (``assets/descent.js``, ``playStep``) moves the marker, the arrow, the surface's
    point, the curve's marker and the fitted line to the step, without a request.
    ``curvature`` (per run title: its Hessians along the path, and SGD's stable lr at each step
    or None) adds each step's eigenvalues, eigenvectors and bound; ``eigen`` (the map's
    eigenvector trace and segment length) lets the browser move the eigenvectors too. ``surface``:
    the runs move a surface's point (x, y) = (bias, weight), and the step line says x and y.
    """
    span = fit_span(x, problem)
    rows = []
    for title, traj in runs.items():
        n = traj.finite_steps
        ends = np.stack([traj.bias[:n] + traj.arrow[:n, 0], traj.weight[:n] + traj.arrow[:n, 1]], axis=1)
        rows.append({"title": title, "w": typed_array(traj.weight[:n].astype(np.float32)),
                     "b": typed_array(traj.bias[:n].astype(np.float32)),
                     "loss": typed_array(traj.loss[:n].astype(np.float32)),
                     "arrow": typed_array(ends.astype(np.float32).reshape(-1)),
                     "size": typed_array(traj.step_size[:n].astype(np.float32).reshape(-1))})
        if scheduled(traj):
            rows[-1]["lr"] = typed_array(traj.lr[:n].astype(np.float64))
        if curvature is not None and title in curvature:
            path, bound = curvature[title]
            rows[-1].update({"lam": typed_array(path.eigenvalues[:n].astype(np.float64).reshape(-1)),
                             "vec": typed_array(path.eigenvectors[:n].astype(np.float64).reshape(-1)),
                             "bound": None if bound is None else typed_array(bound[:n].astype(np.float64))})
    return {"runs": rows, "step": step, "figures": dict(figures), "log": log, "logFloor": LOG_FLOOR,
            "eigen": None if eigen is None else {"trace": eigen[0], "length": eigen[1]}, "lr": lr,
            "span": span.tolist(), "surface": surface,
            "sigmoid": problem == "classification", "arrowLabel": arrow, "sizes": sizes,
            # each map's traces (run i's at perPanel × i + these); the compare map's start is shared
            "traces": ({"perPanel": COMPARE_TRACES_PER_RUN, "path": COMPARE_PATH, "start": None, "end": COMPARE_END,
                        "current": COMPARE_CURRENT, "arrow": None, "surface": None, "fitFirst": FIT_FIRST_LINE}
                       if compare else
                       {"perPanel": MAP_TRACES_PER_PANEL if panels else 0, "path": MAP_PATH, "start": MAP_START,
                        "end": MAP_END, "current": MAP_CURRENT, "arrow": MAP_ARROW, "surface": SURFACE_CURRENT,
                        "fitFirst": FIT_FIRST_LINE})}


def preview_data(key: str, query: str, previews: Mapping[int, Preview]) -> dict[str, Any]:
    """A slider's preview for the browser: the stops, and per run previewed (keyed by its place
    among the view's runs: its map panel, its curve and fitted line) the rows' steps and weight,
    bias and loss at every stop (rows × stops, float32 typed arrays); for a prefix preview
    (epochs) one column and each stop's last step (``ends``)."""
    first = next(iter(previews.values()))
    return {"key": key, "query": query, "values": first.values.tolist(),
            "ends": None if first.ends is None else first.ends.tolist(),
            "runs": [{"panel": panel, "steps": typed_array(p.steps.astype(np.int32)),
                      "w": typed_array(p.weight), "b": typed_array(p.bias), "loss": typed_array(p.loss)}
                     for panel, p in previews.items()]}


def traces_only(figure: Figure, keep: Callable[[int, dict], bool]) -> Patch:
    """A patch that replaces the traces ``keep`` picks (by index and trace) and leaves the others,
    and the layout, as the browser has them: a new path over the same loss map sends no map."""
    patch = Patch()
    for index, trace in enumerate(figure["data"]):
        if keep(index, trace):
            patch["data"][index] = trace
    return patch


def trace_update(figure: Figure, keep: Callable[[int, dict], bool]) -> dict[str, list]:
    """The traces ``keep`` picks (by index and trace), for the browser to put into the figure on
    screen (assets/descent.js ``newPaths``): a new path over the same map sends no map. Drawn with
    Plotly.react over the figure's own data (the map's trace objects unchanged): measured 200 ms
    sooner than the same traces as a Patch of the graph's figure."""
    picked = [(index, trace) for index, trace in enumerate(figure["data"]) if keep(index, trace)]
    return {"traces": [index for index, _ in picked], "data": [trace for _, trace in picked]}


def not_a_map(_index: int, trace: dict) -> bool:
    """Every trace but the loss maps and surfaces (contour, surface): what a new run changes."""
    return trace["type"] not in ("contour", "surface", "heatmap")


SWEEP_DIGITS = 4  # significant digits of a sweep cell's values, in its hover and in the run it opens


def shown_value(value: float) -> float:
    """A sweep cell's value as its hover shows it (and as the toy lab then runs it)."""
    return float(f"{value:.{SWEEP_DIGITS}g}")


def make_sweep_figure(result: SweepResult, x_label: str, y_label: str, x_log: bool, y_log: bool,
                      log_colour: bool = False, stability: np.ndarray | None = None) -> Figure:
    """The measure over the two hyperparameters as a heatmap; diverged runs in their own colour;
    with ``stability`` (compute.curvature.sweep_stability), the theory's boundary (ratio 1) over it."""
    losses = result.measure in ("final_loss", "best_loss")
    logged = log_colour and losses
    measure = log_label(logged, MEASURES[result.measure])
    diverged = result.diverged_at >= 0
    shown = scaled(result.value, logged)
    # a run that blew up without overflowing (1e35) would stretch the colours of all the others: the
    # scale ends at the highest start, and a loss above where its run began takes the top colour
    top = float(np.nanmax(result.start)) if losses and np.isfinite(result.start).any() else np.nan
    capped = bool(np.isfinite(top) and (result.value > top).any())
    limits = {"zmin": float(np.nanmin(shown)), "zmax": float(scaled(np.array([top]), logged)[0])} if capped else {}
    bar = f"{measure}<br>(above the start:<br>top colour)" if capped else measure
    cell = f"{x_label} %{{x:.{SWEEP_DIGITS}g}}<br>{y_label} %{{y:.{SWEEP_DIGITS}g}}"
    hover = (f"{cell}<br>{MEASURES[result.measure]} "
             "%{customdata:.6g}<extra></extra>")
    data = [
        {"type": "heatmap", "x": typed_array(result.x), "y": typed_array(result.y),
         "z": typed_array(shown.astype(np.float32)), "customdata": typed_array(result.value.astype(np.float32)),
         "colorscale": "Viridis", "reversescale": result.measure != "diverged", "hovertemplate": hover,
         "hoverongaps": False, "colorbar": {"title": {"text": bar}}, "name": measure, **limits},
        {"type": "heatmap", "x": typed_array(result.x), "y": typed_array(result.y),
         "z": typed_array(np.where(diverged, 1.0, np.nan).astype(np.float32)),
         "customdata": typed_array(result.diverged_at.astype(np.int32)),
         "colorscale": [[0, "#c0392b"], [1, "#c0392b"]], "showscale": False, "name": "diverged",
         "hoverongaps": False,  # (a converged cell is a gap of this layer: its hover is the measure's)
         "hovertemplate": f"{cell}<br>diverged at step "
                          "%{customdata}<extra></extra>"},
    ]
    if stability is not None:
        data.append({"type": "contour", "x": typed_array(result.x), "y": typed_array(result.y),
                     "z": typed_array(stability.astype(np.float32)), "showscale": False, "hoverinfo": "skip",
                     "contours": {"start": 1, "end": 1, "size": 1, "coloring": "lines"},
                     "colorscale": [[0, "white"], [1, "white"]],  # lines take the colour scale's colour
                     "line": {"width": 3, "dash": "dash"},
                     "name": "theory: stable below lr·λmax = K(momentum)", "showlegend": True})
    layout = {
        "title": centred_title(f"{measure} over {x_label} × {y_label} (red: diverged"
                               f"{'; dashed: the theory' if stability is not None else ''})"),
        "xaxis": {"title": {"text": x_label}, **(LOG_AXIS if x_log else LINEAR_AXIS)},
        "yaxis": {"title": {"text": y_label}, **(LOG_AXIS if y_log else LINEAR_AXIS)},
        "margin": {"l": 70, "r": 10, "t": 50, "b": FOOT_MARGIN}, "uirevision": "sweep",
        "legend": FOOT_LEGEND,
    }
    return {"data": flowing(data), "layout": layout}


def make_compare_map_figure(grid: LossGrid, runs: Mapping[str, Trajectory], title: str,
                            log: bool = False, step: int | None = None) -> Figure:
    """One loss map with every compared run's path in its colour (start ○, end ✕, the playback
    step ◆), COMPARE_TRACES_PER_RUN traces a run."""
    data = [_grid_contour(grid, log, showlegend=False)]
    for i, (name, traj) in enumerate(runs.items()):
        b, w, _loss = _path(traj)
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        data.append(_map_path(traj, name, colour, f"{name}<br>", _short(grid), legendgroup=name))
        data.append(marker_trace("scatter", [float(b[-1])], [float(w[-1])], f"{name} end",
                                 {"size": 12, "color": colour, "symbol": "x"}, legendgroup=name,
                                 showlegend=False))
        k = clamp_step(step, traj)
        data.append(marker_trace("scatter", [float(b[k])], [float(w[k])], f"{name} step",
                                 {"size": 13, "color": colour, "symbol": "diamond",
                                  "line": {"color": "black", "width": 1.5}}, legendgroup=name, showlegend=False))
    if runs:
        first = next(iter(runs.values()))
        data.append(marker_trace("scatter", [float(first.bias[0])], [float(first.weight[0])], "start",
                                 {"size": 12, **START_MARKER}))
    return {"data": flowing(data), "layout": _map_layout(grid, title, "compare-map")}


def make_compare_surface_figure(grid: LossGrid, runs: Mapping[str, Trajectory], title: str,
                                log: bool = False) -> Figure:
    """The loss surface with every compared run's path lying on it."""
    data = [_grid_surface(grid, log)]
    for i, (name, traj) in enumerate(runs.items()):
        b, w, loss = _path(traj)
        data.append(path_trace(typed_array(b), typed_array(w), name, RUN_COLOURS[i % len(RUN_COLOURS)],
                               z=typed_array(scaled(loss, log))))
    return {"data": data, "layout": surface_layout(title, log, "compare-surface", grid.axes, grid.value,
                                                   showlegend=False)}


def make_placeholder(text: str) -> Figure:
    """No axes, a line of text in their place (a figure not drawn yet, or with nothing to show)."""
    return {"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False},
                                   "annotations": [{"text": text, "showarrow": False, "xref": "paper",
                                                    "yref": "paper", "x": 0.5, "y": 0.5,
                                                    "font": {"size": 15, "color": "#556"}}]}}


def _loss_and_accuracy(x: Any, train_loss: np.ndarray, test_loss: np.ndarray, train_acc: np.ndarray,
                       test_acc: np.ndarray, mode: str) -> list[dict]:
    """Loss on the left axis, accuracy on the right; train solid, test dashed."""
    return [{"type": "scatter", "x": x, "y": typed_array(np.asarray(values, dtype=np.float32)), "mode": mode,
             "name": name, "yaxis": axis, "marker": {"size": 4},
             "line": {"color": RUN_COLOURS[0] if axis == "y" else RUN_COLOURS[1], "dash": dash}}
            for name, values, dash, axis in (("train loss", train_loss, "solid", "y"),
                                             ("test loss", test_loss, "dash", "y"),
                                             ("train accuracy", train_acc, "solid", "y2"),
                                             ("test accuracy", test_acc, "dash", "y2"))]


def make_line_figure(result: Landscape, log: bool = False,
                     title: str = "1D: from the initial (α = 0) to the trained weights (α = 1)") -> Figure:
    """Loss (left axis) and accuracy (right axis), train and test, along a line of weights."""
    data = _loss_and_accuracy(typed_array(result.coords), result.train_loss, result.test_loss,
                              result.train_acc, result.test_acc, "lines")
    marks = [{"type": "line", "x0": a, "x1": a, "yref": "paper", "y0": 0, "y1": 1,
              "line": {"color": "#888", "dash": "dot", "width": 1}} for a in (0.0, 1.0)]
    return {"data": flowing(data), "layout": {
        "title": centred_title(title),
        "xaxis": {"title": {"text": "α"}}, "yaxis": {"title": {"text": "cross-entropy"},
                                                      **(LOG_AXIS if log else LINEAR_AXIS)},
        "yaxis2": ACCURACY_AXIS,
        "shapes": marks, "legend": FOOT_LEGEND,
        "margin": {"l": 60, "r": 60, "t": 70 if "<br>" in title else 50, "b": FOOT_MARGIN}, "uirevision": "line"}}


def _plane_axes(result: Landscape) -> tuple[str, str]:
    if result.explained is not None:  # PCA: one unit is 1.25 × the path's reach (compute.landscape.directions)
        return (f"PC1, unit 1.25 × the path's reach ({100 * result.explained[0]:.1f}% of its variance)",
                f"PC2 ({100 * result.explained[1]:.1f}%)")
    if result.marks is not None:
        return "a (toward B: θ_B − θ_A)", "b (toward C: θ_C − θ_A)"
    if result.eigenvalues is not None:  # unit eigenvectors: one unit is distance 1 in parameter space
        return (f"a along v₁, the Hessian's top eigenvector (λ₁ = {result.eigenvalues[0]:.4g})",
                f"b along v₂ (λ₂ = {result.eigenvalues[1]:.4g})")
    return "a (direction d₁)", "b (direction d₂)"


# Loss and accuracy colours of trainings B and C beside A's own; their marks on a plane take the loss's.
TRAINING_COLOURS = {1: (RUN_COLOURS[2], RUN_COLOURS[3]), 2: ("#8c564b", "#e377c2")}
MARK_COLOURS = ("black", TRAINING_COLOURS[1][0], TRAINING_COLOURS[2][0])  # models A, B, C on a plane through them


def _centre_marks(result: Landscape) -> list[dict]:
    """The trained θ* at (0, 0), or each model A, B, C where it lies on a plane through them."""
    if result.marks is None:
        return [marker_trace("scatter", [0.0], [0.0], "trained θ*", {"size": 12, "color": "black", "symbol": "x"})]
    return [marker_trace("scatter", [float(a)], [float(b)], f"model {name}",
                         {"size": 12, "color": colour, "symbol": "x"}, mode="markers+text", text=[name],
                         textposition="top right", textfont={"size": 14, "color": colour})
            for (a, b), name, colour in zip(result.marks, MARK_NAMES, MARK_COLOURS)]


def _plane_loss(result: Landscape, log: bool) -> np.ndarray:
    """A plane's training loss as its map shows it (float32)."""
    return scaled(result.train_loss, log).astype(np.float32)


def _plane_contour(result: Landscape, z: np.ndarray, log: bool, **extra: Any) -> dict:
    """A plane's loss map over (a, b), shaded."""
    coords = typed_array(result.coords)
    return loss_contour(coords, coords, z, log, ("a", "b"), shaded=True, **extra)


def make_plane_figure(result: Landscape, log: bool = False) -> Figure:
    """Contours of the training loss over the plane; the trained weights at (0, 0) (or the models
    A, B, C where they lie); the path (PCA)."""
    x_title, y_title = _plane_axes(result)
    data = [_plane_contour(result, _plane_loss(result, log), log, hover=("", "<br>train accuracy %{customdata:.3f}"),
                           customdata=typed_array(result.train_acc.astype(np.float32))),
            *_centre_marks(result)]
    if result.path is not None:
        epochs = np.arange(len(result.path))
        data.append(path_trace(typed_array(result.path[:, 0].astype(np.float32)),
                               typed_array(result.path[:, 1].astype(np.float32)), "training path", PATH_COLOUR,
                               size=6, text=[f"epoch {e}" for e in epochs], hovertemplate="%{text}<extra></extra>"))
    return {"data": flowing(data), "layout": {
        "title": centred_title("2D: " + result.description.replace(": ", "<br><sup>", 1) + "</sup>"),
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}, "scaleanchor": "x"}, "legend": FOOT_LEGEND,
        "margin": {"l": 60, "r": 10, "t": 70, "b": FOOT_MARGIN}, "uirevision": "plane"}}


def make_landscape_surface(result: Landscape, log: bool = False) -> Figure:
    """The same plane as a 3D surface."""
    coords = typed_array(result.coords)
    return {"data": [loss_surface(coords, coords, _plane_loss(result, log))],
            "layout": surface_layout("the plane as a surface", log, "surface3d", _plane_axes(result))}


def make_training_figure(trained: Trained, *others: Trained, names: tuple[str, ...] = ("A", "B", "C")) -> Figure:
    """Train and test loss and accuracy after each epoch; with ``others``, every training (A in
    the usual colours, B and C in their own pairs, each trace named)."""
    data = _loss_and_accuracy(typed_array(np.arange(len(trained.train_loss))), trained.train_loss,
                              trained.test_loss, trained.train_acc, trained.test_acc, "lines+markers")
    if others:
        for trace in data:
            trace["name"] = f"{names[0]}: {trace['name']}"
    for k, other in enumerate(others, 1):
        more = _loss_and_accuracy(typed_array(np.arange(len(other.train_loss))), other.train_loss,
                                  other.test_loss, other.train_acc, other.test_acc, "lines+markers")
        for trace in more:
            trace["name"] = f"{names[k]}: {trace['name']}"
            trace["line"]["color"] = TRAINING_COLOURS[k][0 if trace["yaxis"] == "y" else 1]
            trace["marker"]["symbol"] = ("diamond", "square")[k - 1]
        data += more
    title = "training" if not others else "training: " + ", ".join(names[:len(others) + 1])
    return {"data": flowing(data), "layout": {
        "title": centred_title(title), "xaxis": {"title": {"text": "epoch"}},
        "yaxis": {"title": {"text": "cross-entropy"}, **LOG_AXIS},
        "yaxis2": ACCURACY_AXIS,
        "legend": FOOT_LEGEND, "margin": {"l": 60, "r": 60, "t": 50, "b": FOOT_MARGIN},
        "uirevision": "training"}}


def make_plane_pair_figure(first: Landscape, second: Landscape, names: tuple[str, str],
                           log: bool = False) -> Figure:
    """Two planes side by side on one colour scale: the same normalization, so flatness compares."""
    shown = [_plane_loss(r, log) for r in (first, second)]
    low, high = float(min(z.min() for z in shown)), float(max(z.max() for z in shown))
    data, layout = [], {"annotations": [], "margin": {"l": 50, "r": 10, "t": 56, "b": 40},
                        "uirevision": "pair", "showlegend": False}
    for i, (result, z, name) in enumerate(zip((first, second), shown, names)):
        axes = "" if i == 0 else "2"
        data.append(_plane_contour(result, z, log, hover=(f"{name}<br>", ""), zmin=low, zmax=high, showscale=i == 1,
                                   xaxis="x" + axes, yaxis="y" + axes))
        x0 = 0.0 if i == 0 else 0.52
        layout[f"xaxis{axes}"] = {"domain": [x0, x0 + 0.44], "anchor": f"y{axes}", "title": {"text": "a"}}
        layout[f"yaxis{axes}"] = {"anchor": f"x{axes}", "title": {"text": "b" if i == 0 else ""}}
        head, _, rest = name.partition(", ")  # "A: batch 64" over "λmax 12.3": each half holds its own
        layout["annotations"].append({"text": f"<b>{head}</b>" + (f"<br>{rest}" if rest else ""), "x": x0 + 0.22,
                                      "y": 1.0, "xref": "paper", "yref": "paper", "showarrow": False,
                                      "yanchor": "bottom"})
    return {"data": data, "layout": layout}


SHARPNESS_COLOUR, THRESHOLD_COLOUR, TRACE_COLOUR = "#1f77b4", "#d62728", "#9467bd"


def make_sharpening_figure(result: Sharpening, lr: float) -> Figure:
    """λmax during training (Adam: λmax(P⁻¹H)) against the optimizer's stability threshold, a
    dashed line (Cohen et al.'s edge of stability), and the loss on the measured subset (right axis)."""
    steps = typed_array(result.steps.astype(np.int32))
    what = "λmax(P⁻¹H), preconditioned" if result.preconditioned else "λmax(H)"
    data = [{"type": "scatter", "x": steps, "y": typed_array(result.sharpness), "mode": "lines+markers",
             "name": f"sharpness {what}", "line": {"color": SHARPNESS_COLOUR, "width": 2}, "marker": {"size": 5},
             "hovertemplate": "step %{x}<br>" + what + " %{y:.4g}<extra></extra>"},
            {"type": "scatter", "x": steps, "y": typed_array(result.loss), "mode": "lines", "yaxis": "y2",
             "name": "loss (measured images)", "line": {"color": "rgba(90,90,90,0.6)", "width": 1},
             "hovertemplate": "step %{x}<br>loss %{y:.4g}<extra></extra>"}]
    shapes, annotations = [], []
    if np.isfinite(result.threshold) and result.scheduled:  # a schedule moves it: K/lr at each step's lr
        data.append({"type": "scatter", "x": steps, "y": typed_array(result.limits), "mode": "lines",
                     "name": "stability threshold at the schedule's lr (and momentum)",
                     "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 2},
                     "hovertemplate": "step %{x}<br>threshold %{y:.4g}<extra></extra>"})
        top = min(max(float(np.nanmax(result.sharpness)), float(np.nanmin(result.limits))) * 1.15,
                  float(np.nanmax(result.limits)) * 1.15)
    elif np.isfinite(result.threshold):
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": result.threshold,
                       "y1": result.threshold, "line": {"color": THRESHOLD_COLOUR, "dash": "dash", "width": 2}})
        annotations.append({"text": f"{result.threshold_name} = {result.threshold:.4g} (lr {lr:g})", "xref": "paper",
                            "x": 0.01, "xanchor": "left", "y": result.threshold, "yanchor": "bottom",
                            "showarrow": False, "font": {"color": THRESHOLD_COLOUR}})
        top = max(float(np.nanmax(result.sharpness)), result.threshold) * 1.15
    else:
        annotations.append({"text": "no stability threshold for this optimizer", "xref": "paper", "yref": "paper",
                            "x": 0.01, "y": 0.98, "xanchor": "left", "showarrow": False})
        top = float(np.nanmax(result.sharpness)) * 1.15
    title = "sharpness during training: " + ("the preconditioned sharpness against (2 + 2β1)/((1 − β1)lr)"
                                             if result.preconditioned else "λmax against the stability threshold")
    return {"data": flowing(data), "layout": {
        "title": centred_title(title), "xaxis": {"title": {"text": "optimizer step"}},
        "yaxis": {"title": {"text": what}, "range": [0, top if np.isfinite(top) and top > 0 else 1]},
        "yaxis2": {"title": {"text": "loss"}, **RIGHT_AXIS},
        "shapes": shapes, "annotations": annotations, "legend": FOOT_LEGEND,
        "margin": {"l": 60, "r": 60, "t": 50, "b": FOOT_MARGIN}, "uirevision": "sharpening"}}


def make_hessian_figure(result: Sharpening, probes: int) -> Figure:
    """The Hessian itself during training: λmax(H) and, with probes, Hutchinson's trace (right axis).
    Without probes, where the sharpness figure already draws λmax(H) (not Adam's preconditioned
    one), it would repeat that curve: it says how to draw the trace instead."""
    if not probes and not result.preconditioned:
        return make_placeholder("The trace of H during training:<br>set trace_samples (Hutchinson's probes) "
                                "to draw it.<br>λmax(H) is the sharpness on the left.")
    steps = typed_array(result.steps.astype(np.int32))
    data = [{"type": "scatter", "x": steps, "y": typed_array(result.hessian_max), "mode": "lines+markers",
             "name": "λmax(H)", "line": {"color": SHARPNESS_COLOUR}, "marker": {"size": 5},
             "hovertemplate": "step %{x}<br>λmax(H) %{y:.4g}<extra></extra>"}]
    if probes:
        data.append({"type": "scatter", "x": steps, "y": typed_array(result.trace), "mode": "lines+markers",
                     "yaxis": "y2", "name": f"trace (Hutchinson, {probes} probes)", "line": {"color": TRACE_COLOUR},
                     "marker": {"size": 5, "symbol": "square"},
                     "hovertemplate": "step %{x}<br>trace %{y:.4g}<extra></extra>"})
    note = "" if probes else " (set trace_samples for the trace)"
    return {"data": flowing(data), "layout": {
        "title": centred_title("the Hessian during training" + note), "xaxis": {"title": {"text": "optimizer step"}},
        "yaxis": {"title": {"text": "λmax(H)"}},
        "yaxis2": {"title": {"text": "trace of H"}, **RIGHT_AXIS},
        "legend": FOOT_LEGEND, "margin": {"l": 60, "r": 60, "t": 50, "b": FOOT_MARGIN},
        "uirevision": "hessian"}}
