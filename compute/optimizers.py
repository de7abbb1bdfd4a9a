"""The optimizer registry: one row per torch.optim class, generating controls, CLI and checks.

A row also carries what theory says of the optimizer's stability (``Stability``, see
compute/curvature.py's note for the derivations): the toy lab's stable learning rate, the sweep's
stability ratio and the sharpness during training's threshold all ask the row, never its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
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


def _sgd_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    if v["momentum"] == 0 or "momentum_buffer" not in states[0]:
        return None, [v["lr"]] * len(states)
    return [-v["lr"] * _value(s, "momentum_buffer") for s in states], [v["lr"]] * len(states)


def _adam_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    arrow, sizes = [], []
    for s in states:  # effective step size lr/(√v̂ + eps); the moment's step −size·m̂
        step = _value(s, "step")
        second = _value(s, "max_exp_avg_sq" if v["amsgrad"] else "exp_avg_sq")
        size = _div(v["lr"], second**0.5 / (1 - v["beta2"] ** step) ** 0.5 + v["eps"])
        sizes.append(size)
        arrow.append(-size * _value(s, "exp_avg") / (1 - v["beta1"] ** step))
    return arrow, sizes


def _rmsprop_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    sizes = []
    for s in states:
        mean_square = _value(s, "square_avg") - (_value(s, "grad_avg") ** 2 if v["centered"] else 0.0)
        sizes.append(_div(v["lr"], max(mean_square, 0.0) ** 0.5 + v["eps"]))
    if v["momentum"] > 0:
        return [-v["lr"] * _value(s, "momentum_buffer") for s in states], sizes
    return None, sizes


def _adagrad_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    if _value(states[0], "step") == 0:  # torch makes Adagrad's state before the first step: no step yet
        return None, [float("nan")] * len(states)
    sizes = []
    for s in states:
        clr = v["lr"] / (1 + (_value(s, "step") - 1) * v["lr_decay"])
        sizes.append(_div(clr, _value(s, "sum") ** 0.5 + v["eps"]))
    return None, sizes


def _adamax_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    arrow, sizes = [], []
    for s in states:  # θ ← θ − lr/(1 − β1ᵗ)·m/u: the size lr/((1 − β1ᵗ)·u), the moment's step −size·m
        size = _div(v["lr"], (1 - v["beta1"] ** _value(s, "step")) * _value(s, "exp_inf"))
        sizes.append(size)
        arrow.append(-size * _value(s, "exp_avg"))
    return arrow, sizes


def _nadam_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    arrow, sizes = [], []
    for s in states:  # the step's momentum part: −lr·μₜ₊₁/(1 − Πμ·μₜ₊₁)·m/denom
        step = _value(s, "step")
        denom = (_value(s, "exp_avg_sq") / (1 - v["beta2"] ** step)) ** 0.5 + v["eps"]
        mu_next = v["beta1"] * (1.0 - 0.5 * 0.96 ** ((step + 1) * v["momentum_decay"]))
        sizes.append(_div(v["lr"], denom))
        arrow.append(-_div(v["lr"] * mu_next, 1.0 - _value(s, "mu_product") * mu_next) * _div(_value(s, "exp_avg"), denom))
    return arrow, sizes


def _radam_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    arrow, sizes = [], []
    for s in states:  # rectified: lr·r·√(1 − β2ᵗ)/(√v + eps) once ρₜ > 5, plain lr (SGD with momentum) before
        step, beta2 = _value(s, "step"), v["beta2"]
        rho_inf = 2 / (1 - beta2) - 1
        rho = rho_inf - 2 * step * beta2**step / (1 - beta2**step)
        size = v["lr"]
        if rho > 5:
            rect = ((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)) ** 0.5
            size = _div(v["lr"] * rect * (1 - beta2**step) ** 0.5, _value(s, "exp_avg_sq") ** 0.5 + v["eps"])
        sizes.append(size)
        arrow.append(-size * _value(s, "exp_avg") / (1 - v["beta1"] ** step))
    return arrow, sizes


def _adadelta_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    # the gradient's multiplier lr·√(E[Δ²] + eps)/√(E[g²] + eps) from the state after the step (the
    # step itself took E[Δ²] before this step's Δ entered it)
    return None, [_div(v["lr"] * (_value(s, "acc_delta") + v["eps"]) ** 0.5, (_value(s, "square_avg") + v["eps"]) ** 0.5)
                  for s in states]


def _asgd_view(states: list[dict], v: dict[str, Any], params: list[torch.Tensor]) -> StateView:
    """The arrow: from θ to the averaged iterate ax (ASGD's answer). The size: the η the last step
    took, lr/(1 + lambd·lr·(t − 1))^alpha in float32 as torch holds it (its state holds the next)."""
    sizes = [float(np.float32(v["lr"] / (1 + v["lambd"] * v["lr"] * (_value(s, "step") - 1)) ** v["alpha"]))
             for s in states]
    return [_value(s, "ax") - _value({"p": p.detach()}, "p") for s, p in zip(states, params)], sizes


def _rprop_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    return None, [_value(s, "step_size") for s in states]  # each parameter moves ±step_size


def _adafactor_view(states: list[dict], v: dict[str, Any], params: list[torch.Tensor]) -> StateView:
    sizes = []
    for s, p in zip(states, params):  # α·v̂^(-1/2), α = max(eps2, RMS(θ))·min(lr, 1/√t), before the RMS clip
        eps1 = v["eps1"] or float(torch.finfo(p.dtype).eps)
        if "variance" in s:
            estimate = _value(s, "variance")
        else:
            row = _value(s, "row_var")
            estimate = row * _value(s, "col_var") / max(row, eps1)
        rho = min(v["lr"], _value(s, "step") ** -0.5)
        alpha = max(v["eps2"], float(p.detach().norm()) / p.numel() ** 0.5) * rho
        sizes.append(alpha * max(estimate, eps1 * eps1) ** -0.5)
    return None, sizes


class MuonAdamW(torch.optim.Optimizer):
    """torch.optim.Muon for the 2-D parameters and torch.optim.AdamW for the others, as torch's
    documentation pairs them (Muon is for matrices: a bias, a conv filter go to AdamW), stepped as
    one optimizer: its param groups are the two optimizers' own (a scheduler sets both lrs), its state
    theirs. Muon's arguments as torch.optim.Muon's; AdamW's prefixed ``adamw_``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, weight_decay: float = 0.1,
                 momentum: float = 0.95, nesterov: bool = True,
                 ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315), eps: float = 1e-7,
                 ns_steps: int = 5, adjust_lr_fn: str | None = None, adamw_lr: float = 1e-3,
                 adamw_betas: tuple[float, float] = (0.9, 0.999), adamw_eps: float = 1e-8,
                 adamw_weight_decay: float = 0.01) -> None:
        params = list(params)
        matrices = [p for p in params if p.ndim == 2]
        others = [p for p in params if p.ndim != 2]
        muon = {"params": matrices, "lr": lr, "weight_decay": weight_decay, "momentum": momentum,
                "nesterov": nesterov, "ns_coefficients": tuple(ns_coefficients), "eps": eps, "ns_steps": ns_steps,
                "adjust_lr_fn": adjust_lr_fn}
        adamw = {"params": others, "lr": adamw_lr, "betas": tuple(adamw_betas), "eps": adamw_eps,
                 "weight_decay": adamw_weight_decay}
        super().__init__([g for g in (muon, adamw) if g["params"]], {})
        self.parts = []
        if matrices:
            self.parts.append(torch.optim.Muon([muon], lr=lr, weight_decay=weight_decay, momentum=momentum,
                                               nesterov=nesterov, ns_coefficients=tuple(ns_coefficients), eps=eps,
                                               ns_steps=ns_steps, adjust_lr_fn=adjust_lr_fn))
        if others:
            self.parts.append(torch.optim.AdamW([adamw], lr=adamw_lr, betas=tuple(adamw_betas), eps=adamw_eps,
                                                weight_decay=adamw_weight_decay))
        for part in self.parts:
            part.state = self.state  # one state, keyed by parameter (the two share none)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for part in self.parts:
            part.step()
        return loss


