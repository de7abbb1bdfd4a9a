"""Figure primitives: a loss contour, a loss surface, a path, the log label and the typed arrays
they carry, each written once; every page's figures (``dashboard/figures.py``) are built on them.

Each returns the JSON form of a trace or a layout (a plain dict), as the figure builders do.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np

Figure = dict[str, Any]

# matplotlib's "terrain" colour map, as a Plotly colour scale.
TERRAIN = [
    [0.00, "rgb(51,51,153)"],
    [0.15, "rgb(0,153,255)"],
    [0.25, "rgb(0,204,102)"],
    [0.50, "rgb(255,255,153)"],
    [0.75, "rgb(128,92,84)"],
    [1.00, "rgb(255,255,255)"],
]
START_MARKER = {"color": "white", "line": {"color": "black", "width": 2}}
LOG_FLOOR = 1e-12  # what a log colour scale shows for a loss of 0 (or below)
# A log axis labels every tick in full ("~g"): Plotly's default labels 2 and 5 between decades by
# their first digit alone, so 50 and 0.5 both read "5".
LOG_AXIS = {"type": "log", "tickformat": "~g"}
LINEAR_AXIS = {"type": "linear"}
_DTYPES = {"float32": "f4", "float64": "f8", "int32": "i4", "int64": "i4"}


def typed_array(values: np.ndarray) -> dict[str, str]:
    """A numpy array as a Plotly typed array: base64 bytes, dtype and shape."""
    arr = np.ascontiguousarray(values)
    if arr.dtype == np.int64:
        arr = arr.astype(np.int32)
    spec = {"dtype": _DTYPES[str(arr.dtype)], "bdata": base64.b64encode(arr.tobytes()).decode()}
    if arr.ndim > 1:
        spec["shape"] = ", ".join(map(str, arr.shape))
    return spec


def scaled(values: np.ndarray, log: bool) -> np.ndarray:
    """Values as a colour scale shows them: as they are, or log10 of them (float32, floored at LOG_FLOOR)."""
    return np.log10(np.maximum(values, LOG_FLOOR)).astype(np.float32) if log else values


def log_label(log: bool, what: str = "loss") -> str:
    """What a colour bar or an axis shows: "loss", or on a log colour scale "log10 loss" (for an
    empty ``what``, "log10" or nothing)."""
    return " ".join(filter(None, ("log10" if log else "", what)))


def centred_title(text: str) -> dict:
    """A figure's title, centred."""
    return {"text": text, "x": 0.5}


def marker_trace(kind: str, x: Any, y: Any, name: str, marker: dict, **extra: Any) -> dict:
    """Points alone (``kind``: scatter, or scatter3d with ``z`` in ``extra``)."""
    return {"type": kind, "x": x, "y": y, "mode": "markers", "name": name, "marker": marker, **extra}


def loss_contour(x: Any, y: Any, z: np.ndarray, log: bool, names: tuple[str, str], *, shaded: bool = False,
                 hover: tuple[str, str] = ("", ""), colorbar: Mapping[str, Any] | None = None, what: str = "loss",
                 **extra: Any) -> dict:
    """A loss map as contours in the terrain colours, over axes ``names`` (as the hover calls them).

    ``z`` is the loss as shown (``scaled``: log10 with ``log``), and the colour bar and the hover
    say which. Filled bands (the toy's maps) or, ``shaded``, a heatmap under finer levels with a
    digit less in the hover (the landscape's planes). ``hover``: text before and after the point's
    lines; ``colorbar``: more of the colour bar's properties; ``what``: what z is ("loss", a
    surface's "f"); ``extra``: the trace's others.
    """
    label = log_label(log, what)
    before, after = hover
    return {"type": "contour", "x": x, "y": y, "z": typed_array(z), "colorscale": TERRAIN,
            "ncontours": 30 if shaded else 25, "contours": {"coloring": "heatmap" if shaded else "fill"},
            "line": {"color": "rgba(0,0,0,0.3)", "width": 1},
            "colorbar": {"title": {"text": label}, **(colorbar or {})},
            "hovertemplate": f"{before}{names[0]} %{{x:.3f}}<br>{names[1]} %{{y:.3f}}<br>{label} "
                             f"%{{z:{'.4g' if shaded else '.5g'}}}{after}<extra></extra>",
            **extra}


def loss_surface(x: Any, y: Any, z: np.ndarray, **extra: Any) -> dict:
    """A loss map as a 3D surface in the terrain colours (``z`` as shown), without a colour bar."""
    return {"type": "surface", "x": x, "y": y, "z": typed_array(z), "colorscale": TERRAIN, "showscale": False,
            **extra}


def surface_layout(text: str, log: bool, uirevision: str, axes: tuple[str, str], what: str = "loss",
                   **extra: Any) -> dict:
    """A 3D figure's layout: its title, no margin beside it, the axes named and z the loss (or its log10)."""
    return {"title": centred_title(text), "margin": {"l": 0, "r": 0, "t": 50, "b": 0},
            "scene": {"xaxis": {"title": {"text": axes[0]}}, "yaxis": {"title": {"text": axes[1]}},
                      "zaxis": {"title": {"text": log_label(log, what)}}},
            "uirevision": uirevision, **extra}


def path_trace(x: Any, y: Any, name: str, colour: str, z: Any = None, size: float | None = None,
               **extra: Any) -> dict:
    """A path as lines and markers in one colour: on a map (line 2, markers 4) or, with ``z``, in 3D
    (line 5, markers 2.5); ``size`` another marker size."""
    flat = z is None
    return {"type": "scatter" if flat else "scatter3d", "x": x, "y": y, **({} if flat else {"z": z}),
            "mode": "lines+markers", "name": name, "line": {"color": colour, "width": 2 if flat else 5},
            "marker": {"size": size or (4 if flat else 2.5), "color": colour}, **extra}
