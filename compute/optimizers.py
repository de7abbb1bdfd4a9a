"""The optimizer registry: one row per torch.optim class, generating controls, CLI and checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from compute.errors import InvalidSpec
from compute.params import Param

# A cross-parameter rule: (predicate on the values that is true when they are invalid,
# the field to blame, the message).
Rule = tuple[Callable[[dict[str, Any]], bool], str, str]


@dataclass(frozen=True, slots=True)
class OptimizerInfo:
    """A registry row: the torch.optim class, its hyperparameters and its cross-field rules."""

    key: str
    title: str
    torch_cls: type[torch.optim.Optimizer]
    params: tuple[Param, ...]
    rules: tuple[Rule, ...]
    help: str

    def build(self, parameters: Iterable[torch.Tensor], values: dict[str, Any]) -> torch.optim.Optimizer:
        """The torch optimizer over ``parameters`` with these hyperparameters."""
        return self.torch_cls(parameters, **values)

    def check(self, values: dict[str, Any]) -> None:
        """Raise InvalidSpec for a combination torch would reject (or that makes no sense).

        The rules give a message by the right control; constructing the real optimizer
        afterwards catches anything torch rejects that no rule foresaw.
        """
        for invalid, name, message in self.rules:
            if invalid(values):
                raise InvalidSpec(message, f"{self.key}.{name}")
        rejection = _torch_rejects(self.key, tuple(sorted(values.items())))
        if rejection:
            raise InvalidSpec(f"torch.optim.{self.title} rejects these settings: {rejection}", self.key)


@lru_cache(maxsize=1024)
def _torch_rejects(key: str, values: tuple[tuple[str, Any], ...]) -> str | None:
    """torch's own objection to these hyperparameters, or None (memoized per setting)."""
    try:
        OPTIMIZERS[key].build([torch.zeros(1, requires_grad=True)], dict(values))
    except (ValueError, TypeError, RuntimeError) as err:
        return str(err)
    return None


_NESTEROV = "Nesterov momentum requires a momentum and zero dampening"

SGD = OptimizerInfo(
    key="sgd",
    title="SGD",
    torch_cls=torch.optim.SGD,
    params=(
        Param("lr", float, 0.1, 0.0, 100.0, log=True, help="learning rate: the step is lr × update"),
        Param("momentum", float, 0.0, 0.0, 10.0, help="buf ← momentum·buf + (1 − dampening)·g"),
        Param("dampening", float, 0.0, 0.0, 1.0, help="share of each new gradient kept out of the buffer"),
        Param("weight_decay", float, 0.0, 0.0, 100.0, help="adds weight_decay·θ to the gradient (L2)"),
        Param("nesterov", bool, False, help="step along g + momentum·buf instead of buf"),
        Param("maximize", bool, False, help="ascend the loss instead of descending it"),
    ),
    rules=(
        (lambda v: v["nesterov"] and v["momentum"] <= 0, "nesterov",
         "nesterov needs momentum > 0 (torch.optim.SGD: " + _NESTEROV + ")"),
        (lambda v: v["nesterov"] and v["dampening"] != 0, "nesterov",
         "nesterov needs dampening = 0 (torch.optim.SGD: " + _NESTEROV + ")"),
    ),
    help="θ ← θ − lr·(g + weight_decay·θ), with optional (Nesterov) momentum",
)

OPTIMIZERS: dict[str, OptimizerInfo] = {row.key: row for row in (SGD,)}