def _muon_step(u: float, coefficients: tuple[float, float, float], steps: int, eps: float) -> float:
    """What torch.optim.Muon's own step (lr 1, no momentum, no decay) moves a 1 × 1 weight by, for
    the gradient [[u]]: its Newton–Schulz orthogonalization of u."""
    p = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Muon([p], lr=1.0, weight_decay=0.0, momentum=0.0, nesterov=False,
                           ns_coefficients=coefficients, eps=eps, ns_steps=steps)
    p.grad = torch.tensor([[u]], dtype=torch.float64)
    opt.step()
    return -float(p.detach()[0, 0])


@lru_cache(maxsize=64)
def _muon_unit(coefficients: tuple[float, float, float], steps: int, eps: float) -> float:
    """K: the iteration of 1, what any update at or above eps in size becomes (with its sign)."""
    return _muon_step(1.0, coefficients, steps, eps)


def muon_zeropower(values: np.ndarray, coefficients: tuple[float, float, float], steps: int, eps: float) -> np.ndarray:
    """What torch.optim.Muon's Newton–Schulz orthogonalization (in bfloat16) makes of 1 × 1 matrices
    [[u]]: u/|u| is ±1, so it is sign(u)·K, K the iteration of 1, taken from torch's own step; a u
    under eps (the normalization's floor) goes through torch's step alone."""
    values = np.asarray(values, np.float64)
    in_bf16 = torch.from_numpy(values).to(torch.bfloat16).double().numpy()  # what the iteration starts from
    small = np.abs(in_bf16) < 2 * eps  # (the floor's own rounding aside: these go through torch)
    with np.errstate(invalid="ignore"):
        out = np.sign(in_bf16) * _muon_unit(coefficients, steps, eps)
    out[~np.isfinite(in_bf16)] = np.nan  # past bfloat16's range the iteration starts from inf/inf
    for index in zip(*np.nonzero(small & np.isfinite(in_bf16))):
        out[index] = _muon_step(float(values[index]), coefficients, steps, eps)
    return out


