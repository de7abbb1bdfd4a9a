"""The batched engine: many runs of the toy neuron advance together, one step for all at a time.

Each run is the loop of ``compute.toy.run_trajectory`` (same data, loss, mini-batch order,
gradient accumulation and clipping); its hyperparameters may differ from run to run. The
updates re-implement torch.optim's single-tensor code, term for term, on tensors of shape
(2, runs) holding (weight, bias) of every run; hyperparameters broadcast as (1, runs). Runs
never mix: every operation is elementwise per run or reduces over data points only, so a run
that diverges cannot touch its neighbours.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from compute.errors import InvalidSpec
from compute.losses import LOSSES, loss_data
from compute.optimizers import LOOP_MAX_RUN_STEPS, OPTIMIZERS, muon_zeropower
from compute.schedules import SCHEDULES, Plateau, schedule_table, scheduler_steps
from compute.specs import RunSpec, ScheduleSpec
from compute.surfaces import SURFACES
from compute.toy import batch_order, run_trajectory

# the most (runs × points) elements one block of runs holds per temporary (8 MB in float32)
BLOCK_ELEMENTS = 1 << 21
SURFACE_POINTS = 16  # a surface's run counts as this many points (its formula's autograd tape)

Tensor = torch.Tensor


def _where(flag: Tensor, yes: Tensor, no: Tensor) -> Tensor:
    return torch.where(flag, yes, no)


class _Update:
    """One optimizer's update for all runs.

    ``hp`` maps names to (1, runs) tensors or bools; ``on`` maps each numeric name to where
    its value is not 0, decided on the float64 value as torch decides it on the Python float
    (a momentum of 1e-119 is 0 in float32 but still switches torch's momentum buffer on).
    ``exact`` holds the numeric values in float64: the coefficients torch computes from Python
    floats (a bias correction, NAdam's μₜ, ASGD's η) are computed from them, then rounded to the
    runs' dtype, as torch rounds a Python float where it meets a tensor.
    """

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        self.hp = hp
        self.on = on
        self.exact = exact if exact is not None else {}
        self.dtype = params.dtype
        self.t = 0

    def _cast(self, value: Tensor) -> Tensor:
        """A float64 coefficient as torch meets it: rounded to the runs' dtype."""
        return value.to(self.dtype)

    def _decay(self, params: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
        """maximize, then weight decay: decoupled (θ ← θ·(1 − lr·wd), where decoupled_weight_decay
        is on) or L2; both only where weight_decay is not 0."""
        grad = -grad if self.hp["maximize"] else grad
        if self.hp.get("decoupled_weight_decay"):
            shrink = self._cast(1 - self.exact["lr"] * self.exact["weight_decay"])
            return _where(self.on["weight_decay"], params * shrink, params), grad
        return params, _where(self.on["weight_decay"], grad + self.hp["weight_decay"] * params, grad)

    def _grad(self, params: Tensor, grad: Tensor) -> Tensor:
        """maximize, then L2 weight decay where it is not 0 (torch skips it when it is)."""
        grad = -grad if self.hp["maximize"] else grad
        return _where(self.on["weight_decay"], grad + self.hp["weight_decay"] * params, grad)


class SGDUpdate(_Update):
    """torch.optim.SGD: g ← g + wd·θ; buf ← g (first step) or momentum·buf + (1 − dampening)·g;
    g ← g + momentum·buf (nesterov) or buf, where momentum ≠ 0; θ ← θ − lr·g."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.buf: Tensor | None = None

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        grad = self._grad(params, grad)
        momentum = hp["momentum"]
        if self.buf is None:
            self.buf = grad.clone()
        else:
            self.buf = self.buf * momentum + (1 - hp["dampening"]) * grad
        moved = grad + momentum * self.buf if hp["nesterov"] else self.buf
        grad = _where(self.on["momentum"], moved, grad)
        return params - hp["lr"] * grad


class AdamUpdate(_Update):
    """torch.optim.Adam (and AdamW, decoupled): m ← lerp(m, g, 1 − β₁); v ← β₂·v + (1 − β₂)·g²;
    θ ← θ − lr/(1 − β₁ᵗ) · m / (√v̂ /√(1 − β₂ᵗ) + eps), v̂ = v or its running max (amsgrad)."""

    decoupled = False

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self.vmax = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        self.t += 1
        grad = -grad if hp["maximize"] else grad
        wd = hp["weight_decay"]
        if self.decoupled:
            params = _where(self.on["weight_decay"], params * (1 - hp["lr"] * wd), params)
        else:
            grad = _where(self.on["weight_decay"], grad + wd * params, grad)
        beta1, beta2 = hp["beta1"], hp["beta2"]
        self.m = self.m + (1 - beta1) * (grad - self.m)
        self.v = self.v * beta2 + (1 - beta2) * grad * grad
        step_size = hp["lr"] / (1 - beta1**self.t)
        bias_correction2_sqrt = (1 - beta2**self.t) ** 0.5
        if hp["amsgrad"]:
            self.vmax = torch.maximum(self.vmax, self.v)
            second = self.vmax
        else:
            second = self.v
        denom = second.sqrt() / bias_correction2_sqrt + hp["eps"]
        return params - step_size * (self.m / denom)


class AdamWUpdate(AdamUpdate):
    decoupled = True


class RMSpropUpdate(_Update):
    """torch.optim.RMSprop: v ← α·v + (1 − α)·g²; avg = √(v − ḡ²) (centered) or √v, + eps;
    buf ← momentum·buf + g/avg, θ ← θ − lr·buf where momentum > 0, else θ ← θ − lr·g/avg."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.square = torch.zeros_like(params)
        self.grad_avg = torch.zeros_like(params)
        self.buf = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        grad = self._grad(params, grad)
        alpha = hp["alpha"]
        self.square = self.square * alpha + (1 - alpha) * grad * grad
        if hp["centered"]:
            self.grad_avg = self.grad_avg + (1 - alpha) * (grad - self.grad_avg)
            avg = (self.square - self.grad_avg * self.grad_avg).sqrt()
        else:
            avg = self.square.sqrt()
        avg = avg + hp["eps"]
        on = self.on["momentum"]
        self.buf = _where(on, self.buf * hp["momentum"] + grad / avg, self.buf)
        return _where(on, params - hp["lr"] * self.buf, params - hp["lr"] * (grad / avg))


class AdagradUpdate(_Update):
    """torch.optim.Adagrad: clr = lr/(1 + (t − 1)·lr_decay); s ← s + g²; θ ← θ − clr·g/(√s + eps)."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.sum = torch.zeros_like(params) + hp["initial_accumulator_value"]

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        self.t += 1
        grad = self._grad(params, grad)
        clr = hp["lr"] / (1 + (self.t - 1) * hp["lr_decay"])
        self.sum = self.sum + grad * grad
        return params - clr * (grad / (self.sum.sqrt() + hp["eps"]))


class AdamaxUpdate(_Update):
    """torch.optim.Adamax: g ← g + wd·θ; m ← lerp(m, g, 1 − β₁); u ← max(β₂·u, |g| + eps);
    θ ← θ − lr/(1 − β₁ᵗ)·m/u."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.m = torch.zeros_like(params)
        self.u = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        self.t += 1
        grad = self._grad(params, grad)
        self.m = torch.lerp(self.m, grad, self._cast(1 - ex["beta1"]))
        self.u = torch.maximum(self.u * hp["beta2"], grad.abs() + hp["eps"])
        clr = self._cast(ex["lr"] / (1 - ex["beta1"] ** self.t))
        return params + (-clr) * (self.m / self.u)


class NAdamUpdate(_Update):
    """torch.optim.NAdam: μₜ = β₁(1 − ½·0.96^(t·momentum_decay)), Πμ kept in float32 as torch keeps
    it; m ← lerp(m, g, 1 − β₁), v ← β₂·v + (1 − β₂)·g²; d = √(v/(1 − β₂ᵗ)) + eps;
    θ ← θ − lr(1 − μₜ)/(1 − Πμ)·g/d − lr·μₜ₊₁/(1 − Πμ·μₜ₊₁)·m/d."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)
        self.mu_product = torch.ones_like(self.exact["lr"], dtype=torch.float32)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        self.t += 1
        t = self.t
        params, grad = self._decay(params, grad)
        mu = ex["beta1"] * (1.0 - 0.5 * 0.96 ** (t * ex["momentum_decay"]))
        mu_next = ex["beta1"] * (1.0 - 0.5 * 0.96 ** ((t + 1) * ex["momentum_decay"]))
        self.mu_product = self.mu_product * mu.float()  # torch: a float32 tensor times a Python float
        product = self.mu_product.double()
        self.m = torch.lerp(self.m, grad, self._cast(1 - ex["beta1"]))
        self.v = self.v * hp["beta2"] + self._cast(1 - ex["beta2"]) * grad * grad
        denom = (self.v / self._cast(1 - ex["beta2"] ** t)).sqrt() + hp["eps"]
        params = params + self._cast(-ex["lr"] * (1.0 - mu) / (1.0 - product)) * (grad / denom)
        return params + self._cast(-ex["lr"] * mu_next / (1.0 - product * mu_next)) * (self.m / denom)


class RAdamUpdate(_Update):
    """torch.optim.RAdam: m, v as Adam's; ρ∞ = 2/(1 − β₂) − 1, ρₜ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ); where
    ρₜ > 5, θ ← θ − m̂·lr·√(1 − β₂ᵗ)/(√v + eps)·r, r the rectification; else θ ← θ − m̂·lr."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.m = torch.zeros_like(params)
        self.v = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        self.t += 1
        t = self.t
        params, grad = self._decay(params, grad)
        self.m = torch.lerp(self.m, grad, self._cast(1 - ex["beta1"]))
        self.v = self.v * hp["beta2"] + self._cast(1 - ex["beta2"]) * grad * grad
        correction2 = 1 - ex["beta2"] ** t
        corrected = self.m / self._cast(1 - ex["beta1"] ** t)
        rho_inf = 2 / (1 - ex["beta2"]) - 1
        rho = rho_inf - 2 * t * ex["beta2"] ** t / correction2
        rectified = rho > 5.0
        safe = torch.where(rectified, rho, torch.full_like(rho, 6.0))  # the rectification's root where it is taken
        rect = ((safe - 4) * (safe - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * safe)) ** 0.5
        adaptive = (self.v.sqrt() + hp["eps"]).reciprocal() * self._cast(correction2**0.5)  # torch's scalar / tensor
        adapted = corrected * hp["lr"] * adaptive * self._cast(rect)
        return params - _where(rectified, adapted, corrected * hp["lr"])


class AdadeltaUpdate(_Update):
    """torch.optim.Adadelta: g ← g + wd·θ; v ← ρ·v + (1 − ρ)·g²; Δ = √(u + eps)/√(v + eps)·g;
    u ← ρ·u + (1 − ρ)·Δ²; θ ← θ − lr·Δ."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.square = torch.zeros_like(params)
        self.delta = torch.zeros_like(params)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        grad = self._grad(params, grad)
        keep = self._cast(1 - ex["rho"])
        self.square = self.square * hp["rho"] + keep * grad * grad
        delta = (self.delta + hp["eps"]).sqrt() / (self.square + hp["eps"]).sqrt() * grad
        self.delta = self.delta * hp["rho"] + keep * delta * delta
        return params + (-hp["lr"]) * delta


class ASGDUpdate(_Update):
    """torch.optim.ASGD's iterate (its average ax does not feed back): g ← g + wd·θ;
    θ ← θ·(1 − lambd·η) − η·g; η ← lr/(1 + lambd·lr·t)^alpha, held in float32 as torch holds it."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.eta = self.exact["lr"].float().double()

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        ex = self.exact
        self.t += 1
        grad = self._grad(params, grad)
        params = params * self._cast(1 - ex["lambd"] * self.eta)
        params = params + self._cast(-self.eta) * grad
        self.eta = (ex["lr"] / (1 + ex["lambd"] * ex["lr"] * self.t) ** ex["alpha"]).float().double()
        return params


class RpropUpdate(_Update):
    """torch.optim.Rprop: s = sign(g·g_prev) as etas[1] (> 0), etas[0] (< 0) or 1; step ← clamp(step·s,
    step_sizes); where the sign flipped g counts as 0 (no move, no memory); θ ← θ − sign(g)·step."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.prev = torch.zeros_like(params)
        self.step = torch.zeros_like(params) + hp["lr"]

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp = self.hp
        grad = -grad if hp["maximize"] else grad
        sign = (grad * self.prev).sign()
        flipped = sign < 0
        factor = torch.where(sign > 0, hp["etaplus"].expand_as(sign),
                             torch.where(flipped, hp["etaminus"].expand_as(sign), torch.ones_like(sign)))
        self.step = torch.clamp(self.step * factor, hp["step_size_min"], hp["step_size_max"])
        grad = torch.where(flipped, torch.zeros_like(grad), grad)
        self.prev = grad
        return params + (-1) * (grad.sign() * self.step)


class AdafactorUpdate(_Update):
    """torch.optim.Adafactor on the neuron's 1 × 1 weight matrix and its bias vector: with
    β = t^beta2_decay, the weight's row and column means of g² (both g², one element) r ← lerp(r, g², β),
    v̂ = r·c/max(r, eps1); the bias's v ← lerp(v, g², β), v̂ = v; u = g/√max(v̂, eps1²);
    θ ← θ·(1 − lr·wd); θ ← θ − max(eps2, |θ|)·min(lr, 1/√t)/max(1, |u|/d)·u (|θ| before the decay)."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.second = torch.zeros_like(params)  # row 0: the weight's row (= column) factor, row 1: the bias's

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        self.t += 1
        grad = -grad if hp["maximize"] else grad
        eps1 = _where(self.on["eps1"], ex["eps1"], torch.full_like(ex["eps1"], torch.finfo(self.dtype).eps))
        rho = torch.minimum(ex["lr"], torch.full_like(ex["lr"], 1 / self.t**0.5))
        alpha = torch.maximum(ex["eps2"], params.abs().double()) * rho
        params = _where(self.on["weight_decay"], params * self._cast(1 - ex["lr"] * ex["weight_decay"]), params)
        self.second = torch.lerp(self.second, grad * grad, self._cast(float(self.t) ** ex["beta2_decay"]))
        floor = self._cast(eps1)
        row = self.second[0:1]
        estimate = torch.cat([row * row / torch.maximum(row, floor), self.second[1:2]])
        update = torch.maximum(estimate, self._cast(eps1 * eps1)).rsqrt() * grad
        denom = torch.clamp(update.abs().double() / ex["d"], min=1.0)
        return params + self._cast(-alpha / denom) * update



class MuonUpdate(_Update):
    """torch.optim.Muon on the neuron's 1 × 1 weight matrix (row 0): buf ← lerp(buf, g, 1 − μ); u =
    lerp(g, buf, μ) (nesterov) or buf; θ ← θ·(1 − lr·wd) − lr'·NS(u), NS(u) = sign(u)·K for a 1 × 1
    matrix (``muon_zeropower``: torch's own iteration), lr' = lr or 0.2·lr (match_rms_adamw); and
    torch.optim.AdamW on the bias (row 1) with the adamw_ settings."""

    def __init__(self, hp: dict[str, Any], on: dict[str, Tensor], params: Tensor,
                 exact: dict[str, Tensor] | None = None):
        super().__init__(hp, on, params, exact)
        self.buf = torch.zeros_like(params[0:1])
        self.m = torch.zeros_like(params[1:2])
        self.v = torch.zeros_like(params[1:2])
        ex = self.exact
        settings = torch.cat([ex["ns_a"], ex["ns_b"], ex["ns_c"], ex["ns_steps"], ex["eps"]]).T.numpy()
        distinct, which = np.unique(settings, axis=0, return_inverse=True)
        # one K per distinct polynomial (a sweep's axis may vary it), its runs found once
        self.polynomials = [((a, b, c), int(steps), eps, which.reshape(-1) == i)
                            for i, (a, b, c, steps, eps) in enumerate(distinct)]

    def _orthogonalized(self, update: Tensor) -> Tensor:
        values = update[0].double().numpy()
        if len(self.polynomials) == 1:
            coefficients, steps, eps, _ = self.polynomials[0]
            out = muon_zeropower(values, coefficients, steps, eps)
        else:
            out = np.empty(update.shape[1])
            for coefficients, steps, eps, runs in self.polynomials:
                out[runs] = muon_zeropower(values[runs], coefficients, steps, eps)
        return torch.from_numpy(out).reshape(1, -1).to(self.dtype)

    def __call__(self, params: Tensor, grad: Tensor) -> Tensor:
        hp, ex = self.hp, self.exact
        self.t += 1
        weight, bias = params[0:1], params[1:2]
        gw, gb = grad[0:1], grad[1:2]
        momentum = self._cast(ex["momentum"])
        self.buf = torch.lerp(self.buf, gw, self._cast(1 - ex["momentum"]))
        update = torch.lerp(gw, self.buf, momentum) if hp["nesterov"] else self.buf
        ratio = 0.2 if hp["match_rms_adamw"] else 1.0
        weight = weight * self._cast(1 - ex["lr"] * ex["weight_decay"])
        weight = weight + self._cast(-ex["lr"] * ratio) * self._orthogonalized(update)
        # AdamW on the bias, term for term as AdamUpdate (decoupled decay)
        bias = _where(self.on["adamw_weight_decay"], bias * self._cast(1 - ex["adamw_lr"] * ex["adamw_weight_decay"]), bias)
        beta1, beta2 = hp["adamw_beta1"], hp["adamw_beta2"]
        self.m = self.m + (1 - beta1) * (gb - self.m)
        self.v = self.v * beta2 + (1 - beta2) * gb * gb
        step_size = hp["adamw_lr"] / (1 - beta1**self.t)
        denom = self.v.sqrt() / (1 - beta2**self.t) ** 0.5 + hp["adamw_eps"]
        bias = bias - step_size * (self.m / denom)
        return torch.cat([weight, bias])


BATCHED_UPDATES: dict[str, Callable[[dict[str, Any], dict[str, Tensor], Tensor, dict[str, Tensor]], _Update]] = {
    "sgd": SGDUpdate,
    "adam": AdamUpdate,
    "adamw": AdamWUpdate,
    "rmsprop": RMSpropUpdate,
    "adagrad": AdagradUpdate,
    "adamax": AdamaxUpdate,
    "nadam": NAdamUpdate,
    "radam": RAdamUpdate,
    "adadelta": AdadeltaUpdate,
    "asgd": ASGDUpdate,
    "rprop": RpropUpdate,
    "adafactor": AdafactorUpdate,
    "muon": MuonUpdate,
}


@dataclass(frozen=True, slots=True)
class BatchedRuns:
    """Every run's loss at every row (``loss[k, r]``, full data) and where it diverged.

    ``weight`` and ``bias`` (rows × runs) are kept only when asked for (tests, small batches).
    ``diverged_at[r]`` is the first row whose weight, bias or loss is not finite, or -1.
    """

    loss: np.ndarray
    diverged_at: np.ndarray
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None


def _hyperparameters(base: RunSpec, overrides: dict[str, np.ndarray], runs: int,
                     dtype: torch.dtype) -> tuple[dict[str, Any], dict[str, Tensor], dict[str, Tensor]]:
    """Each hyperparameter as a (1, runs) tensor (flags as bools), where each is not 0, and each
    numeric one in float64."""
    hp: dict[str, Any] = {}
    on: dict[str, Tensor] = {}
    exact: dict[str, Tensor] = {}
    for p in OPTIMIZERS[base.optimizer.name].params:
        if p.kind is bool:
            hp[p.name] = bool(base.optimizer.values[p.name])
            continue
        values = np.asarray(overrides.get(p.name, np.full(runs, base.optimizer.values[p.name])),
                            dtype=np.float64).reshape(1, runs)
        hp[p.name] = torch.as_tensor(values, dtype=dtype)
        on[p.name] = torch.as_tensor(values != 0)
        exact[p.name] = torch.as_tensor(values, dtype=torch.float64)
    return hp, on, exact


SCHEDULE_PREFIX = "schedule."  # an override of the schedule's argument: "schedule.warmup_steps"


class _Schedule:
    """Each run's lr (and cycled momentum) at every step, set into the updates' hyperparameters
    before the step: from torch's own schedulers (``schedule_table``), or per run on each run's loss
    (``Plateau``). The scheduler steps after the optimizer's step, every step or at an epoch's end."""

    def __init__(self, base: RunSpec, overrides: dict[str, np.ndarray], runs: int, dtype: torch.dtype):
        schedule, optimizer = base.schedule, base.optimizer
        self.row = SCHEDULES[schedule.name]
        self.dtype = dtype
        given = {name[len(SCHEDULE_PREFIX):]: np.asarray(v) for name, v in overrides.items()
                 if name.startswith(SCHEDULE_PREFIX)}
        lr = np.asarray(overrides.get("lr", np.full(runs, optimizer.values["lr"])), np.float64)
        self.count = scheduler_steps(base.steps, base.batches_per_epoch, schedule.per_epoch)
        self.plateau = Plateau(schedule.values, lr, given) if self.row.plateau else None
        self.table = None if self.plateau else schedule_table(
            schedule.name, schedule.values, given, optimizer.name, optimizer.values, lr,
            int(self.count[-1]), base.schedule_steps)
        self.moment = "momentum" if "momentum" in optimizer.values else "beta1"

    def apply(self, step: int, hp: dict[str, Any], on: dict[str, Tensor], exact: dict[str, Tensor]) -> np.ndarray:
        """Set step ``step``'s lr (and momentum) of every run; return the lrs."""
        if self.plateau is not None:
            lr = self.plateau.lr
        else:
            n = int(self.count[step])
            lr = self.table.lr[n][self.table.column]
            if self.table.momentum is not None:
                momentum = torch.as_tensor(self.table.momentum[n][self.table.column].reshape(1, -1))
                exact[self.moment], hp[self.moment] = momentum, momentum.to(self.dtype)
                on[self.moment] = momentum != 0
        exact["lr"] = torch.as_tensor(lr.reshape(1, -1), dtype=torch.float64)
        hp["lr"] = exact["lr"].to(self.dtype)
        return lr

    def after(self, step: int, loss: Tensor) -> None:
        """The scheduler's step after optimizer step ``step``: a plateau's on each run's loss."""
        if self.plateau is not None and self.count[step + 1] > self.count[step]:
            self.plateau.step(loss.double().numpy())


# The run's own settings a batch may vary beside the optimizer's hyperparameters.
RUN_OVERRIDES = ("init_weight", "init_bias", "max_norm")


def previewable(base: RunSpec) -> tuple[str, ...]:
    """The settings whose values the batched engine can vary run by run for ``base``: the
    optimizer's numeric hyperparameters, the start point, and max_norm when clipping is on."""
    numeric = tuple(p.name for p in OPTIMIZERS[base.optimizer.name].params if p.kind is not bool)
    return numeric + RUN_OVERRIDES[:2] + (("max_norm",) if base.clip_grad_norm else ())


def _run_values(base: RunSpec, overrides: dict[str, np.ndarray], name: str, runs: int,
                dtype: torch.dtype) -> Tensor:
    """One of the run's own settings as a (runs,) tensor: the overrides' values or the base's."""
    values = overrides.get(name, np.full(runs, getattr(base, name)))
    return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype)


def _clip(grad: Tensor, max_norm: float | Tensor) -> Tensor:
    """clip_grad_norm_ per run: scale (dL/dw, dL/db) by min(1, max_norm/(‖g‖ + 1e-6))."""
    norm = torch.sqrt(grad[0] ** 2 + grad[1] ** 2)
    return grad * torch.clamp(max_norm / (norm + 1e-6), max=1.0)


def run_batched(
    base: RunSpec,
    overrides: dict[str, np.ndarray],
    dtype: torch.dtype = torch.float32,
    keep_params: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> BatchedRuns:
    """Run ``base`` once per entry of the ``overrides`` arrays, all runs at once.

    Per step, for all runs: ŷ = w·x + b over the step's batch (the toy lab's batch order);
    g = mean of ℓ'(ŷ − y)·(x, 1) (each loss's derivative as torch's backward computes it);
    g is added to the previous g when zero_grad is off, clipped per run when clip_grad_norm
    is on, and handed to the optimizer's batched update.

    Args:
        base: the run every configuration starts from (data, loss, optimizer, knobs, start).
        overrides: optimizer hyperparameter name (or init_weight, init_bias, max_norm) → one
            value per run (equal lengths); the values are taken as valid (the specs check them).
        dtype: float32 (what the toy lab runs) or float64 (for tight comparisons).
        keep_params: also return every row's weight and bias.
        progress: called as progress(steps done, steps in all) every few steps.
    """
    runs = len(next(iter(overrides.values()))) if overrides else 1
    if not OPTIMIZERS[base.optimizer.name].batched:
        return run_looped(base, overrides, runs, keep_params, progress)
    # Runs are independent: a sweep of 90,000 runs on 400 points would hold several (runs × points)
    # temporaries at once (0.9 GB); blocks of runs keep each below BLOCK_ELEMENTS and reach the
    # same numbers (each run's arithmetic is its own row).
    block = max(1, BLOCK_ELEMENTS // (SURFACE_POINTS if base.surface.on else max(1, base.data.n)))
    if runs <= block:
        return _run_block(base, overrides, runs, dtype, keep_params, progress)
    starts = range(0, runs, block)
    parts = []
    for i, start in enumerate(starts):
        part = {name: np.asarray(values)[start:start + block] for name, values in overrides.items()}

        def report(step: int, steps: int, i: int = i) -> None:
            # the whole sweep's progress on the steps' scale: block i of n at ``step``
            progress((i * steps + step) // len(starts), steps)

        parts.append(_run_block(base, part, min(block, runs - start), dtype, keep_params,
                                None if progress is None else report))
    return BatchedRuns(
        loss=np.concatenate([p.loss for p in parts], axis=1),
        diverged_at=np.concatenate([p.diverged_at for p in parts]),
        weight=None if not keep_params else np.concatenate([p.weight for p in parts], axis=1),
        bias=None if not keep_params else np.concatenate([p.bias for p in parts], axis=1),
    )


def spec_at(run: RunSpec, values: dict[str, float]) -> RunSpec:
    """The run at these values of its settings: optimizer hyperparameters, its own (init_weight,
    init_bias, max_norm) and its schedule's ("schedule.T_max"); whole numbers where a setting is one."""
    optimizer, schedule, own = dict(run.optimizer.values), dict(run.schedule.values), {}
    kinds = {p.name: p.kind for p in OPTIMIZERS[run.optimizer.name].params}
    schedule_kinds = {p.name: p.kind for p in SCHEDULES[run.schedule.name].params}
    for name, value in values.items():
        if name.startswith(SCHEDULE_PREFIX):
            key = name[len(SCHEDULE_PREFIX):]
            schedule[key] = round(value) if schedule_kinds.get(key) is int else value
        elif name in kinds:
            optimizer[name] = round(value) if kinds[name] is int else value
        else:
            own[name] = value
    return dataclasses.replace(run, optimizer=dataclasses.replace(run.optimizer, params=tuple(optimizer.items())),
                               schedule=ScheduleSpec(run.schedule.name, tuple(schedule.items())), **own)


def check_looped(base: RunSpec, runs: int, field: str = "sweep.x_points") -> None:
    """Raise InvalidSpec where runs of an optimizer without a batched form (LBFGS) would take
    torch's own loop past LOOP_MAX_RUN_STEPS."""
    row = OPTIMIZERS[base.optimizer.name]
    if not row.batched and runs * base.steps > LOOP_MAX_RUN_STEPS:
        why = " (its line search)" if row.closure else ""
        raise InvalidSpec(f"{row.title} has no batched form{why}: its runs "
                          f"take torch's own loop, at most {LOOP_MAX_RUN_STEPS:,} run-steps (got {runs:,} runs × "
                          f"{base.steps} steps): use fewer points or epochs", field)


def run_looped(base: RunSpec, overrides: dict[str, np.ndarray], runs: int, keep_params: bool = False,
               progress: Callable[[int, int], None] | None = None) -> BatchedRuns:
    """``run_batched`` for an optimizer without a batched form (LBFGS: each step's line search
    evaluates the loss a number of times that depends on the run; a class of your own): each run is the toy lab's own
    torch loop (``run_trajectory``, float32), one after another, capped by LOOP_MAX_RUN_STEPS before
    any runs."""
    check_looped(base, runs)
    losses = np.full((base.steps + 1, runs), np.nan)
    weight = np.full((base.steps + 1, runs), np.nan)
    bias = np.full((base.steps + 1, runs), np.nan)
    diverged_at = np.full(runs, -1)
    for r in range(runs):
        traj = run_trajectory(spec_at(base, {name: float(np.asarray(v)[r]) for name, v in overrides.items()}))
        n = len(traj.loss)
        losses[:n, r], weight[:n, r], bias[:n, r] = traj.loss, traj.weight, traj.bias
        if traj.diverged_at is not None:
            diverged_at[r] = traj.diverged_at
        if progress is not None:
            progress((r + 1) * base.steps // runs, base.steps)
    return BatchedRuns(loss=losses, diverged_at=diverged_at, weight=weight if keep_params else None,
                       bias=bias if keep_params else None)


class _Objective:
    """What the runs minimize: the loss of ŷ = w·x + b on the data, or a surface's f(x, y) at
    (x, y) = (bias, weight)."""

    def __init__(self, base: RunSpec, xs: Tensor, ys: Tensor):
        self.base, self.xs, self.ys = base, xs, ys
        self.row = LOSSES[base.loss.name]
        self.elementwise = self.row.module(base.loss.values, reduction="none")
        self.surface = SURFACES[base.surface.name].function(base.surface.values) if base.surface.on else None

    def forward(self, p: Tensor, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        pred = p[0, :, None] * xb + p[1, :, None]  # (runs, points)
        return pred, self.elementwise(pred, yb.expand_as(pred)).mean(dim=-1)

    def gradient(self, p: Tensor, xb: Tensor, yb: Tensor) -> tuple[Tensor, Tensor]:
        """Each run's (loss, (dL/dw, dL/db)) on the batch: the loss's derivative in closed form; on a
        surface by autograd (the runs share no term, so the gradient of the sum is each run's own)."""
        if self.surface is None:
            pred, batch_loss = self.forward(p, xb, yb)
            slope = self.row.derivative(pred, yb, self.base.loss.values) / len(xb)
            return batch_loss, torch.stack((slope @ xb, slope.sum(dim=-1)))
        with torch.enable_grad():
            point = p.detach().requires_grad_()
            values = self.surface(point[1], point[0])
            (grad,) = torch.autograd.grad(values.sum(), point)
        return values.detach(), grad

    def full_loss(self, p: Tensor) -> Tensor:
        return self.forward(p, self.xs, self.ys)[1] if self.surface is None else self.surface(p[1], p[0])


def _run_block(base: RunSpec, overrides: dict[str, np.ndarray], runs: int, dtype: torch.dtype,
               keep_params: bool, progress: Callable[[int, int], None] | None) -> BatchedRuns:
    """run_batched on one block of runs, all at once."""
    hp, on, exact = _hyperparameters(base, overrides, runs, dtype)
    x, y = loss_data(base.data, base.loss.name)
    xs, ys = torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)
    params = torch.stack([_run_values(base, overrides, "init_weight", runs, dtype),
                          _run_values(base, overrides, "init_bias", runs, dtype)])
    max_norm = _run_values(base, overrides, "max_norm", runs, dtype)
    schedule = None if base.schedule.name == "none" else _Schedule(base, overrides, runs, dtype)
    if schedule is not None:
        schedule.apply(0, hp, on, exact)  # torch's scheduler sets the first lr before the first step
    update = BATCHED_UPDATES[base.optimizer.name](hp, on, params, exact)
    batches = batch_order(base, xs, ys)
    full_batch = base.batch >= base.data.n
    accumulated = torch.zeros_like(params)
    losses = np.empty((base.steps + 1, runs), dtype=np.float64)
    kept = np.empty((base.steps + 1, 2, runs), dtype=np.float64) if keep_params else None
    objective = _Objective(base, xs, ys)
    with torch.no_grad():
        for step in range(base.steps):
            if kept is not None:
                kept[step] = params.numpy()
            xb, yb = next(batches)
            if schedule is not None:
                schedule.apply(step, hp, on, exact)
            batch_loss, grad = objective.gradient(params, xb, yb)
            losses[step] = (batch_loss if full_batch else objective.full_loss(params)).numpy()
            accumulated = grad if base.zero_grad else accumulated + grad
            if base.clip_grad_norm:
                accumulated = _clip(accumulated, max_norm)  # clip_grad_norm_ clips .grad in place
            params = update(params, accumulated)
            if schedule is not None:
                schedule.after(step, batch_loss)
            if progress is not None and step % 10 == 0:
                progress(step, base.steps)
        if kept is not None:
            kept[base.steps] = params.numpy()
        losses[base.steps] = objective.full_loss(params).numpy()
    finite = np.isfinite(losses)
    if kept is not None:
        finite &= np.isfinite(kept).all(axis=1)
    bad = ~finite
    diverged_at = np.where(bad.any(axis=0), bad.argmax(axis=0), -1)
    if progress is not None:
        progress(base.steps, base.steps)
    return BatchedRuns(
        loss=losses, diverged_at=diverged_at,
        weight=None if kept is None else kept[:, 0], bias=None if kept is None else kept[:, 1],
    )
