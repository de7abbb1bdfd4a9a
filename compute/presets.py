"""The classic figures of the toy lab as one-click presets, each with what to notice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Preset:
    """A classic figure: the optimizer's settings (the rest at the registry's defaults), the
    feature the neuron sees (``data``: x_scale, x_offset, standardize; the rest at their defaults),
    the epochs, a few words shown on its button (``gist``) and what to notice once clicked."""

    key: str
    label: str
    gist: str
    caption: str
    optimizer: str
    params: tuple[tuple[str, Any], ...]
    epochs: int = 100
    data: tuple[tuple[str, Any], ...] = ()


# The narrow valley: inputs that are not centred (x + 3) make MSE's Hessian ill-conditioned
# (κ ≈ 150 on the default data); lr 0.09 is just under 2/λmax.
NARROW = (("x_offset", 3.0),)

PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("plain", "SGD lr 0.1", "the baseline",
               "Plain gradient descent walks straight down the steepest slope, then crawls "
               "along the long valley toward the minimum.",
               "sgd", (("lr", 0.1),)),
        Preset("momentum", "momentum 0.9", "speed that overshoots",
               "Momentum 0.9 builds speed: the path overshoots the valley floor and spirals "
               "around the minimum before it settles.",
               "sgd", (("lr", 0.1), ("momentum", 0.9))),
        Preset("nesterov", "momentum 0.9 + nesterov", "looks ahead",
               "Nesterov looks ahead along the momentum: the same speed, but tighter turns "
               "and less overshoot than plain momentum.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("nesterov", True))),
        Preset("decay", "nesterov + weight_decay 2.0", "pulled toward 0",
               "weight_decay 2.0 pulls both parameters toward 0: the path settles at a point "
               "well away from the loss minimum.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("nesterov", True), ("weight_decay", 2.0))),
        Preset("dampening", "momentum 0.9 + dampening 0.8", "a softer buffer",
               "dampening 0.8 feeds only 20% of each new gradient into the buffer: "
               "shorter, smoother steps and a slower approach.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("dampening", 0.8))),
        Preset("narrow", "x + 3: SGD", "a narrow valley: plain SGD crawls",
               "The inputs are not centred (x_offset 3): the loss is a long, narrow, tilted valley, its "
               "condition number κ beside the lr control. lr must stay under 2/λmax for the steep walls; at "
               "lr 0.09 the path drops to the valley floor at once, then crawls along it and is still short "
               "of the minimum after 100 steps.",
               "sgd", (("lr", 0.09),), data=NARROW),
        Preset("narrow-momentum", "x + 3: momentum 0.9", "momentum gets through",
               "The same valley with momentum 0.9: speed builds along the floor, where the gradient keeps "
               "pointing the same way, and cancels across it. The run reaches the minimum that plain SGD "
               "was still crawling toward (the stable lr is 2(1 + μ)/λmax now, so lr 0.09 is safe).",
               "sgd", (("lr", 0.09), ("momentum", 0.9)), data=NARROW),
        Preset("standardized", "x + 3, standardized", "preprocessing fixes it",
               "Standardize x (zero mean, unit variance): the valley becomes a round bowl, κ = 1, "
               "every direction has curvature 2, and lr 0.5 = 1/λ lands on the minimum in one step. "
               "Preprocessing removes what momentum only works around.",
               "sgd", (("lr", 0.5),), data=(*NARROW, ("standardize", True))),
    )
}
