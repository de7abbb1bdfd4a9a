"""Loss landscapes of trained networks along chosen directions.

1D (Goodfellow et al. 2015): θ(α) = θ₀ + α·(θ₁ − θ₀) from the initial to the trained weights.
2D (Li et al. 2018): θ(a, b) = θ* + a·d₁ + b·d₂ around the trained weights θ*, d₁ and d₂
seeded Gaussian directions, normalized as ``norm`` says (NORMS: Li et al.'s filter, layer and
weight, the whole vector at once as the article does, or none). PCA: d₁, d₂ the top principal
directions of the training path (the parameters after each epoch minus the final ones), as Li et
al. draw trajectories. Hessian: d₁, d₂ the unit eigenvectors of the two largest eigenvalues of the
training loss's Hessian at θ* (compute/spectrum.py, Lanczos from a start vector seeded with
``seed``), as PyHessian draws them: one unit is one unit of Euclidean distance in parameter space,
and the loss's curvature along d₁ at the centre is λ₁.

Points are state vectors: the parameters, then the floating-point buffers (BatchNorm's running
statistics). Networks are evaluated in eval mode, so BatchNorm uses the state's running statistics;
"weights" directions leave them at θ*'s, "states" directions (Li et al.'s) move them too.

The views (VIEWS, at the end: one ``View`` row each, naming the function that plans its points) are
what the page's view menu, its caps and its drawing and the CLI's ``landscape --mode`` all read;
the LandscapeSpec's modes (MODES) are the views that one model's spec describes whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from compute.engine import (
    DEVICES,
    evaluate_affine,
    evaluate_module,
    evaluate_points,
    resolve_device,
)
from compute.errors import InvalidSpec
from compute.nets import (
    MODELS,
    Trained,
    TrainSpec,
    buffer_shapes,
    load_split,
    param_shapes,
    unflatten,
)
from compute.params import Param, param_fields
from compute.specs import _Keyed
from compute.spectrum import Spectrum, SpectrumSpec, spectrum

BIAS_MODES = {"ignore": "directions are 0 on biases and BatchNorm",
              "keep": "biases and BatchNorm kept (filter, layer, weight: equal to θ*'s; model, none: Gaussian)"}
NORMS = {
    "filter": "filter-wise: each filter scaled to the norm of θ*'s (Li et al.)",
    "layer": "layer-wise: each layer scaled to the norm of θ*'s layer",
    "weight": "weight-wise: d ⊙ θ*, each entry scaled by its weight",
    "model": "the whole vector at once, scaled to ‖θ*‖ (the article's)",
    "none": "raw Gaussian, unnormalized (for the article's wide ranges)",
}
DIR_TYPES = {"weights": "parameters only", "states": "parameters and BatchNorm's running statistics"}
LANDSCAPE_PARAMS: tuple[Param, ...] = (
    Param("resolution", int, 31, 3, 101, help="points per axis"),
    Param("lo", float, -1.0, -100.0, 100.0, help="first coordinate along each direction", span=(-25.0, 25.0)),
    Param("hi", float, 1.0, -100.0, 100.0, help="last coordinate along each direction", span=(-25.0, 25.0)),
    Param("seed", int, 0, 0, 2**32 - 1, help="seed of the random directions", slider=False),
)


@dataclass(frozen=True, slots=True)
@param_fields(LANDSCAPE_PARAMS, "landscape")
class LandscapeSpec(_Keyed):
    """Which trained model, which directions, over which range and resolution."""

    train: TrainSpec = field(default_factory=TrainSpec)
    mode: str = "plane"
    bias: str = "ignore"
    norm: str = "filter"
    dir_type: str = "weights"

    def __post_init__(self) -> None:  # MODES: the views one model's spec describes (end of the module)
        for name, table in (("mode", MODES), ("bias", BIAS_MODES), ("norm", NORMS), ("dir_type", DIR_TYPES)):
            if getattr(self, name) not in table:
                raise InvalidSpec(f"{name} must be one of {', '.join(table)} (got {getattr(self, name)!r:.40})",
                                  f"landscape.{name}")
        if self.lo >= self.hi:
            raise InvalidSpec("lo must be below hi", "landscape.hi")

    @classmethod
    def from_dict(cls, values: Any) -> LandscapeSpec:
        """The spec ``to_dict`` wrote (JSON read back), checked as any spec is."""
        try:
            return cls(train=TrainSpec.from_dict(values["train"]),
                       **{k: values[k] for k in ("mode", "resolution", "lo", "hi", "seed", "bias", "norm", "dir_type")})
        except (KeyError, TypeError) as err:
            raise InvalidSpec(f"not a landscape spec ({type(err).__name__}: {str(err)[:80]})", "landscape") from None


def normalize_direction(direction: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                        norm: str = "filter", bias: str = "ignore") -> dict[str, torch.Tensor]:
    """A Gaussian direction normalized against the weights θ*, on new tensors.

    For tensors of two or more dimensions (weights of linear and conv layers), with dᵢ the slice
    along the first dimension (a filter, or a linear layer's row):

    - filter: dᵢ ← dᵢ · ‖θᵢ‖ / ‖dᵢ‖ (Li et al. 2018)
    - layer:  d ← d · ‖θ‖ / ‖d‖, per tensor
    - weight: d ← d ⊙ θ
    - model:  the whole direction ← d · ‖θ*‖ / ‖d‖, both norms over every entry it moves (the article)
    - none:   d unchanged

    One-dimensional tensors (biases, BatchNorm's weights, biases and running statistics): 0 when
    ``bias`` is "ignore"; when "keep", equal to θ*'s own values for filter, layer and weight (as Li
    et al.'s code does), the Gaussian entries for model and none.
    """
    if norm not in NORMS:
        raise InvalidSpec(f"norm must be one of {', '.join(NORMS)} (got {norm!r:.40})", "landscape.norm")
    out = {}
    for name, d in direction.items():
        w = weights[name]
        if d.dim() <= 1:
            if bias == "ignore":
                out[name] = torch.zeros_like(w)
            else:
                out[name] = w.clone() if norm in ("filter", "layer", "weight") else d.clone()
        elif norm == "filter":
            d_norms = d.reshape(len(d), -1).norm(dim=1)
            w_norms = w.reshape(len(w), -1).norm(dim=1)
            out[name] = d * (w_norms / (d_norms + 1e-10)).reshape(-1, *([1] * (d.dim() - 1)))
        elif norm == "layer":
            out[name] = d * (w.norm() / (d.norm() + 1e-10))
        elif norm == "weight":
            out[name] = d * w
        else:
            out[name] = d.clone()
    if norm == "model":
        moved = [n for n, d in direction.items() if d.dim() > 1 or bias == "keep"]
        d_norm = torch.sqrt(sum(out[n].double().square().sum() for n in moved))
        w_norm = torch.sqrt(sum(weights[n].double().square().sum() for n in moved))
        scale = float(w_norm / (d_norm + 1e-10))
        out = {n: t * scale for n, t in out.items()}
    return out


def filter_normalized(direction: dict[str, torch.Tensor], weights: dict[str, torch.Tensor],
                      bias: str = "ignore") -> dict[str, torch.Tensor]:
    """Li et al.'s filter normalization (``normalize_direction`` with norm "filter")."""
    return normalize_direction(direction, weights, "filter", bias)


def random_direction(shapes: list[tuple[str, torch.Size]], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """A Gaussian direction with one entry per parameter, drawn in parameter order."""
    return {name: torch.randn(shape, generator=generator) for name, shape in shapes}


def _flat(tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors.values()])


@dataclass(frozen=True, slots=True)
class Landscape:
    """Loss (and accuracy) over the chosen directions.

    Line: ``coords`` is α, ``train_loss``… have shape (R,). Plane, PCA and three (the plane
    through three trained models): ``coords`` is each axis's values, the grids have shape (R, R)
    indexed [b, a]; ``path`` holds the training path's coordinates in the plane (PCA),
    ``explained`` each PCA direction's share of the variance, ``marks`` (K, 2) where the models
    A, B, C lie (three), ``eigenvalues`` the Hessian's λ₁ and λ₂ (hessian).
    """

    mode: str
    coords: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_loss: np.ndarray | None
    test_acc: np.ndarray | None
    path: np.ndarray | None = None
    explained: np.ndarray | None = None
    description: str = ""
    marks: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None  # the Hessian's λ₁, λ₂ along d₁, d₂ (mode "hessian")


# A Landscape's arrays, as files (the CLI's, the API's, the page's store) hold them.
LANDSCAPE_ARRAYS = ("coords", "train_loss", "train_acc", "test_loss", "test_acc", "path", "explained", "marks",
                    "eigenvalues")
MARK_NAMES = "ABC"  # marks[i] is where model MARK_NAMES[i] lies in a plane through trained models
# where A, B and C lie in the plane θ_A + a(θ_B − θ_A) + b(θ_C − θ_A)
THREE_MARKS = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0))


