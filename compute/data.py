"""The toy data set: n noisy points of a parabola, drawn exactly as the classic experiment does."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np

from compute.params import Param, check_fields, defaults

DATA_PARAMS: tuple[Param, ...] = (
    Param("n", int, 50, 2, 1000, log=True, help="number of data points"),
    Param("noise", float, 0.3, 0.0, 10.0, log=True, help="standard deviation of the Gaussian noise on y",
          span=(0.01, 10.0)),
    Param("seed", int, 20240215, 0, 2**32 - 1, help="numpy seed of the data", slider=False),
)
_DEFAULT = defaults(DATA_PARAMS)


@dataclass(frozen=True, slots=True)
class DataSpec:
    """The toy data: ``n`` points of y = 0.75 x² + x + 2 + noise·ε with x, ε ~ N(0, 1)."""

    n: int = _DEFAULT["n"]
    noise: float = _DEFAULT["noise"]
    seed: int = _DEFAULT["seed"]
    PARAMS: ClassVar[tuple[Param, ...]] = DATA_PARAMS

    def __post_init__(self) -> None:
        check_fields(self, DATA_PARAMS, "data")


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
        y = np.array(x + 0.5 + spec.noise * rng.randn(spec.n) > 0, dtype=np.float32)
    else:
        y = np.array(0.75 * x**2 + 1.0 * x + 2.0 + spec.noise * rng.randn(spec.n), dtype=np.float32)
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y
