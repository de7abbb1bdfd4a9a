"""The classic test surfaces, beside the neuron's regression: f(x, y) minimized over the point (x, y).

One registry row per surface, each a formula of the whitelist (compute/expression.py) with its named
arguments, so that the map, the runs, the Hessian and the Code tab's script all come from one text:

- Rosenbrock (1960): (a − x)² + b·(y − x²)², minimum (a, a²): a curved, narrow valley;
- Rastrigin (1974): 2A + x² − A·cos 2πx + y² − A·cos 2πy, minimum (0, 0) among a lattice of local ones;
- Beale: (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)², minimum (3, 0.5);
- Himmelblau: (x² + y − 11)² + (x + y² − 7)², four minima of value 0;
- the saddle x² − y², no minimum: gradient descent leaves along y;
- a quadratic ½(x² + κ·y²), condition number κ: the Hessian is diag(1, κ) everywhere;
- an expression typed in x and y.

The point's coordinates are two torch parameters laid out as the neuron's: y in the weight's place
(shape (1, 1), the map's vertical axis) and x in the bias's (shape (1,), the horizontal axis). So every
optimizer's state, each figure and the runs' tables read a surface's point as (weight, bias) = (y, x),
and Muon, which takes 2-D parameters, takes y, while AdamW takes x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from compute.errors import InvalidSpec
from compute.expression import MAX_LENGTH, Expression, parse
from compute.params import Param

NONE = "none"  # the neuron on its data, no surface
EXPRESSION = "expression"
TEXT = "text"  # the expression row's setting: the formula


@dataclass(frozen=True, slots=True)
class SurfaceInfo:
    """A registry row: the formula with its arguments, the square worth looking at, a start and the
    minima where they are known (``minima(values)``; empty where there is none or none is known)."""

    key: str
    title: str
    formula: str  # in the whitelist's syntax, over x, y and the row's params
    params: tuple[Param, ...]
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max of its map
    start: tuple[float, float]  # (x₀, y₀)
    minima: Callable[[dict[str, Any]], tuple[tuple[float, float], ...]]
    help: str
    # the Hessian is the same at every point (a quadratic): the stability bound holds everywhere
    constant_hessian: bool = False
    # what the page sets with the surface: an lr at which SGD is stable from the start and at the minimum
    # nearest it (about half of 2/λmax there), and a log colour scale where f spans decades
    sgd_lr: float = 0.1
    log: bool = False

    def expression(self, values: dict[str, Any]) -> Expression:
        """The checked formula (the expression row's: the typed text)."""
        if self.key == EXPRESSION:
            return parse(values[TEXT])
        return parse(self.formula, tuple(p.name for p in self.params))

    def numbers(self, values: dict[str, Any]) -> dict[str, float]:
        """The row's named arguments (the expression's text aside)."""
        return {name: value for name, value in values.items() if name != TEXT}

    def check(self, values: dict[str, Any]) -> None:
        """InvalidSpec (field ``expression.text``) for a formula the whitelist refuses."""
        if self.key == NONE:
            return
        try:
            self.expression(values)
        except InvalidSpec as err:
            raise InvalidSpec(err.message, f"{self.key}.{TEXT}") from None

    def function(self, values: dict[str, Any]) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """f(x, y) on tensors, elementwise."""
        expression, numbers = self.expression(values), self.numbers(values)
        return lambda x, y: expression.evaluate(x, y, numbers)

    def source(self, values: dict[str, Any]) -> str:
        """f as torch code over tensors x and y (the Code tab)."""
        return self.expression(values).source(self.numbers(values))


_HIMMELBLAU = ((3.0, 2.0), (-2.805118086952745, 3.131312518250573), (-3.779310253377747, -3.283185991286170),
               (3.584428340330492, -1.848126526964404))

SURFACES: dict[str, SurfaceInfo] = {
    row.key: row
    for row in (
        SurfaceInfo(NONE, "the neuron on its data", "", (), (0, 0, 0, 0), (0, 0), lambda v: (),
                    "ŷ = w·x + b fit to the data set under the chosen loss"),
        SurfaceInfo(
            "rosenbrock", "Rosenbrock", "(a - x)**2 + b*(y - x**2)**2",
            (Param("a", float, 1.0, -10.0, 10.0, help="the minimum is at (a, a²)", span=(-2.0, 2.0)),
             Param("b", float, 100.0, 0.0, 1e4, log=True, help="the valley's steepness", span=(0.1, 1000.0))),
            (-2.0, 2.0, -1.0, 3.0), (-1.5, 2.0), lambda v: ((v["a"], v["a"] ** 2),),
            "a curved, narrow valley: finding it is easy, following it to (a, a²) is not",
            sgd_lr=0.0005, log=True),  # 2/λmax: 0.00096 at the start
        SurfaceInfo(
            "rastrigin", "Rastrigin", "2*A + x**2 - A*cos(2*pi*x) + y**2 - A*cos(2*pi*y)",
            (Param("A", float, 10.0, 0.0, 100.0, help="the depth of the ripples", span=(0.0, 40.0)),),
            (-4.5, 4.5, -4.5, 4.5), (-2.0, 3.5), lambda v: ((0.0, 0.0),),
            "a bowl under a lattice of ripples: a local minimum near every whole-number point",
            sgd_lr=0.002),  # 2/λmax: 0.0050
        SurfaceInfo(
            "beale", "Beale", "(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2", (),
            (-4.5, 4.5, -4.5, 4.5), (1.0, 1.5), lambda v: ((3.0, 0.5),),
            "flat plateaus and sharp ridges; the minimum (3, 0.5) lies in a narrow trough",
            sgd_lr=0.003, log=True),  # 2/λmax: 0.0071 at the start
        SurfaceInfo(
            "himmelblau", "Himmelblau", "(x**2 + y - 11)**2 + (x + y**2 - 7)**2", (),
            (-5.0, 5.0, -5.0, 5.0), (0.0, 0.0), lambda v: _HIMMELBLAU,
            "four minima of the same value 0: which one a run reaches depends on where it starts and how it moves",
            sgd_lr=0.01, log=True),  # 2/λmax: 0.024 at (3, 2)
        SurfaceInfo(
            "saddle", "saddle", "x**2 - y**2", (), (-2.0, 2.0, -2.0, 2.0), (1.5, 0.05), lambda v: (),
            "a minimum along x, a maximum along y: no minimum; a run near the ridge slows, then leaves along y",
            constant_hessian=True),
        SurfaceInfo(
            "quadratic", "quadratic", "(x**2 + kappa*y**2)/2",
            (Param("kappa", float, 10.0, 1.0, 1e4, log=True, label="κ", span=(1.0, 1000.0),
                   help="the condition number: the Hessian is diag(1, κ)"),),
            (-2.0, 2.0, -2.0, 2.0), (-1.8, 1.2), lambda v: ((0.0, 0.0),),
            "an elongated bowl: κ = λmax/λmin sets how far gradient descent zigzags across it",
            constant_hessian=True),
        SurfaceInfo(
            EXPRESSION, "expression",
            "", (Param(TEXT, str, "sin(x) + cos(y) + (x^2 + y^2)/10", hi=MAX_LENGTH, label="f(x, y)",
                       help="a formula in x and y: numbers, + − * / ** (or ^), sin, cos, exp, log, sqrt, abs, "
                            "tanh, …"),),
            (-5.0, 5.0, -5.0, 5.0), (-3.0, 2.0), lambda v: (),
            "your own formula, read from a small whitelist into torch operations (never run as Python)"),
    )
}


# The settings that place a run and its map: the start (x₀, y₀) and the square (x range, y range), as
# the run's and the grid's settings name them (the point's x is the bias, its y the weight).
START_KEYS = ("init_bias", "init_weight")
EXTENT_KEYS = ("b_min", "b_max", "w_min", "w_max")


def surface_extent(name: str) -> dict[str, float]:
    """The surface's map square, as the grid's settings (b: x, w: y)."""
    return dict(zip(EXTENT_KEYS, SURFACES[name].extent, strict=True))


def surface_start(name: str) -> dict[str, float]:
    """The surface's start point as the run's settings (init_bias: x₀, init_weight: y₀)."""
    return dict(zip(START_KEYS, SURFACES[name].start, strict=True))


def nearest_minimum(name: str, values: dict[str, Any], x: float, y: float) -> tuple[float, float] | None:
    """The surface's known minimum nearest (x, y), None where none is known."""
    minima = SURFACES[name].minima(values)
    return min(minima, key=lambda m: (m[0] - x) ** 2 + (m[1] - y) ** 2) if minima else None


__all__ = ["EXPRESSION", "EXTENT_KEYS", "NONE", "START_KEYS", "SURFACES", "TEXT", "SurfaceInfo", "nearest_minimum", "surface_extent",
           "surface_start"]