def write_landscape(target: Any, result: Landscape | Mapping[str, Any], spec: Any = None) -> None:
    """A landscape's file, as the CLI, the Python API and the page's store write it: a .npz of
    plain arrays (LANDSCAPE_ARRAYS, where present) and strings (mode, description, and the specs
    as JSON when ``spec`` is given), never a pickle. ``result`` is a Landscape or the API's dict."""
    def get(name: str) -> Any:
        return result.get(name) if isinstance(result, Mapping) else getattr(result, name)

    arrays = {name: np.asarray(get(name)) for name in LANDSCAPE_ARRAYS if get(name) is not None}
    strings = {"mode": np.array(get("mode")), "description": np.array(get("description") or "")}
    if spec is not None:
        strings["spec"] = np.array(json.dumps(spec))
    np.savez(target, **strings, **arrays)

def directions(spec: LandscapeSpec, trained: Trained) -> tuple[torch.Tensor, torch.Tensor, np.ndarray | None]:
    """The plane's two flat state directions (and PCA's explained-variance ratios): PCA's for mode
    "pca" (``pca_directions``), else seeded random ones (``random_directions``)."""
    if spec.mode == "pca":
        return pca_directions(spec, trained)
    return (*random_directions(spec, trained), None)


def pca_directions(spec: LandscapeSpec, trained: Trained) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The top two right singular vectors of the path's parameters minus the final ones (0 on the
    buffers), scaled so that one unit is 1.25 × the path's largest coordinate: the range ±1 frames
    the path; and their explained-variance ratios."""
    n_buffers = sum(int(np.prod(s)) for _, s in buffer_shapes(spec.train.build(0)))
    deltas = (torch.from_numpy(trained.path) - torch.from_numpy(trained.final)).double()
    _, s, vh = torch.linalg.svd(deltas, full_matrices=False)
    explained = (s**2 / (s**2).sum()).numpy()
    reach = float((deltas @ vh[:2].T).abs().max()) * 1.25 + 1e-12  # one unit: 1.25 × the path's reach
    pad = torch.zeros(n_buffers)
    return torch.cat([(vh[0] * reach).float(), pad]), torch.cat([(vh[1] * reach).float(), pad]), explained[:2]


def random_directions(spec: LandscapeSpec, trained: Trained) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian directions drawn from a generator seeded with ``spec.seed``, over the
    parameters in order (then, for "states", the buffers), each normalized by
    ``normalize_direction``; "weights" directions are 0 on the buffers (``random_plane``)."""
    model = spec.train.build(0)
    return random_plane(torch.from_numpy(trained.final_state), param_shapes(model), buffer_shapes(model), spec.seed,
                        spec.norm, spec.bias, spec.dir_type)