def _muon_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    sizes = []
    for s in states:
        if "momentum_buffer" in s:  # Muon's matrix: it moves by adjusted lr × K, whatever the gradient's size
            ratio = 0.2 if v["match_rms_adamw"] else 1.0
            sizes.append(v["lr"] * ratio * _muon_unit((v["ns_a"], v["ns_b"], v["ns_c"]), v["ns_steps"], v["eps"]))
        else:  # AdamW's bias: lr/(√v̂ + eps)
            step = _value(s, "step")
            second = _value(s, "exp_avg_sq") / (1 - v["adamw_beta2"] ** step)
            sizes.append(_div(v["adamw_lr"], second**0.5 + v["adamw_eps"]))
    return None, sizes


def _lbfgs_view(states: list[dict], v: dict[str, Any], _params: list[torch.Tensor]) -> StateView:
    """The last line search's step t·d (the run's weight, then bias, as LBFGS flattens them) and t."""
    s = states[0]
    if "d" not in s:
        return None, [float("nan")] * len(states)
    t = float(s["t"])
    d = s["d"].reshape(-1).tolist()
    return [t * d[0], t * d[1]], [t, t]


def sgd_factor(momentum: Any, dampening: Any, nesterov: bool) -> np.ndarray:
    """K of torch.optim.SGD's full-batch bound lr·(λ + wd) < K on a quadratic of largest Hessian
    eigenvalue λ (compute/curvature.py's note), over numbers or arrays of momentum μ and dampening τ:
    2 without momentum, 2(1 + μ)/(1 − τ) heavy ball, 2(1 + μ)/(1 + 2μ) Nesterov; NaN where no
    gradient enters the velocity (τ = 1); 0 (no lr) for a heavy ball with μ ≥ 1, whose iteration's
    two eigenvalues multiply to μ: one of them is at least 1 in size at every lr (torch accepts such
    a momentum). (Nesterov with μ ≥ 1 converges only inside a window, lr·λ > 1 − 1/μ for every
    eigenvalue as well: K stays its upper end.)"""
    mu, tau = np.asarray(momentum, np.float64), np.asarray(dampening, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        moving = 2 * (1 + mu) / (1 + 2 * mu) if nesterov else np.where(tau < 1, 2 * (1 + mu) / (1 - tau), np.nan)
    if not nesterov:
        moving = np.where(mu >= 1, 0.0, moving)
    return np.where(mu <= 0, 2.0, moving)


def adam_factor(beta1: Any) -> Any:
    """K of Adam's threshold K/lr on the preconditioned sharpness λmax(P⁻¹H), Cohen et al. (2022):
    (2 + 2β1)/(1 − β1), heavy ball with dampening β1 on the preconditioned problem (38 at β1 = 0.9)."""
    return (2 + 2 * beta1) / (1 - beta1)


def adam_scale(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """P^(-1/2) of torch's Adam/AdamW as a flat vector: P = (1 − β1ᵗ)(√(v/(1 − β2ᵗ)) + ε), so
    that λmax(P⁻¹H) = λmax(P^(-1/2) H P^(-1/2)). None before the first step."""
    parts = []
    for group in optimizer.param_groups:
        beta1, beta2 = group["betas"]
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state or "exp_avg_sq" not in state:
                return None
            t = float(state["step"])
            denom = (state["exp_avg_sq"] / (1 - beta2**t)).sqrt() + group["eps"]
            parts.append(((1 - beta1**t) * denom).reshape(-1).rsqrt())
    return torch.cat(parts)


def adamax_scale(optimizer: torch.optim.Optimizer) -> torch.Tensor | None:
    """P^(-1/2) of torch's Adamax as a flat vector: θ ← θ − lr·m/((1 − β1ᵗ)·u), so P = (1 − β1ᵗ)·u
    (u the running max of |g| + eps). None before the first step."""
    parts = []
    for group in optimizer.param_groups:
        beta1 = group["betas"][0]
        for p in group["params"]:
            state = optimizer.state.get(p)
            if not state or "exp_inf" not in state:
                return None
            parts.append(((1 - beta1 ** float(state["step"])) * state["exp_inf"]).reshape(-1).rsqrt())
    return torch.cat(parts)


@dataclass(frozen=True, slots=True)
class Stability:
    """What theory says of an optimizer's full-batch stability on a quadratic: stable while
    lr·λ < K, K = ``factor(values)``, λ the largest eigenvalue of the loss's Hessian (weight
    decay coupled as L2 adds to it: ``OptimizerInfo.l2``), or with a ``preconditioner`` P of
    P⁻¹H's. The threshold on the measured sharpness is K/lr.

    ``factor`` takes the hyperparameters by name, numbers or arrays of one shape (a sweep's grid),
    and returns K (NaN where no bound applies); ``label(values, K)`` names the threshold;
    ``preconditioner(optimizer)``: P^(-1/2) as a flat vector from the torch optimizer's state.
    """

    factor: Callable[[Mapping[str, Any]], Any]
    label: Callable[[Mapping[str, Any], float], str]
    preconditioner: Callable[[torch.optim.Optimizer], torch.Tensor | None] | None = None

    @property
    def preconditioned(self) -> bool:
        """Whether the bound is on P⁻¹H's λmax rather than the Hessian's own."""
        return self.preconditioner is not None

    def bound(self, values: Mapping[str, Any]) -> float | None:
        """K for these hyperparameters, or None where no bound applies."""
        factor = float(self.factor(values))
        return factor if np.isfinite(factor) else None

    def threshold(self, values: Mapping[str, Any]) -> float | None:
        """K/lr, the largest stable sharpness at these hyperparameters (None where no bound applies)."""
        factor = self.bound(values)
        return None if factor is None else factor / float(values["lr"])


SGD_STABILITY = Stability(
    factor=lambda v: sgd_factor(v["momentum"], v["dampening"], bool(v["nesterov"])),
    label=lambda v, k: "2/lr" if k == 2 else "none: no lr is stable with momentum ≥ 1" if k == 0 else f"{k:.4g}/lr",
)
ADAM_STABILITY = Stability(
    factor=lambda v: adam_factor(v["beta1"]),
    label=lambda v, k: f"(2 + 2β1)/((1 − β1)·lr) = {2 + 2 * v['beta1']:g}/({1 - v['beta1']:g}·lr)",
    preconditioner=adam_scale,
)
# Adamax is Adam's momentum on another preconditioner, P = (1 − β1ᵗ)·u: the same derivation, P's own
ADAMAX_STABILITY = Stability(factor=ADAM_STABILITY.factor, label=ADAM_STABILITY.label, preconditioner=adamax_scale)
# ASGD steps as SGD with weight decay lambd: θ ← θ − η(g + lambd·θ), η = lr at the first step and
# smaller after (lr/(1 + lambd·lr·t)^alpha): stable from the start while lr·(λ + wd + lambd) < 2
ASGD_STABILITY = Stability(factor=lambda v: np.full(np.shape(v["lr"]), 2.0),
                           label=lambda v, k: "2/lr (η = lr at the first step, smaller after)")


@dataclass(frozen=True, slots=True)
class OptimizerInfo:
    """A registry row: the torch.optim class, its hyperparameters and its cross-field rules, and
    its stability theory (None where none is known)."""

    key: str
    title: str
    torch_cls: type[torch.optim.Optimizer]
    params: tuple[Param, ...]
    rules: tuple[Rule, ...]
    help: str
    view: Callable[[list[dict], dict[str, Any], list[torch.Tensor]], StateView]
    arrow: str | None  # what the arrow shows, in torch's state names
    stability: Stability | None = None
    decoupled_decay: bool = False  # weight decay applied to θ apart from the gradient (AdamW), not as L2
    # torch's tuple arguments, each made of several of the row's params: ("betas", ("beta1", "beta2"))
    packed: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # params whose 0 is handed to torch as None (Adafactor's eps1: None is "the dtype's epsilon")
    none_at_zero: tuple[str, ...] = ()
    # a further L2 coefficient of the update beside weight_decay (ASGD's θ ← θ·(1 − lambd·η))
    l2_param: str | None = None
    # a bool param that stands for a string argument: (param, argument, value when true, when false)
    switch: tuple[str, str, Any, Any] | None = None
    # steps with a closure that evaluates the loss again (LBFGS)
    closure: bool = False
    # has a batched form (compute/batched.py); without one, sweeps and previews take torch's own loop,
    # and each run has its own optimizer (one that mixes its parameters would mix runs)
    batched: bool = True

    def l2(self, values: Mapping[str, Any]) -> Any:
        """The L2 coefficient the optimizer's weight decay adds to the loss, so to its Hessian:
        weight_decay when it enters the gradient, 0 when decoupled (AdamW's, or NAdam's and RAdam's
        ``decoupled_weight_decay``), plus ASGD's lambd (numbers or arrays)."""
        coupled = not (self.decoupled_decay or values.get("decoupled_weight_decay", False))
        extra = values.get(self.l2_param, 0.0) if self.l2_param else 0.0
        return (values.get("weight_decay", 0.0) if coupled else 0.0) + extra

    def state_view(self, optimizer: torch.optim.Optimizer, values: dict[str, Any],
                   params: list[torch.Tensor]) -> StateView:
        """The moment's displacement and the effective step sizes after the last step, for
        ``params`` (one run's weight and bias, of the optimizer's parameters).

        Empty state (before the first step) gives (None, None-like lr sizes).
        """
        if self.closure:  # LBFGS keeps its state on its first parameter, for all of them at once
            states = [optimizer.state.get(optimizer.param_groups[0]["params"][0], {})] * len(params)
        else:
            states = [optimizer.state.get(p, {}) for p in params]
        if not all(states):
            return None, [float("nan")] * len(params)
        return self.view(states, values, params)

    def torch_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of the torch class: ``beta1``, ``beta2`` become ``betas`` (each of
        ``packed``), a ``none_at_zero`` param's 0 becomes None."""
        values = {k: (None if k in self.none_at_zero and v == 0 else v) for k, v in values.items()}
        inside = {name for _, names in self.packed for name in names}
        kwargs = {k: v for k, v in values.items() if k not in inside}
        for argument, names in self.packed:
            if all(name in values for name in names):
                kwargs[argument] = tuple(values[name] for name in names)
        if self.switch and self.switch[0] in kwargs:
            name, argument, on, off = self.switch
            kwargs[argument] = on if kwargs.pop(name) else off
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
    stability=SGD_STABILITY,
)

LOOP_MAX_RUN_STEPS = 20_000  # runs × steps of torch's own loop where there is no batched form (LBFGS)


def _lr(default: float) -> Param:
    return Param("lr", float, default, 0.0, 100.0, log=True, help="learning rate", span=(1e-3, 1.0))


_BETAS = (
    Param("beta1", float, 0.9, 0.0, 1.0, hi_open=True, help="decay of the first moment (mean of g)",
          label="betas[0]", span=(0.0, 0.99)),
    Param("beta2", float, 0.999, 0.0, 1.0, hi_open=True, help="decay of the second moment (mean of g²)",
          label="betas[1]", span=(0.9, 0.9999)),
)
_PACKED_BETAS = (("betas", ("beta1", "beta2")),)


def _adam(key: str, title: str, cls: type[torch.optim.Optimizer], decay: float, decay_help: str,
          decoupled: bool) -> OptimizerInfo:
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
        stability=ADAM_STABILITY,
        decoupled_decay=decoupled,
        packed=_PACKED_BETAS,
    )


