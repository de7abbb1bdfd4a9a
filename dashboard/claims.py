"""A lesson step's claims: facts about the numbers its view shows, in a form compute can check.

A claim is a mapping: a ``measure`` of the view (``MEASURES``), the run it is of (``run``: 1-based,
compare's cards or the toy lab's losses side by side; default 1), the measure's own argument where it
takes one (``step``, ``loss``), and one or two bounds: ``below``, ``above`` (strict), ``is`` (a yes/no
measure) or ``near`` with ``within`` (relative, default 0.1). A bound is a number or a reference to
another measure: ``{measure: stable_lr}``, ``{step: 2}`` (the same measure in lesson step 2),
``{run: 2}``, with ``times`` to scale it. For example::

    - {measure: diverges, is: true}
    - {measure: final_loss, above: 0.55}
    - {measure: steps_to_loss, loss: 0.51, below: {step: 1, times: 0.5}}
    - {measure: lr, below: {measure: stable_lr}}
    - {measure: sharpness_ratio, near: 1, within: 0.25}

``check_claim`` checks a claim's form when a lesson is read; ``evaluate`` runs every claim of a lesson
through compute (the suite does so for every built-in lesson: a lesson cannot drift from the tool).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute import run_trajectory
from compute.curvature import stable_lr, toy_hessian
from compute.nets import train
from compute.spectrum import SpectrumSpec, sharpening, spectrum
from compute.sweep import run_sweep
from compute.toy import Trajectory
from dashboard.state import COMPARE, LANDSCAPE, PAGE_LANCZOS, SWEEP, TOY, check_state, pair_trainings

RUNS = (TOY, COMPARE)  # pages whose measures are of a run of the single neuron


@dataclass(frozen=True, slots=True)
class Measure:
    pages: tuple[str, ...]
    help: str
    argument: str | None = None  # the claim's key of its argument (step, loss), where it takes one
    yes_no: bool = False


MEASURES: dict[str, Measure] = {
    "diverges": Measure(RUNS, "the run diverges (a weight, the bias or the loss stops being finite)", yes_no=True),
    "final_loss": Measure(RUNS, "the full-data loss after the last step (inf when the run diverged)"),
    "loss_at": Measure(RUNS, "the loss after `step` optimizer steps (inf past a divergence)", "step"),
    "steps_to_loss": Measure(RUNS, "the first step at which the loss is at most `loss` (inf: never)", "loss"),
    "condition": Measure(RUNS, "κ = λmax/λmin of the loss's Hessian at the start point"),
    "sharpness": Measure(RUNS, "λmax of the loss's Hessian at the start point"),
    "stable_lr": Measure(RUNS, "the largest stable lr at the start (SGD's bound; inf where none applies)"),
    "lr": Measure(RUNS, "the run's lr"),
    "diverged_share": Measure((SWEEP,), "the share of the sweep's runs that diverged (0 to 1)"),
    "sharpness_ratio": Measure((LANDSCAPE,), "λmax over the optimizer's threshold (2/lr for SGD), the median "
                                             "over the last third of the training's measurements"),
    "sharpness_growth": Measure((LANDSCAPE,), "the largest λmax measured during training over λmax at the start"),
    "sharpness_b_over_a": Measure((LANDSCAPE,), "λmax of model B over λmax of model A, each trained "
                                                "(the view A vs B: the same but for the batch size)"),
}
BOUNDS = ("below", "above", "is", "near")
CLAIM_KEYS = {"measure", "run", "step", "loss", "within", *BOUNDS}
REFERENCE_KEYS = {"measure", "step", "run", "times"}


def _number(value: Any, where: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LessonError(f"{where}: {what} must be a finite number")
    return float(value)


class LessonError(ValueError):
    """A lesson file (or a claim of one) that cannot be used, as one sentence naming where."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message



def _reference(value: Any, where: str, steps: int) -> Any:
    if not isinstance(value, dict):
        return _number(value, where, "a bound")
    unknown = set(value) - REFERENCE_KEYS
    if unknown or not value:
        raise LessonError(f"{where}: a bound is a number or a mapping of {', '.join(sorted(REFERENCE_KEYS))}")
    out = dict(value)
    if "measure" in out and out["measure"] not in MEASURES:
        raise LessonError(f"{where}: no measure {str(out['measure'])!r:.40}; the measures are {', '.join(MEASURES)}")
    if "measure" in out and MEASURES[out["measure"]].argument:
        raise LessonError(f"{where}: a bound's measure takes no {MEASURES[out['measure']].argument}: "
                     f"{out['measure']} can be the claim's own measure")
    if "step" in out and not _whole(out["step"], 1, steps):
        raise LessonError(f"{where}: a bound's step must be a step of this lesson, 1 to {steps}")
    if "run" in out and not _whole(out["run"], 1, 4):
        raise LessonError(f"{where}: run must be 1 to 4")
    if "times" in out:
        out["times"] = _number(out["times"], where, "times")
    return out


