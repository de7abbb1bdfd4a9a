"""The optimizer registry: one row per torch.optim class, generating controls, CLI and checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from compute.errors import InvalidSpec
from compute.params import Param

# A cross-parameter rule: (predicate on the values that is true when they are invalid,
# the field to blame, the message).
Rule = tuple[Callable[[dict[str, Any]], bool], str, str]
# What an optimizer's state says after a step, per parameter: the displacement its moment
# (momentum buffer, first moment) drives, and the effective step size (lr for SGD).
StateView = tuple[list[float] | None, list[float]]


def _value(state: dict, name: str) -> float:
    return float(state[name].reshape(-1)[0])


def _div(a: float, b: float) -> float:
    """a / b as torch's tensors divide (eps may be 0): ±inf, or nan for 0 / 0, never an exception."""
    if b != 0:
        return a / b
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def _sgd_view(states: list[dict], v: dict[str, Any]) -> StateView:
    if v["momentum"] == 0 or "momentum_buffer" not in states[0]:
        return None, [v["lr"]] * len(states)
    return [-v["lr"] * _value(s, "momentum_buffer") for s in states], [v["lr"]] * len(states)


def _adam_view(states: list[dict], v: dict[str, Any]) -> StateView:
    arrow, sizes = [], []
    for s in states:  # effective step size lr/(√v̂ + eps); the moment's step −size·m̂
        step = _value(s, "step")
        second = _value(s, "max_exp_avg_sq" if v["amsgrad"] else "exp_avg_sq")
        size = _div(v["lr"], second**0.5 / (1 - v["beta2"] ** step) ** 0.5 + v["eps"])
        sizes.append(size)
        arrow.append(-size * _value(s, "exp_avg") / (1 - v["beta1"] ** step))
    return arrow, sizes


def _rmsprop_view(states: list[dict], v: dict[str, Any]) -> StateView:
    sizes = []
    for s in states:
        mean_square = _value(s, "square_avg") - (_value(s, "grad_avg") ** 2 if v["centered"] else 0.0)
        sizes.append(_div(v["lr"], max(mean_square, 0.0) ** 0.5 + v["eps"]))
    if v["momentum"] > 0:
        return [-v["lr"] * _value(s, "momentum_buffer") for s in states], sizes
    return None, sizes


def _adagrad_view(states: list[dict], v: dict[str, Any]) -> StateView:
    sizes = []
    for s in states:
        clr = v["lr"] / (1 + (_value(s, "step") - 1) * v["lr_decay"])
        sizes.append(_div(clr, _value(s, "sum") ** 0.5 + v["eps"]))
    return None, sizes


