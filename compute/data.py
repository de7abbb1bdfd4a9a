"""The toy data set: n noisy points of a parabola, drawn exactly as the classic experiment does."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from compute.params import Param, param_fields

DATA_PARAMS: tuple[Param, ...] = (
    Param("n", int, 50, 2, 1000, log=True, help="number of data points"),
    Param("noise", float, 0.3, 0.0, 10.0, log=True, help="standard deviation of the Gaussian noise on y",
          span=(0.01, 10.0)),
    Param("seed", int, 20240215, 0, 2**32 - 1, help="numpy seed of the data", slider=False),
)

# The toy's noise-free truth, written once: the data, the Code tab's script, the fit figure and the
# Data panel's text all derive from these two rows.
CURVE = (0.75, 1.0, 2.0)  # regression: y = a·x² + b·x + c (+ noise)
CLASS_SHIFT = 0.5  # classification: class 1 where x + CLASS_SHIFT (+ noise) > 0


def true_curve(x: Any) -> Any:
    """The regression data's noise-free curve, y = a·x² + b·x + c with (a, b, c) = ``CURVE``.

    Computed as the classic script computes it (``0.75*x**2 + 1.0*x + 2.0``, in x's dtype), so
    that adding the noise to it gives the data bit for bit.
    """
    a, b, c = CURVE
    return a * x**2 + b * x + c


def class_score(x: Any) -> Any:
    """The classification data's noise-free score, x + ``CLASS_SHIFT``: class 1 where it (plus noise) is > 0."""
    return x + CLASS_SHIFT


def _signed(terms: list[str]) -> str:
    return " + ".join(terms).replace("+ -", "− ")


# Their text: as the page writes them ("0.75x² + x + 2"), and as Python source over an array x.
TRUE_CURVE_TEXT = _signed([f"{CURVE[0]:g}x²", "x" if CURVE[1] == 1 else f"{CURVE[1]:g}x", f"{CURVE[2]:g}"])
TRUE_CURVE_SOURCE = f"{CURVE[0]!r} * x**2 + {CURVE[1]!r} * x + {CURVE[2]!r}"
CLASS_SCORE_TEXT = _signed(["x", f"{CLASS_SHIFT:g}"])
CLASS_SCORE_SOURCE = f"x + {CLASS_SHIFT!r}"
BOUNDARY = -CLASS_SHIFT  # the noise-free class boundary
BOUNDARY_TEXT = f"x = {BOUNDARY:g}".replace("-", "−")  # "x = −0.5"


@dataclass(frozen=True, slots=True)
@param_fields(DATA_PARAMS, "data")
class DataSpec:
    """The toy data: ``n`` points of y = true_curve(x) + noise·ε with x, ε ~ N(0, 1); its fields are
    DATA_PARAMS's rows."""


@lru_cache(maxsize=64)
def toy_data(spec: DataSpec, problem: str = "regression") -> tuple[np.ndarray, np.ndarray]:
    """Return float32 arrays (x, y), bit for bit what the classic script draws.

    Regression (the classic script)::

        np.random.seed(seed)
        x = np.array(np.random.randn(n), dtype=np.float32)
        y = np.array(0.75*x**2 + 1.0*x + 2.0 + noise*np.random.randn(n), dtype=np.float32)

    Classification (two classes for the logistic neuron of BCEWithLogitsLoss), the same x and
    labels from the same stream::

        y = np.array(x + 0.5 + noise*np.random.randn(n) > 0, dtype=np.float32)

    A private ``RandomState(seed)`` yields the same stream without touching numpy's global state.
    The arrays are memoized per spec (seeding costs more than the grid's arithmetic), so they
    are read-only: copy them before changing them.
    """
    rng = np.random.RandomState(spec.seed)
    x = np.array(rng.randn(spec.n), dtype=np.float32)
    if problem == "classification":
        y = np.array(class_score(x) + spec.noise * rng.randn(spec.n) > 0, dtype=np.float32)
    else:
        y = np.array(true_curve(x) + spec.noise * rng.randn(spec.n), dtype=np.float32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
