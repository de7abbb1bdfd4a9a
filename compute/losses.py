"""The loss registry: one row per torch.nn loss, generating controls, CLI options and checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from compute.data import toy_data
from compute.params import Param


@dataclass(frozen=True, slots=True)
class LossInfo:
    """A registry row: the torch.nn class and the hyperparameters it takes."""

    key: str
    title: str
    torch_cls: type[torch.nn.Module]
    params: tuple[Param, ...]
    help: str
    # dℓ/dŷ of the elementwise loss at prediction ŷ and target y, as torch's backward computes it
    derivative: Callable[[torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]
    problem: str = "regression"  # which toy data set: "regression" or "classification"

    def module(self, values: dict[str, Any], reduction: str = "mean") -> torch.nn.Module:
        """The torch.nn loss module with these hyperparameters."""
        return self.torch_cls(reduction=reduction, **values)


def _smooth_l1_derivative(pred: torch.Tensor, target: torch.Tensor, v: dict[str, Any]) -> torch.Tensor:
    r = pred - target
    if v["beta"] == 0:
        return r.sign()
    return torch.where(r.abs() < v["beta"], r / v["beta"], r.sign())


LOSSES: dict[str, LossInfo] = {
    row.key: row
    for row in (
        LossInfo("mse", "MSELoss", torch.nn.MSELoss, (), "mean of (ŷ − y)²", lambda p, t, v: 2 * (p - t)),
        LossInfo("l1", "L1Loss", torch.nn.L1Loss, (), "mean of |ŷ − y|", lambda p, t, v: (p - t).sign()),
        LossInfo(
            "huber",
            "HuberLoss",
            torch.nn.HuberLoss,
            (Param("delta", float, 1.0, 0.0, 100.0, lo_open=True, log=True, span=(0.01, 100.0),
                   help="where the loss turns from quadratic to linear"),),
            "½(ŷ − y)² if |ŷ − y| < delta, else delta·(|ŷ − y| − ½delta)",
            lambda p, t, v: (p - t).clamp(-v["delta"], v["delta"]),
        ),
        LossInfo(
            "smoothl1",
            "SmoothL1Loss",
            torch.nn.SmoothL1Loss,
            (Param("beta", float, 1.0, 0.0, 100.0, log=True, span=(0.01, 100.0),
                   help="width of the quadratic zone; 0 gives L1Loss"),),
            "½(ŷ − y)²/beta if |ŷ − y| < beta, else |ŷ − y| − ½beta",
            _smooth_l1_derivative,
        ),
        LossInfo(
            "bce",
            "BCEWithLogitsLoss",
            torch.nn.BCEWithLogitsLoss,
            (),
            "−[y·log σ(z) + (1 − y)·log(1 − σ(z))], z = w·x + b the logit; on its own two-class data",
            lambda p, t, v: torch.sigmoid(p) - t,
            "classification",
        ),
    )
}
REGRESSION_LOSSES: tuple[str, ...] = tuple(k for k, row in LOSSES.items() if row.problem == "regression")


def loss_data(data: Any, loss: str) -> tuple[Any, Any]:
    """The toy data set a loss is fit to: the parabola, or two classes for BCEWithLogitsLoss."""
    return toy_data(data, LOSSES[loss].problem)