ADAM = _adam("adam", "Adam", torch.optim.Adam, 0.0, "adds weight_decay·θ to the gradient (L2)", False)
ADAMW = _adam("adamw", "AdamW", torch.optim.AdamW, 1e-2,
              "decoupled: θ ← θ·(1 − lr·weight_decay) before the Adam step", True)
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

_EPS = Param("eps", float, 1e-8, 0.0, 1.0, log=True, help="added to the denominator", span=(1e-10, 1.0))
_DECOUPLED = Param("decoupled_weight_decay", bool, False,
                   help="θ ← θ·(1 − lr·weight_decay) apart from the gradient (AdamW's), instead of L2")

ADAMAX = OptimizerInfo(
    key="adamax",
    title="Adamax",
    torch_cls=torch.optim.Adamax,
    params=(_lr(2e-3), *_BETAS[:1],
            Param("beta2", float, 0.999, 0.0, 1.0, hi_open=True, help="decay of the running max of |g|",
                  label="betas[1]", span=(0.9, 0.9999)),
            Param("eps", float, 1e-8, 0.0, 1.0, log=True, help="added to |g| before the running max",
                  span=(1e-10, 1.0)),
            _WEIGHT_DECAY, _MAXIMIZE),
    rules=(),
    help="θ ← θ − lr/(1 − β1ᵗ)·m/u, u ← max(β2·u, |g| + eps): Adam with the infinity norm",
    view=_adamax_view,
    arrow="−lr·m/((1 − β1ᵗ)·u) (exp_avg)",
    stability=ADAMAX_STABILITY,
    packed=_PACKED_BETAS,
)
NADAM = OptimizerInfo(
    key="nadam",
    title="NAdam",
    torch_cls=torch.optim.NAdam,
    params=(_lr(2e-3), *_BETAS, _EPS, _WEIGHT_DECAY,
            Param("momentum_decay", float, 4e-3, 0.0, 1.0, log=True,
                  help="μₜ = β1·(1 − ½·0.96^(t·momentum_decay)): the momentum's warm-up", span=(1e-4, 0.5)),
            _DECOUPLED, _MAXIMIZE),
    rules=(),
    help="Adam with Nesterov momentum: the step uses the next momentum μₜ₊₁ on m and (1 − μₜ) on g",
    view=_nadam_view,
    arrow="−lr·μₜ₊₁·m/((1 − Πμ)·(√v̂ + eps)) (exp_avg)",
    packed=_PACKED_BETAS,
)
RADAM = OptimizerInfo(
    key="radam",
    title="RAdam",
    torch_cls=torch.optim.RAdam,
    params=(_lr(1e-3), *_BETAS, _EPS, _WEIGHT_DECAY, _DECOUPLED, _MAXIMIZE),
    rules=(),
    help="Adam whose adaptive step is rectified: plain momentum SGD until the variance of v is known (ρₜ > 5)",
    view=_radam_view,
    arrow="−lr·r·m̂/(√v̂ + eps) (exp_avg)",
    packed=_PACKED_BETAS,
)
ADADELTA = OptimizerInfo(
    key="adadelta",
    title="Adadelta",
    torch_cls=torch.optim.Adadelta,
    params=(Param("lr", float, 1.0, 0.0, 100.0, log=True, help="scales the delta: θ ← θ − lr·Δ",
                  span=(1e-2, 10.0)),
            Param("rho", float, 0.9, 0.0, 1.0, help="decay of the running means of g² and Δ²", span=(0.5, 0.999)),
            Param("eps", float, 1e-6, 0.0, 1.0, log=True, help="added inside both square roots",
                  span=(1e-10, 1.0)),
            _WEIGHT_DECAY, _MAXIMIZE),
    rules=(),
    help="Δ = √(mean Δ² + eps)/√(mean g² + eps)·g, θ ← θ − lr·Δ: units of θ without a learning rate",
    view=_adadelta_view,
    arrow=None,
)
ASGD = OptimizerInfo(
    key="asgd",
    title="ASGD",
    torch_cls=torch.optim.ASGD,
    params=(_lr(1e-2),
            Param("lambd", float, 1e-4, 0.0, 100.0, log=True, help="decay term: θ ← θ·(1 − lambd·η) − η·g",
                  span=(1e-6, 1.0)),
            Param("alpha", float, 0.75, 0.0, 10.0, help="power of η's decay: η = lr/(1 + lambd·lr·t)^alpha",
                  span=(0.0, 2.0)),
            Param("t0", float, 1e6, 0.0, 1e8, log=True, help="the step from which ax averages the iterates",
                  span=(1.0, 1e6)),
            _WEIGHT_DECAY, _MAXIMIZE),
    rules=(),
    help="SGD with a decaying step η and the running average ax of the iterates from step t0",
    view=_asgd_view,
    arrow="ax − θ (the averaged iterate)",
    stability=ASGD_STABILITY,
    l2_param="lambd",
)
RPROP = OptimizerInfo(
    key="rprop",
    title="Rprop",
    torch_cls=torch.optim.Rprop,
    params=(Param("lr", float, 1e-2, 0.0, 100.0, log=True, help="every parameter's first step size",
                  span=(1e-3, 1.0)),
            Param("etaminus", float, 0.5, 0.0, 1.0, lo_open=True, hi_open=True, label="etas[0]",
                  help="the step size shrinks by this where the gradient's sign flips", span=(0.1, 0.9)),
            Param("etaplus", float, 1.2, 1.0, 100.0, lo_open=True, label="etas[1]",
                  help="the step size grows by this where the sign holds", span=(1.01, 3.0)),
            Param("step_size_min", float, 1e-6, 0.0, 50.0, log=True, label="step_sizes[0]",
                  help="the least step size", span=(1e-8, 1e-2)),
            Param("step_size_max", float, 50.0, 1e-6, 1e4, log=True, label="step_sizes[1]",
                  help="the largest step size", span=(1e-2, 100.0)),
            _MAXIMIZE),
    rules=((lambda v: v["step_size_min"] > v["step_size_max"], "step_size_min",
            "step_sizes[0] must not exceed step_sizes[1] (torch.optim.Rprop would clamp every step to the max)"),),
    help="θ ← θ − step·sign(g), the step ×etas[1] while g keeps its sign, ×etas[0] (and one step skipped) when it flips",
    view=_rprop_view,
    arrow=None,
    packed=(("etas", ("etaminus", "etaplus")), ("step_sizes", ("step_size_min", "step_size_max"))),
)
ADAFACTOR = OptimizerInfo(
    key="adafactor",
    title="Adafactor",
    torch_cls=torch.optim.Adafactor,
    params=(_lr(1e-2),
            Param("beta2_decay", float, -0.8, -10.0, 0.0,
                  help="the second moment's decay 1 − t^beta2_decay: a running mean that lengthens", span=(-1.0, 0.0)),
            Param("eps1", float, 0.0, 0.0, 1.0, label="eps[0]",
                  help="floor of the second moment's estimate; 0: None, torch's default, the dtype's machine epsilon",
                  span=(0.0, 1e-3)),
            Param("eps2", float, 1e-3, 0.0, 1.0, log=True, label="eps[1]",
                  help="the least parameter scale the step is relative to", span=(1e-5, 0.1)),
            Param("d", float, 1.0, 1.0, 100.0, help="clipping threshold: the update's RMS is cut to d",
                  span=(1.0, 10.0)),
            Param("weight_decay", float, 0.0, 0.0, 100.0, log=True,
                  help="decoupled: θ ← θ·(1 − lr·weight_decay) before the step", span=(1e-4, 2.0)),
            _MAXIMIZE),
    rules=(),
    help="θ ← θ − max(eps2, RMS(θ))·min(lr, 1/√t)·g/√v̂, v̂ factored into row and column means for matrices",
    view=_adafactor_view,
    arrow=None,
    decoupled_decay=True,
    packed=(("eps", ("eps1", "eps2")),),
    none_at_zero=("eps1",),
)