@dataclass(frozen=True, slots=True)
class OptimizerInfo:
    """A registry row: the torch.optim class, its hyperparameters and its cross-field rules."""

    key: str
    title: str
    torch_cls: type[torch.optim.Optimizer]
    params: tuple[Param, ...]
    rules: tuple[Rule, ...]
    help: str
    view: Callable[[list[dict], dict[str, Any]], StateView]
    arrow: str | None  # what the arrow shows, in torch's state names

    def state_view(self, optimizer: torch.optim.Optimizer, values: dict[str, Any],
                   params: list[torch.Tensor]) -> StateView:
        """The moment's displacement and the effective step sizes after the last step, for
        ``params`` (one run's weight and bias, of the optimizer's parameters).

        Empty state (before the first step) gives (None, None-like lr sizes).
        """
        states = [optimizer.state.get(p, {}) for p in params]
        if not all(states):
            return None, [float("nan")] * len(params)
        return self.view(states, values)

    def torch_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the torch class (``beta1``, ``beta2`` become ``betas``)."""
        kwargs = {k: v for k, v in values.items() if k not in ("beta1", "beta2")}
        if "beta1" in values:
            kwargs["betas"] = (values["beta1"], values["beta2"])
        return kwargs

    def build(self, parameters: Iterable[torch.Tensor], values: dict[str, Any]) -> torch.optim.Optimizer:
        """The torch optimizer over ``parameters`` with these hyperparameters."""
        return self.torch_cls(parameters, **self.torch_kwargs(values))

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


_MAXIMIZE = Param("maximize", bool, False, help="ascend the loss instead of descending it")
_WEIGHT_DECAY = Param("weight_decay", float, 0.0, 0.0, 100.0, log=True,
                      help="adds weight_decay·θ to the gradient (L2)", span=(1e-4, 2.0))
_NESTEROV = "Nesterov momentum requires a momentum and zero dampening"

SGD = OptimizerInfo(
    key="sgd",
    title="SGD",
    torch_cls=torch.optim.SGD,
    params=(
        Param("lr", float, 0.1, 0.0, 100.0, log=True, help="learning rate: the step is lr × update",
              span=(1e-3, 1.0)),
        Param("momentum", float, 0.0, 0.0, 10.0, help="buf ← momentum·buf + (1 − dampening)·g",
              span=(0.0, 0.99)),
        Param("dampening", float, 0.0, 0.0, 1.0, help="share of each new gradient kept out of the buffer"),
        _WEIGHT_DECAY,
        Param("nesterov", bool, False, help="step along g + momentum·buf instead of buf"),
        _MAXIMIZE,
    ),
    rules=(
        (lambda v: v["nesterov"] and v["momentum"] <= 0, "nesterov",
         "nesterov needs momentum > 0 (torch.optim.SGD: " + _NESTEROV + ")"),
        (lambda v: v["nesterov"] and v["dampening"] != 0, "nesterov",
         "nesterov needs dampening = 0 (torch.optim.SGD: " + _NESTEROV + ")"),
    ),
    help="θ ← θ − lr·(g + weight_decay·θ), with optional (Nesterov) momentum",
    view=_sgd_view,
    arrow="−lr·momentum_buffer",
)

def _lr(default: float) -> Param:
    return Param("lr", float, default, 0.0, 100.0, log=True, help="learning rate", span=(1e-3, 1.0))


_BETAS = (
    Param("beta1", float, 0.9, 0.0, 1.0, hi_open=True, help="decay of the first moment (mean of g)",
          label="betas[0]", span=(0.0, 0.99)),
    Param("beta2", float, 0.999, 0.0, 1.0, hi_open=True, help="decay of the second moment (mean of g²)",
          label="betas[1]", span=(0.9, 0.9999)),
)
def _adam(key: str, title: str, cls: type[torch.optim.Optimizer], decay: float, decay_help: str) -> OptimizerInfo:
    return OptimizerInfo(
        key=key,
        title=title,
        torch_cls=cls,
        params=(
            _lr(1e-3),
            *_BETAS,
            Param("eps", float, 1e-8, 0.0, 1.0, log=True, help="added to √v̂ in the denominator",
                  span=(1e-10, 1.0)),
            Param("weight_decay", float, decay, 0.0, 100.0, log=True, help=decay_help, span=(1e-4, 2.0)),
            Param("amsgrad", bool, False, help="divide by the running maximum of v̂"),
            _MAXIMIZE,
        ),
        rules=(),
        help="θ ← θ − lr·m̂/(√v̂ + eps), m and v running means of g and g²",
        view=_adam_view,
        arrow="−lr·m̂/(√v̂ + eps) (exp_avg)",
    )


ADAM = _adam("adam", "Adam", torch.optim.Adam, 0.0, "adds weight_decay·θ to the gradient (L2)")
ADAMW = _adam("adamw", "AdamW", torch.optim.AdamW, 1e-2,
              "decoupled: θ ← θ·(1 − lr·weight_decay) before the Adam step")
RMSPROP = OptimizerInfo(
    key="rmsprop",
    title="RMSprop",
    torch_cls=torch.optim.RMSprop,
    params=(
        _lr(1e-2),
        Param("alpha", float, 0.99, 0.0, 1.0, help="decay of the running mean of g²", span=(0.5, 0.999)),
        Param("eps", float, 1e-8, 0.0, 1.0, log=True, help="added to √v in the denominator",
              span=(1e-10, 1.0)),
        _WEIGHT_DECAY,
        Param("momentum", float, 0.0, 0.0, 10.0, help="buf ← momentum·buf + g/(√v + eps)", span=(0.0, 0.99)),
        Param("centered", bool, False, help="divide by the variance of g instead of its mean square"),
        _MAXIMIZE,
    ),
    rules=(),
    help="θ ← θ − lr·g/(√v + eps), v a running mean of g²",
    view=_rmsprop_view,
    arrow="−lr·momentum_buffer",
)
ADAGRAD = OptimizerInfo(
    key="adagrad",
    title="Adagrad",
    torch_cls=torch.optim.Adagrad,
    params=(
        _lr(1e-2),
        Param("lr_decay", float, 0.0, 0.0, 100.0, log=True, help="lr / (1 + (step − 1)·lr_decay)",
              span=(1e-4, 1.0)),
        _WEIGHT_DECAY,
        Param("initial_accumulator_value", float, 0.0, 0.0, 100.0, help="starting sum of g²", span=(0.0, 10.0)),
        Param("eps", float, 1e-10, 0.0, 1.0, log=True, help="added to √(sum of g²)", span=(1e-10, 1.0)),
        _MAXIMIZE,
    ),
    rules=(),
    help="θ ← θ − lr·g/(√(sum of g²) + eps)",
    view=_adagrad_view,
    arrow=None,
)

OPTIMIZERS: dict[str, OptimizerInfo] = {row.key: row for row in (SGD, ADAM, ADAMW, RMSPROP, ADAGRAD)}
