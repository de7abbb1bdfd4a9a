"""The toy data set: n noisy points of a parabola, drawn exactly as the classic experiment does."""

from __future__ import annotations

import dataclasses
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
    # what the neuron sees: the feature as a person might be handed it (other units, not centred), and
    # the preprocessing that undoes it; y stays the same, so these change only the problem's conditioning
    Param("x_scale", float, 1.0, 0.0, 1e4, lo_open=True, log=True, span=(0.01, 100.0),
          help="the neuron sees x' = x_scale·x + x_offset: the feature in other units (100: centimetres, not metres)"),
    Param("x_offset", float, 0.0, -1e4, 1e4, span=(-20.0, 20.0),
          help="added to the feature the neuron sees: inputs that are not centred on 0"),
    Param("standardize", bool, False,
          help="feed the standardized feature (x' − mean)/std instead: zero mean, unit variance (as StandardScaler)"),
)

# The settings of the feature the neuron sees (the rest say how the data is drawn).
FEATURE_KEYS = ("x_scale", "x_offset", "standardize")

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


def feature_map(spec: DataSpec) -> tuple[float, float]:
    """(A, B) such that the neuron sees x' = A·x + B of the drawn x, in float64.

    Without standardize, (A, B) = (x_scale, x_offset). Standardized, x' = (x_scale·x + x_offset − m)/s
    with m and s the mean and the population standard deviation (ddof 0) of x_scale·x + x_offset: as
    x_scale > 0 that is (x − mean x)/std x whatever the scale and offset, so A = 1/std x and
    B = −mean x/std x, the sample's moments in float64. Then Σx' = 0 and Σx'² = n, so MSE's Hessian
    (2/n)·[[Σx'², Σx'], [Σx', n]] is 2·I: condition number 1.
    """
    if not spec.standardize:
        return float(spec.x_scale), float(spec.x_offset)
    drawn, _ = toy_data(dataclasses.replace(spec, x_scale=1.0, x_offset=0.0, standardize=False))
    x64 = np.asarray(drawn, np.float64)
    std = float(x64.std())
    return 1.0 / std, -float(x64.mean()) / std


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

    The labels come from the drawn x; the neuron is then fed, computed in float64 and rounded to
    float32 once, x_scale·x + x_offset or, standardized, (x − mean x)/std x (the population std; the
    scale and offset cancel in it): at the default scale 1 and offset 0, x itself::

        x64 = x.astype(np.float64)
        x = np.array(x_scale * x64 + x_offset, dtype=np.float32)     # or, standardized:
        x = np.array((x64 - x64.mean()) / x64.std(), dtype=np.float32)

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
    x64 = x.astype(np.float64)
    if spec.standardize:
        x = np.array((x64 - x64.mean()) / x64.std(), dtype=np.float32)
    elif (spec.x_scale, spec.x_offset) != (1.0, 0.0):
        x = np.array(spec.x_scale * x64 + spec.x_offset, dtype=np.float32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