MUON = OptimizerInfo(
    key="muon",
    title="Muon",
    torch_cls=MuonAdamW,
    params=(_lr(1e-3),
            Param("weight_decay", float, 0.1, 0.0, 100.0, log=True, help="decoupled: θ ← θ·(1 − lr·weight_decay)",
                  span=(1e-4, 2.0)),
            Param("momentum", float, 0.95, 0.0, 10.0, help="buf ← lerp(buf, g, 1 − momentum)", span=(0.0, 0.99)),
            Param("nesterov", bool, True, help="orthogonalize lerp(g, buf, momentum) instead of buf"),
            Param("ns_a", float, 3.4445, -10.0, 10.0, label="ns_coefficients[0]",
                  help="a of the Newton–Schulz polynomial a·X + (b·XXᵀ + c·(XXᵀ)²)·X", span=(0.0, 5.0)),
            Param("ns_b", float, -4.775, -10.0, 10.0, label="ns_coefficients[1]", help="b of the polynomial",
                  span=(-6.0, 0.0)),
            Param("ns_c", float, 2.0315, -10.0, 10.0, label="ns_coefficients[2]", help="c of the polynomial",
                  span=(0.0, 3.0)),
            Param("eps", float, 1e-7, 0.0, 1.0, log=True, help="the floor of the matrix's norm before the iteration",
                  span=(1e-10, 1e-3)),
            Param("ns_steps", int, 5, 1, 99, help="Newton–Schulz iterations (in bfloat16)"),
            Param("match_rms_adamw", bool, False, label="adjust_lr_fn='match_rms_adamw'",
                  help="scale lr by 0.2·√max(A, B) (AdamW's RMS) instead of √max(1, A/B)"),
            Param("adamw_lr", float, 1e-3, 0.0, 100.0, log=True, help="AdamW's lr, for the parameters that are not matrices",
                  span=(1e-3, 1.0)),
            Param("adamw_beta1", float, 0.9, 0.0, 1.0, hi_open=True, label="AdamW betas[0]", help="AdamW's betas[0]",
                  span=(0.0, 0.99)),
            Param("adamw_beta2", float, 0.999, 0.0, 1.0, hi_open=True, label="AdamW betas[1]", help="AdamW's betas[1]",
                  span=(0.9, 0.9999)),
            Param("adamw_eps", float, 1e-8, 0.0, 1.0, log=True, label="AdamW eps", help="AdamW's eps",
                  span=(1e-10, 1.0)),
            Param("adamw_weight_decay", float, 1e-2, 0.0, 100.0, log=True, label="AdamW weight_decay",
                  help="AdamW's decoupled weight decay", span=(1e-4, 2.0))),
    rules=(),
    help="Muon for the weight matrix (2-D: the neuron's 1 × 1 weight, a network's linear layers): momentum, "
         "then the update orthogonalized by a Newton–Schulz iteration (for a 1 × 1 matrix ±K, a step of the same "
         "size whatever the gradient's); AdamW for the rest (the bias; a network's biases and conv filters), as "
         "torch's documentation pairs them",
    view=_muon_view,
    arrow=None,
    decoupled_decay=True,
    packed=(("ns_coefficients", ("ns_a", "ns_b", "ns_c")), ("adamw_betas", ("adamw_beta1", "adamw_beta2"))),
    switch=("match_rms_adamw", "adjust_lr_fn", "match_rms_adamw", None),
)