def random_plane(state: torch.Tensor, params: list[tuple[str, torch.Size]], buffers: list[tuple[str, torch.Size]],
                 seed: int, norm: str = "filter", bias: str = "ignore",
                 dir_type: str = "weights") -> tuple[torch.Tensor, torch.Tensor]:
    """Two seeded Gaussian state directions normalized against ``state`` (θ*, a flat state vector
    laid out as ``params`` then ``buffers``): drawn in that order from one generator seeded with
    ``seed``, over the parameters (and, for "states", the buffers); "weights" directions are 0 on
    the buffers."""
    n_buffers = sum(int(np.prod(s)) for _, s in buffers)
    shapes = params + buffers if dir_type == "states" else params
    weights = unflatten(state, params + buffers)
    generator = torch.Generator().manual_seed(seed)
    drawn = []
    for _ in range(2):
        d = _flat(normalize_direction(random_direction(shapes, generator), weights, norm, bias))
        if dir_type == "weights":
            d = torch.cat([d, torch.zeros(n_buffers)])
        drawn.append(d)
    return drawn[0], drawn[1]


@dataclass(frozen=True, slots=True)
class Plan:
    """The points of a line or plane before any is evaluated: states base + a[i]·d₁ + b[i]·d₂ on
    each named set ("train", and "test" for lines). Planes index the points [b, a] row-major."""

    spec: LandscapeSpec
    coords: np.ndarray
    a: torch.Tensor
    b: torch.Tensor
    base: torch.Tensor
    d1: torch.Tensor
    d2: torch.Tensor
    sets: tuple[str, ...]
    description: str
    path: np.ndarray | None = None
    explained: np.ndarray | None = None
    marks: np.ndarray | None = None
    eigenvalues: np.ndarray | None = None

    @property
    def size(self) -> int:
        return len(self.a) * len(self.sets)

    PLAN_TENSORS: ClassVar[tuple[str, ...]] = ("coords", "a", "b", "base", "d1", "d2")

    def to_tensors(self) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        """What a process needs to evaluate any of the plan's points: tensors (for a safetensors
        file) and string metadata; ``from_tensors`` reads them back. Path, PCA and marks are not
        kept (``assemble`` uses the plan that made them)."""
        tensors = {"coords": torch.as_tensor(self.coords), "a": self.a, "b": self.b, "base": self.base,
                   "d1": self.d1, "d2": self.d2}
        return ({k: v.detach().clone().contiguous() for k, v in tensors.items()},  # no two share memory
                {"spec": json.dumps(self.spec.to_dict()), "sets": ",".join(self.sets), "description": self.description})

    @classmethod
    def from_tensors(cls, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Plan:
        """A plan ``to_tensors`` wrote, checked: InvalidSpec names what is wrong."""
        try:
            spec = LandscapeSpec.from_dict(json.loads(metadata["spec"]))
            sets = tuple(metadata["sets"].split(","))
            coords, a, b, base, d1, d2 = (tensors[k] for k in cls.PLAN_TENSORS)
        except (KeyError, ValueError) as err:
            raise InvalidSpec(f"not a landscape plan ({type(err).__name__}: {str(err)[:80]})", "plan") from None
        if not set(sets) <= {"train", "test"} or len(a) != len(b) or not base.shape == d1.shape == d2.shape:
            raise InvalidSpec("not a landscape plan (its sets or shapes do not agree)", "plan")
        return cls(spec, coords.numpy(), a, b, base, d1, d2, sets, metadata.get("description", ""))


@dataclass
class Values:
    """Loss and accuracy per set and point as they are computed; ``done`` marks computed points."""

    loss: dict[str, np.ndarray]
    acc: dict[str, np.ndarray]
    done: dict[str, np.ndarray]

    @classmethod
    def empty(cls, plan: Plan) -> Values:
        n = len(plan.a)
        return cls({k: np.full(n, np.nan) for k in plan.sets}, {k: np.full(n, np.nan) for k in plan.sets},
                   {k: np.zeros(n, bool) for k in plan.sets})

    @property
    def count(self) -> int:
        return int(sum(d.sum() for d in self.done.values()))


def plan_line(spec: LandscapeSpec, start: np.ndarray, end: np.ndarray, description: str) -> Plan:
    """start + α(end − start) for α over the spec's range, on the training and the test set."""
    alphas = torch.linspace(spec.lo, spec.hi, spec.resolution)
    first, last = torch.from_numpy(start), torch.from_numpy(end)
    return Plan(spec, alphas.numpy(), alphas, torch.zeros_like(alphas), first, last - first,
                torch.zeros_like(first), ("train", "test"), description)


def hessian_spectrum(spec: LandscapeSpec) -> SpectrumSpec:
    """The Lanczos run whose eigenvectors are mode "hessian"'s directions: the top two of model
    A's training loss's Hessian, from a start vector seeded with the spec's seed."""
    return SpectrumSpec(spec.train, k=2, seed=spec.seed)


def hessian_plane(spec: LandscapeSpec, trained: Trained, found: Spectrum | None = None,
                  device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """The two flat state directions of mode "hessian": the unit eigenvectors of the training
    loss's two largest Hessian eigenvalues at θ* (0 on the buffers), and the eigenvalues;
    ``found`` when they were computed already (the page does, with its progress)."""
    if found is None:
        found = spectrum(hessian_spectrum(spec), trained, device)[0]
    if len(found.eigenvalues) < 2:
        raise InvalidSpec("Lanczos converged on fewer than two eigenvalues: raise max_matvecs", "landscape.mode")
    pad = torch.zeros(len(trained.final_state) - found.eigenvectors.shape[1])
    d1, d2 = (torch.cat([torch.from_numpy(v.copy()), pad]) for v in found.eigenvectors[:2])
    return d1, d2, found.eigenvalues[:2]


def plan(spec: LandscapeSpec, trained: Trained, found: Spectrum | None = None, device: str = "cpu") -> Plan:
    """The spec's line (initial → trained) or plane around ``trained`` (see the module's note): its
    view's ``plan``; ``found``: the Hessian's top eigenvectors for mode "hessian", if already computed."""
    planner = VIEWS[spec.mode].plan
    assert planner is not None  # every mode (a view one model's spec describes) has its planner
    return planner(spec, (trained,), found, device)


def _plane(spec: LandscapeSpec, base: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor, description: str,
           **more: Any) -> Plan:
    """base + a·d₁ + b·d₂ for a and b over the spec's range, on the training set, indexed [b, a]."""
    coords = torch.linspace(spec.lo, spec.hi, spec.resolution)
    b, a = torch.meshgrid(coords, coords, indexing="ij")
    return Plan(spec, coords.numpy(), a.reshape(-1), b.reshape(-1), base, d1, d2, ("train",), description, **more)


# A view's planner: plan(spec, the trained models A, B, C it needs, the Hessian's eigenvectors when
# its view computes them first, device) -> its points.
Planner = Callable[[LandscapeSpec, Sequence[Trained], Spectrum | None, str], Plan]


def plan_initial(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
                 device: str = "cpu") -> Plan:
    """View "line": θ₀ + α(θ₁ − θ₀) from model A's initial to its trained state (Goodfellow et al.)."""
    return plan_line(spec, models[0].initial_state, models[0].final_state,
                     "θ(α) = θ₀ + α(θ₁ − θ₀), θ₀ initial, θ₁ trained")


def plan_random(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
                device: str = "cpu") -> Plan:
    """View "plane": θ* + a·d₁ + b·d₂ along seeded normalized Gaussian directions (Li et al.)."""
    d1, d2 = random_directions(spec, models[0])
    return _plane(spec, torch.from_numpy(models[0].final_state), d1, d2,
                  f"θ* + a·d₁ + b·d₂: seeded Gaussian directions (seed {spec.seed}), {spec.norm}-normalized, "
                  f"biases and BN {spec.bias}, {spec.dir_type}")


def plan_pca(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
             device: str = "cpu") -> Plan:
    """View "pca": the plane of the training path's top two principal directions, with the path's
    coordinates in it (along the orthogonal directions)."""
    trained = models[0]
    d1, d2, explained = pca_directions(spec, trained)
    final = torch.from_numpy(trained.final_state)
    n = trained.path.shape[1]
    axes = torch.stack((d1, d2))[:, :n].double()
    path = (((torch.from_numpy(trained.path) - final[:n]).double() @ axes.T) / axes.square().sum(1)).numpy()
    return _plane(spec, final, d1, d2, "θ* + a·d₁ + b·d₂: PCA of the training path, one unit = 1.25 × the path's reach",
                  path=path, explained=explained)


def plan_hessian(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
                 device: str = "cpu") -> Plan:
    """View "hessian": the plane of the Hessian's top two unit eigenvectors at θ* (``hessian_plane``)."""
    d1, d2, eigenvalues = hessian_plane(spec, models[0], found, device)
    return _plane(spec, torch.from_numpy(models[0].final_state), d1, d2,
                  f"θ* + a·d₁ + b·d₂: the Hessian's top two unit eigenvectors (λ₁ = {eigenvalues[0]:.4g}, "
                  f"λ₂ = {eigenvalues[1]:.4g})", eigenvalues=eigenvalues)


def plan_between(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
                 device: str = "cpu") -> Plan:
    """View "between": θ_A + α(θ_B − θ_A) from trained model A (α = 0) to trained model B (α = 1)."""
    return plan_line(spec, models[0].final_state, models[1].final_state, "θ(α) = θ_A + α(θ_B − θ_A), A and B trained")


def plan_three(spec: LandscapeSpec, models: Sequence[Trained], found: Spectrum | None = None,
               device: str = "cpu") -> Plan:
    """View "three": the plane through trained models A, B and C (``plan_through``)."""
    return plan_through(spec, *(m.final_state for m in models[:3]))


def plan_through(spec: LandscapeSpec, first: np.ndarray, second: np.ndarray, third: np.ndarray) -> Plan:
    """The plane through three trained models' states (Li et al.'s model_file2 and model_file3):
    θ(a, b) = θ_A + a·(θ_B − θ_A) + b·(θ_C − θ_A), a and b over the spec's range, so A lies at
    (0, 0), B at (1, 0) and C at (0, 1). The directions are the models' differences, unnormalized,
    over the whole state (BatchNorm's running statistics too)."""
    if not first.shape == second.shape == third.shape:
        raise InvalidSpec("the three models must have the same parameters and buffers (one architecture)", "models")
    base = torch.from_numpy(first)
    return _plane(spec, base, torch.from_numpy(second) - base, torch.from_numpy(third) - base,
                  "θ_A + a(θ_B − θ_A) + b(θ_C − θ_A): the plane through three trained models",
                  marks=np.array(THREE_MARKS))


BLOCK = 64  # points evaluated between two checkpoints


def plan_data(plan: Plan) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The (x, y) tensors of each set a plan is evaluated on."""
    split = load_split(plan.spec.train.dataset)
    return {"train": (split.x_train, split.y_train), "test": (split.x_test, split.y_test)}


def evaluate_block(plan: Plan, name: str, rows: np.ndarray, data: dict[str, tuple[torch.Tensor, torch.Tensor]],
                   progress: Callable[[int, int], None] | None = None,
                   device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Loss and accuracy of the plan's points ``rows`` on set ``name`` (``data``: ``plan_data``).
    A point's value does not depend on the other points of its block."""
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    return evaluate_affine(plan.spec.train, plan.base, plan.d1, plan.d2, plan.a[index], plan.b[index], *data[name],
                           progress, device)


def evaluate_plan(plan: Plan, values: Values | None = None, progress: Callable[[int, int], None] | None = None,
                  device: str = "cpu", checkpoint: Callable[[Values], None] | None = None,
                  block: int | None = None) -> Values:
    """Evaluate the plan's points that ``values`` has not marked done, in blocks of ``block``
    points (default BLOCK), calling ``checkpoint`` after each block: what an interrupted run saved, a later run
    completes without recomputing it. Each point's value does not depend on the blocks."""
    values = values or Values.empty(plan)
    if checkpoint is None:
        block = max(1, len(plan.a))  # one pass when nothing is saved
    block = block or BLOCK
    data = plan_data(plan)
    for name in plan.sets:
        missing = np.flatnonzero(~values.done[name])
        for start in range(0, len(missing), block):
            index = missing[start:start + block]
            before = values.count

            def report(i: int, _total: int, before: int = before) -> None:
                if progress is not None:
                    progress(before + i, plan.size)

            loss, acc = evaluate_block(plan, name, index, data, report, device)
            values.loss[name][index], values.acc[name][index] = loss, acc
            values.done[name][index] = True
            if checkpoint is not None:
                checkpoint(values)
    if progress is not None:
        progress(plan.size, plan.size)
    return values


# How a plan's points are evaluated: evaluate_plan here, or (the web app with REDIS_URL) shared out
# across workers by dashboard/spread.py; called as evaluate(plan, values, progress, device).
Evaluate = Callable[..., Values]


def assemble(plan: Plan, values: Values) -> Landscape:
    """The Landscape of a fully evaluated plan."""
    if plan.sets == ("train", "test"):
        return Landscape("line", plan.coords, values.loss["train"], values.acc["train"], values.loss["test"],
                         values.acc["test"], description=plan.description)
    r = len(plan.coords)
    return Landscape("three" if plan.marks is not None else plan.spec.mode, plan.coords,
                     values.loss["train"].reshape(r, r), values.acc["train"].reshape(r, r), None, None,
                     path=plan.path, explained=plan.explained, description=plan.description, marks=plan.marks,
                     eigenvalues=plan.eigenvalues)


def line(spec: LandscapeSpec, start: np.ndarray, end: np.ndarray, description: str,
         progress: Callable[[int, int], None] | None = None, device: str = "cpu",
         evaluate: Evaluate = evaluate_plan) -> Landscape:
    """Loss and accuracy, train and test, along start + α(end − start), α over the spec's range."""
    planned = plan_line(spec, start, end, description)
    return assemble(planned, evaluate(planned, None, progress, device))


def landscape(spec: LandscapeSpec, trained: Trained,
              progress: Callable[[int, int], None] | None = None, device: str = "cpu",
              evaluate: Evaluate = evaluate_plan, found: Spectrum | None = None) -> Landscape:
    """Evaluate the loss over the spec's line or plane around ``trained`` (see the module's note).

    ``device`` picks where the points are evaluated ("auto": the GPU when there is one); the
    directions are drawn on the CPU, so a seed gives the same plane on every device. ``evaluate``
    evaluates the plan's points (``evaluate_plan``, or one that shares them out); ``found``: the
    Hessian's eigenvectors for mode "hessian" when computed already."""
    planned = plan(spec, trained, found, device)
    return assemble(planned, evaluate(planned, None, progress, device))


def through(spec: LandscapeSpec, first: Trained, second: Trained, third: Trained,
            progress: Callable[[int, int], None] | None = None, device: str = "cpu",
            evaluate: Evaluate = evaluate_plan) -> Landscape:
    """The plane through three trained models A, B, C (``plan_through``), over the spec's range."""
    planned = plan_three(spec, (first, second, third))
    return assemble(planned, evaluate(planned, None, progress, device))


def between(spec: LandscapeSpec, first: Trained, second: Trained,
            progress: Callable[[int, int], None] | None = None, device: str = "cpu",
            evaluate: Evaluate = evaluate_plan) -> Landscape:
    """The 1D interpolation from one trained model (α = 0) to another (α = 1), Keskar et al.'s
    sharpness picture: a sharp minimum rises fast as α leaves it, a flat one slowly."""
    planned = plan_between(spec, (first, second))
    return assemble(planned, evaluate(planned, None, progress, device))


# ---- views: one row each ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class View:
    """A landscape view, one row that the page's view menu, its caps and its drawing, and the
    CLI's ``landscape --mode`` all read.

    name: the page's view (``mode=`` in its links) and the CLI's --mode.
    title: how the page's menu and the CLI's help name it.
    computes: what it computes, which the page's drawers are keyed by: "landscape" (one model's
        line or plane, the LandscapeSpec's own mode), "between" (the line from model A to model
        B), "three" (the plane through A, B and C), "sharpness" (A vs B: the line between them,
        both planes, both λmax), "sharpening" (λmax during training: a SharpeningSpec, no points).
    models: the trainings it needs: A; A and B; A, B and C (B and C trained as A but for a setting).
    range: the coordinates it opens on (the page's lo and hi, the CLI's default --range).
    lines, planes: the lines (resolution points each, evaluated on the training and the test set)
        and the planes (resolution² points each, on the training set) it evaluates, which the
        page's caps count.
    lanczos: the Lanczos runs it takes, which the page's caps count (each capped in products).
    plan: its points, where it is one landscape (what ``landscape --mode`` writes):
        plan(spec, trained models A…, the Hessian's eigenvectors where ``spectrum`` says, device).
    spectrum: the Lanczos run its directions come from, computed first with its own progress.
    mode: the mode of model A's LandscapeSpec ("": the view's own name, a mode of its own).
    not_on_page, not_in_cli: why the page, or ``landscape --mode``, does not offer it ("": it does).
    """

    name: str
    title: str
    computes: str = "landscape"
    models: int = 1
    range: tuple[float, float] = (-1.0, 1.0)
    lines: int = 0
    planes: int = 1
    lanczos: int = 0
    plan: Planner | None = None
    spectrum: Callable[[LandscapeSpec], SpectrumSpec] | None = None
    mode: str = ""
    not_on_page: str = ""
    not_in_cli: str = ""

    @property
    def spec_mode(self) -> str:
        """The mode of model A's LandscapeSpec for this view."""
        return self.mode or self.name

    @property
    def on_page(self) -> bool:
        return not self.not_on_page

    @property
    def in_cli(self) -> bool:
        return not self.not_in_cli

    @property
    def sharpening(self) -> bool:
        """Whether it measures λmax during training (a SharpeningSpec) instead of evaluating points."""
        return self.computes == "sharpening"

    def points(self, resolution: int) -> int:
        """Its points at ``resolution`` points per axis."""
        return self.lines * resolution + self.planes * resolution**2

    def evaluations(self, resolution: int) -> int:
        """Its points' evaluations at ``resolution`` points per axis: a line's on two sets."""
        return self.lines * 2 * resolution + self.planes * resolution**2


# α from −0.5 to 1.5 frames both ends of a line and a little beyond; the plane through A (0, 0),
# B (1, 0) and C (0, 1) likewise. Planes around θ* open on −1 to 1.
ENDS = (-0.5, 1.5)
VIEWS: dict[str, View] = {view.name: view for view in (
    View("line", "initial → trained", range=ENDS, lines=1, planes=0, plan=plan_initial),
    View("plane", "random normalized plane", plan=plan_random),
    View("pca", "PCA of the path", plan=plan_pca),
    View("hessian", "the Hessian's top two eigenvectors", lanczos=1, plan=plan_hessian, spectrum=hessian_spectrum),
    View("between", "the line from model A (α = 0) to model B (α = 1)", "between", models=2, range=ENDS, lines=1,
         planes=0, plan=plan_between, mode="line",
         not_on_page="the page's A vs B (sharpness) draws this line, beside both models' planes and λmax"),
    View("sharpness", "A vs B: between them, both planes and their λmax", "sharpness", models=2, lines=1,
         planes=2, lanczos=2, mode="plane",
         not_in_cli="three landscapes and two spectra, not one file: the CLI's --mode between, --mode plane "
                    "(of each model) and curvature --model give its parts"),
    View("three", "A, B and C: the plane through three trainings", "three", models=3, range=ENDS, plan=plan_three,
         mode="plane"),
    View("edge", "sharpness during training: λmax against lr's threshold", "sharpening", planes=0, mode="plane",
         not_in_cli="not a landscape: the CLI's curvature --model MODEL --every N prints it"),
)}
# The LandscapeSpec's modes: the views one model's spec describes whole.
MODES = {view.name: view.title for view in VIEWS.values() if view.spec_mode == view.name}


__all__ = [
    "BIAS_MODES",
    "DEVICES",
    "DIR_TYPES",
    "LANDSCAPE_ARRAYS",
    "MARK_NAMES",
    "MODELS",
    "MODES",
    "NORMS",
    "VIEWS",
    "Landscape",
    "LandscapeSpec",
    "Plan",
    "Values",
    "View",
    "assemble",
    "between",
    "directions",
    "evaluate_affine",
    "evaluate_block",
    "evaluate_module",
    "evaluate_plan",
    "evaluate_points",
    "filter_normalized",
    "hessian_plane",
    "hessian_spectrum",
    "landscape",
    "line",
    "normalize_direction",
    "pca_directions",
    "plan",
    "plan_between",
    "plan_data",
    "plan_hessian",
    "plan_initial",
    "plan_line",
    "plan_pca",
    "plan_random",
    "plan_three",
    "plan_through",
    "random_direction",
    "random_directions",
    "random_plane",
    "resolve_device",
    "through",
    "write_landscape",
]