def _whole(value: Any, lo: int, hi: float) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def check_claim(claim: Any, page: str, steps: int, where: str) -> dict[str, Any]:
    """A claim's form, checked (``evaluate`` runs it): a known measure of the step's page, its argument,
    and at least one bound."""
    if not isinstance(claim, dict):
        raise LessonError(f"{where}: a claim is a mapping such as {{measure: final_loss, below: 0.5}}")
    unknown = set(claim) - CLAIM_KEYS
    if unknown:
        raise LessonError(f"{where}: unknown key {sorted(map(str, unknown))[0]!r:.40} (a claim has "
                     f"{', '.join(sorted(CLAIM_KEYS))})")
    name = claim.get("measure")
    measure = MEASURES.get(name) if isinstance(name, str) else None
    if measure is None:
        raise LessonError(f"{where}: no measure {str(name)!r:.40}; the measures are {', '.join(MEASURES)}")
    if page not in measure.pages:
        raise LessonError(f"{where}: {name} is a measure of the {' and '.join(measure.pages)} page, not of {page}")
    out: dict[str, Any] = {"measure": name}
    if measure.argument:
        out[measure.argument] = _argument(claim, name, measure.argument, where)
    if "run" in claim:
        if not _whole(claim["run"], 1, 4):
            raise LessonError(f"{where}: run must be 1 to 4")
        out["run"] = claim["run"]
    out.update(_bounds(claim, measure, name, where, steps))
    return out


def _argument(claim: dict[str, Any], name: str, argument: str, where: str) -> Any:
    if argument not in claim:
        raise LessonError(f"{where}: {name} needs {argument}")
    value = claim[argument]
    if argument == "step":
        if not _whole(value, 0, math.inf):
            raise LessonError(f"{where}: step must be a whole number ≥ 0")
        return value
    return _number(value, where, argument)


def _bounds(claim: dict[str, Any], measure: Measure, name: str, where: str, steps: int) -> dict[str, Any]:
    bounds = [b for b in BOUNDS if b in claim]
    if not bounds:
        raise LessonError(f"{where}: a claim needs a bound: {', '.join(BOUNDS)}")
    if measure.yes_no != (bounds == ["is"]) or ("is" in claim and not isinstance(claim["is"], bool)):
        raise LessonError(f"{where}: {name} takes is: true or is: false" if measure.yes_no else
                     f"{where}: is takes true or false, for a yes/no measure (diverges)")
    out: dict[str, Any] = {b: claim[b] if b == "is" else _reference(claim[b], where, steps) for b in bounds}
    if "within" in claim:
        if "near" not in claim:
            raise LessonError(f"{where}: within goes with near")
        out["within"] = _number(claim["within"], where, "within")
    return out


# ---- evaluation --------------------------------------------------------------------------------------


def check_references(claims: tuple[dict[str, Any], ...], pages: list[str], where: str) -> None:
    """A bound that names another step names one whose page has that measure (read once every
    step's page is known)."""
    for n, claim in enumerate(claims, 1):
        for bound in BOUNDS:
            ref = claim.get(bound)
            if isinstance(ref, dict) and "step" in ref:
                name = ref.get("measure", claim["measure"])
                page = pages[ref["step"] - 1]
                if page not in MEASURES[name].pages:
                    raise LessonError(f"{where}, claim {n}: step {ref['step']} is on the {page} page, which has no {name}")


def _runs(page: str, state: dict[str, Any]) -> tuple[list[Any], list[Trajectory]]:
    checked = check_state(state, page)
    if page == COMPARE:
        specs = list(checked.specs["runs"])
    else:  # the toy lab: its loss, or the four regression losses of the tab side by side
        from dashboard.toyview import shown_losses

        specs = [checked.specs[loss][0] for loss in shown_losses(checked.state)]
    return specs, [run_trajectory(spec) for spec in specs]


def _run_measure(name: str, spec: Any, traj: Trajectory, claim: dict[str, Any]) -> float:
    if name == "diverges":
        return float(traj.diverged_at is not None)
    if name == "final_loss":
        return math.inf if traj.diverged_at is not None else float(traj.loss[-1])
    if name == "loss_at":
        step = claim["step"]
        return float(traj.loss[step]) if step < traj.finite_steps else math.inf
    if name == "steps_to_loss":
        reached = np.flatnonzero(traj.loss[: traj.finite_steps] <= claim["loss"])
        return float(reached[0]) if len(reached) else math.inf
    if name == "lr":
        return float(spec.optimizer.values.get("lr", math.nan))
    found = toy_hessian(spec.data, spec.loss, spec.init_weight, spec.init_bias)
    if name == "condition":
        return found.condition
    if name == "sharpness":
        return found.sharpness
    bound = stable_lr(found.sharpness, spec.optimizer)  # stable_lr
    return math.inf if bound is None else bound


