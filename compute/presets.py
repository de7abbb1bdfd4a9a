"""The classic figures of the toy lab as one-click presets, each with what to notice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Preset:
    key: str
    label: str
    caption: str
    optimizer: str
    params: tuple[tuple[str, Any], ...]
    epochs: int = 100


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset("plain", "SGD lr 0.1",
               "Plain gradient descent walks straight down the steepest slope, then crawls "
               "along the long valley toward the minimum.",
               "sgd", (("lr", 0.1),)),
        Preset("momentum", "momentum 0.9",
               "Momentum 0.9 builds speed: the path overshoots the valley floor and spirals "
               "around the minimum before it settles.",
               "sgd", (("lr", 0.1), ("momentum", 0.9))),
        Preset("nesterov", "momentum 0.9 + nesterov",
               "Nesterov looks ahead along the momentum: the same speed, but tighter turns "
               "and less overshoot than plain momentum.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("nesterov", True))),
        Preset("decay", "nesterov + weight_decay 2.0",
               "weight_decay 2.0 pulls both parameters toward 0: the path settles at a point "
               "well away from the loss minimum.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("nesterov", True), ("weight_decay", 2.0))),
        Preset("dampening", "momentum 0.9 + dampening 0.8",
               "dampening 0.8 feeds only 20% of each new gradient into the buffer: "
               "shorter, smoother steps and a slower approach.",
               "sgd", (("lr", 0.1), ("momentum", 0.9), ("dampening", 0.8))),
    )
}