LBFGS = OptimizerInfo(
    key="lbfgs",
    title="LBFGS",
    torch_cls=torch.optim.LBFGS,
    params=(Param("lr", float, 1.0, 0.0, 100.0, log=True, help="the line search's first step (with strong_wolfe) "
                  "or the step along the quasi-Newton direction", span=(1e-3, 10.0)),
            Param("max_iter", int, 20, 1, 100, help="iterations (direction, step) within one optimizer step"),
            Param("max_eval", int, 0, 0, 1000, help="the loss's evaluations within one step; 0: None, max_iter × 5/4"),
            Param("tolerance_grad", float, 1e-7, 0.0, 1.0, log=True,
                  help="a step stops when the gradient's largest entry is under this", span=(1e-10, 1e-2)),
            Param("tolerance_change", float, 1e-9, 0.0, 1.0, log=True,
                  help="it stops when the loss or the parameters change less than this", span=(1e-12, 1e-3)),
            Param("history_size", int, 100, 1, 1000, log=True, help="past steps kept for the inverse Hessian's estimate",
                  span=(1, 1000)),
            Param("strong_wolfe", bool, False, label="line_search_fn='strong_wolfe'",
                  help="search the step along each direction for the strong Wolfe conditions (line_search_fn None: "
                       "step lr)")),
    rules=(),
    help="a quasi-Newton method: each optimizer step calls the closure (the loss and its gradient) up to max_eval "
         "times, moving along −H·g with H the inverse Hessian estimated from the last history_size steps; it has "
         f"no batched form, so sweeps run torch's own loop, at most {LOOP_MAX_RUN_STEPS:,} run-steps",
    view=_lbfgs_view,
    arrow="t·d (the last line search's step)",
    none_at_zero=("max_eval",),
    switch=("strong_wolfe", "line_search_fn", "strong_wolfe", None),
    closure=True,
    batched=False,
)

OPTIMIZERS: dict[str, OptimizerInfo] = {row.key: row for row in (
    SGD, ADAM, ADAMW, RMSPROP, ADAGRAD, ADAMAX, NADAM, RADAM, ADADELTA, ASGD, RPROP, ADAFACTOR, MUON, LBFGS)}