def _pair_sharpness(checked: Any) -> tuple[float, float]:
    """λmax of models A and B of the landscape page's view A vs B, as the page computes them."""
    spec = checked.specs["landscape"]
    trainings = [spec.train, *pair_trainings(spec.train, checked.state)]
    return tuple(float(spectrum(SpectrumSpec(t, k=1, max_matvecs=PAGE_LANCZOS), train(t))[0].eigenvalues[0])
                 for t in trainings[:2])


class Evaluator:
    """Measures of a lesson's steps, each computed once (compute's own functions; no cache)."""

    def __init__(self, steps: list[tuple[str, dict[str, Any]]]) -> None:
        self.steps = steps  # (page, state) per lesson step
        self.subjects: dict[int, Any] = {}

    def subject(self, index: int) -> Any:
        if index not in self.subjects:
            page, state = self.steps[index]
            checked = check_state(state, page)
            if page in RUNS:
                self.subjects[index] = _runs(page, state)
            elif page == SWEEP:
                self.subjects[index] = run_sweep(checked.specs["sweep"])
            elif "sharpening" in checked.specs:
                self.subjects[index] = sharpening(checked.specs["sharpening"])[0]
            else:
                self.subjects[index] = _pair_sharpness(checked)
        return self.subjects[index]

    def value(self, index: int, claim: dict[str, Any]) -> float:
        name = claim["measure"]
        subject = self.subject(index)
        if name == "diverged_share":
            return float((subject.diverged_at >= 0).mean())
        if name == "sharpness_b_over_a":
            return subject[1] / subject[0]
        if name in ("sharpness_ratio", "sharpness_growth"):
            if name == "sharpness_growth":
                return float(np.nanmax(subject.sharpness) / subject.sharpness[0])
            tail = subject.sharpness[-max(1, len(subject.sharpness) // 3):]
            return float(np.median(tail) / subject.threshold)
        specs, trajectories = subject
        run = claim.get("run", 1) - 1
        if run >= len(trajectories):
            raise IndexError(f"run {run + 1}: the view shows {len(trajectories)} run(s)")
        return _run_measure(name, specs[run], trajectories[run], claim)

    def bound(self, index: int, claim: dict[str, Any], bound: Any) -> float:
        if not isinstance(bound, dict):
            return bound
        other = {**claim, **{k: v for k, v in bound.items() if k in ("measure", "run")}}
        if "measure" in bound and "run" not in bound:
            other["run"] = claim.get("run", 1)
        value = self.value(bound.get("step", index + 1) - 1, other)
        return value * bound.get("times", 1.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    step: int  # 1-based
    claim: dict[str, Any]
    value: float
    holds: bool
    sentence: str


def evaluate(lesson: Any) -> list[Outcome]:
    """Every claim of every step of ``lesson`` (dashboard.lessons.Lesson), checked against compute."""
    evaluator = Evaluator([(step.page, step.state()) for step in lesson.steps])
    outcomes = []
    for index, step in enumerate(lesson.steps):
        for claim in step.claims:
            try:
                value = evaluator.value(index, claim)
                limits = {b: evaluator.bound(index, claim, claim[b]) for b in BOUNDS if b in claim and b != "is"}
            except IndexError as err:  # a run the view does not show
                outcomes.append(Outcome(index + 1, claim, math.nan, False,
                                        f"step {index + 1} (“{step.title}”): {claim['measure']} cannot be measured: {err}"))
                continue
            holds, said = True, []
            for bound in BOUNDS:
                if bound not in claim:
                    continue
                if bound == "is":
                    ok = bool(value) == claim["is"]
                    said.append(f"is {claim['is']}")
                else:
                    limit = limits[bound]
                    if bound == "below":
                        ok = value < limit
                    elif bound == "above":
                        ok = value > limit
                    else:
                        ok = math.isclose(value, limit, rel_tol=claim.get("within", 0.1))
                    said.append(f"{bound} {limit:.6g}")
                holds = holds and ok
            run = f" of run {claim.get('run', 1)}" if step.page in RUNS else ""
            sentence = (f"step {index + 1} (“{step.title}”): {claim['measure']}{run} is {value:.6g}, "
                        f"{'and' if holds else 'not'} {' and '.join(said)}")
            outcomes.append(Outcome(index + 1, claim, value, holds, sentence))
    return outcomes
