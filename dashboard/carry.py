"""Carrying a run between the toy lab and Compare: one page's settings as the other page's query.

The toy lab's run becomes Compare's only run; Compare's run ``i`` becomes the toy lab's run. A key
of the toy lab names the same setting on Compare (``loss``, ``huber.delta``, ``data.n``,
``run.epochs``, ``grid.b_min``, ``log``, ``step``...), except the optimizer and its settings,
which on Compare are a run's (``optimizer`` → ``r0.optimizer``, ``sgd.lr`` → ``r0.sgd.lr``). What
carries is every key both pages' tables hold (dashboard/state.py), so a new setting carries
without an edit here.

What does not carry:
- toy lab → Compare: the settings of the optimizers the toy lab is not showing (Compare's run has
  one optimizer; they are at their defaults on the way back). The *All losses side by side* view
  shows one loss on Compare, the toy lab's chosen ``loss`` (Compare's link keeps ``tab``, which it
  ignores, so the way back opens the same tab).
- Compare → toy lab: the other runs, and run ``i``'s settings of the optimizers it is not using.
- The playback step carries when the state holds one; the pages' links are built when their
  runs are drawn, before any playback, so they leave it out (the other page opens at the end).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from compute import InvalidSpec
from dashboard.state import COMPARE, COUNT, OPTIMIZERS, PAGES, TOY, check_state, default_state, to_query


def _keys(page: str) -> set[str]:
    """Every setting a page's table holds: fields, choices and display settings."""
    row = PAGES[page]
    return {*row.by_key, *row.choices, *row.display}


def _run_key(key: str, run: int) -> str:
    """A toy lab key's name on Compare, for its run ``run``."""
    return f"r{run}.{key}" if key == "optimizer" or key.split(".", 1)[0] in OPTIMIZERS else key


def carry_query(state: Mapping[str, Any], source: str, run: int = 0) -> str:
    """The other page's query (``?...``, as ``to_query`` writes it) that opens ``source``'s run
    there: the toy lab's run as Compare's only run (``source`` TOY), or Compare's run ``run``
    (0-based) as the toy lab's (``source`` COMPARE).

    ``state`` is checked as the source page checks it: settings it lacks take their defaults, and
    a bad value its view uses raises InvalidSpec with that page's message, naming the key."""
    if source not in (TOY, COMPARE):
        raise InvalidSpec(f"a run carries between {TOY} and {COMPARE} only (got {source!r:.40})", "page")
    checked = check_state(state, source)
    if not checked.ok:
        key, message = next(iter(checked.blocking.items()))
        raise InvalidSpec(message, key)
    given = checked.state
    if source == COMPARE and not 0 <= run < given[COUNT.key]:
        raise InvalidSpec(f"run must be 0 to {given[COUNT.key] - 1}: the comparison has "
                          f"{given[COUNT.key]} (got {run!r:.40})", COUNT.key)
    run = run if source == COMPARE else 0
    optimizer = given[_run_key("optimizer", run) if source == COMPARE else "optimizer"]
    compare_keys = _keys(COMPARE)
    # each toy lab key beside its Compare key: the shared settings and the run's optimizer's
    pairs = {key: _run_key(key, run) for key in _keys(TOY)
             if key.split(".", 1)[0] not in OPTIMIZERS or key.split(".", 1)[0] == optimizer}
    pairs = {key: other for key, other in pairs.items() if other in compare_keys}
    if source == TOY:
        target = {**default_state(COMPARE), **{other: given[key] for key, other in pairs.items()}, COUNT.key: 1}
        return to_query(target, COMPARE)
    return to_query({**default_state(TOY), **{key: given[other] for key, other in pairs.items()}}, TOY)
