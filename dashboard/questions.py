"""Questions to a room: "set X to what you think …", answered by each participant with the value on
their own page, and answered by the engine when the presenter reveals it.

A question is a row of ``QUESTIONS``: what the presenter's menu calls it, what participants read,
the setting they answer with (its key on the page, and its Param: the answer's check and axis), the
optimizers where it makes sense, and how the engine finds the answer: 600 runs of the presenter's
view at once on the batched engine (compute/probe.py; ``python -m compute probe`` prints it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from compute import InvalidSpec
from compute.curvature import stable_lr, toy_hessian
from compute.params import Param
from compute.probe import check_work, probe
from dashboard.state import PAGES, TOY, check_state, from_query


@dataclass(frozen=True, slots=True)
class Truth:
    value: float
    how: str  # one sentence: how the engine found it


@dataclass(frozen=True, slots=True)
class Question:
    kind: str
    title: str  # the presenter's menu
    prompt: str  # what participants read
    name: str  # the optimizer's setting answered with (lr, momentum)
    optimizers: tuple[str, ...]  # where it makes sense
    probe: str  # the engine's answer: compute.probe's kind

    def key(self, state: dict[str, Any]) -> str:
        return f"{state['optimizer']}.{self.name}"

    def truth(self, run: Any) -> Truth:
        found = probe(run, self.name, self.probe)
        span = f"{len(found.values)} values of {self.name} from {found.values[0]:.3g} to {found.values[-1]:.3g}"
        if self.probe == "largest_converging":
            sharpness = toy_hessian(run.data, run.loss, run.init_weight, run.init_bias).sharpness
            bound = stable_lr(sharpness, run.optimizer) if self.name == "lr" else None
            theory = f"; the theory's bound at the start is {bound:.4g}" if bound is not None else ""
            return Truth(found.value, f"the largest of {span} whose run ends below the loss it started at{theory}")
        steps = int(found.steps[int(np.argmin(np.abs(found.values - found.value)))])
        return Truth(found.value, f"of {span}, the one whose run first comes within 1% of the lowest loss any of "
                                  f"them reaches ({found.lowest:.4g}): in {steps} steps")


QUESTIONS: dict[str, Question] = {q.kind: q for q in (
    Question("stable-lr", "the largest lr that still converges",
             "Set lr to the largest value at which this run still converges, then answer.",
             "lr", ("sgd",), "largest_converging"),
    Question("fastest-lr", "the lr that reaches the minimum fastest",
             "Set lr to the value that reaches the minimum in the fewest steps, then answer.",
             "lr", ("sgd", "adam", "adamw", "rmsprop", "adagrad"), "fastest"),
    Question("fastest-momentum", "the momentum that reaches the minimum fastest",
             "Set momentum to the value that reaches the minimum in the fewest steps at this lr, then answer.",
             "momentum", ("sgd",), "fastest"),
)}


def menu() -> str:
    """The presenter's list of questions (assets/room.js reads it from the room's bar), as JSON."""
    return json.dumps([{"kind": q.kind, "title": q.title} for q in QUESTIONS.values()])


def pose(kind: Any, page: str, query: dict[str, Any]) -> dict[str, Any]:
    """A question about the presenter's view (``page`` and its address's ``query``), as the room keeps
    it: plain JSON. InvalidSpec (a sentence) where it does not apply."""
    question = QUESTIONS.get(kind) if isinstance(kind, str) else None
    if question is None:
        raise InvalidSpec(f"no question {str(kind)!r:.40}; the questions are {', '.join(QUESTIONS)}", "question")
    if page != TOY:
        raise InvalidSpec("questions are about the toy lab's run: open the toy lab first", "question")
    state, notes = from_query(query, TOY)
    if notes:
        raise InvalidSpec("the view has settings marked in red: fix them first", "question")
    if state["optimizer"] not in question.optimizers or state["tab"] != "single":
        raise InvalidSpec(f"“{question.title}” is asked of the One loss view of {', '.join(question.optimizers)}",
                          "question")
    key = question.key(state)
    param = _param(key)
    check_work(check_state(state, TOY).specs[state["loss"]][0])  # the engine's answer will be within its cap
    return {"kind": question.kind, "title": question.title, "prompt": question.prompt, "key": key,
            "default": state[key], "log": param.log, "lo": param.sweep_range[0], "hi": param.sweep_range[1],
            "query": {str(k): str(v) for k, v in query.items()}}


def _param(key: str) -> Param:
    return PAGES[TOY].by_key[key].param


def check_answer(question: dict[str, Any], value: Any) -> float:
    """A participant's answer: a value of the question's setting (its Param's check), or InvalidSpec."""
    return float(_param(question["key"]).coerce(value, question["key"]))


def reveal(question: dict[str, Any]) -> Truth:
    """The engine's answer for the view the question was asked about."""
    row = QUESTIONS[question["kind"]]
    state, _ = from_query(question["query"], TOY)
    checked = check_state(state, TOY)
    run = checked.specs[state["loss"]][0]
    return row.truth(run)
