"""Smoke mode, ``python -m bench NAME --smoke``: a bench's own code path on its tiniest inputs.

Each bench takes its sizes from one of two rows (the full run's, the smoke run's) and passes what
it reports through ``sane`` once printed, so a bench that no longer runs, or reports a NaN, a
negative time or nothing at all, exits non-zero: tests/test_benches.py runs every bench this way.
"""

from __future__ import annotations

import math
from numbers import Real


class NotSane(SystemExit):
    """A reported number outside what the bench can measure (exit status 1, the message on stderr)."""


def sane(what: str, value: object, low: float = 0.0, high: float = math.inf) -> float:
    """``value`` as a float, checked to be a finite number in [low, high] (times, ratios, counts: ≥ 0)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) \
            or not low <= value <= high:
        raise NotSane(f"bench: {what} is {value!r}; expected a finite number in [{low}, {high}]")
    return float(value)


def require(what: str, holds: bool) -> None:
    """A condition of a smoke run beyond one number's range (no errors, every job finished)."""
    if not holds:
        raise NotSane(f"bench: {what} does not hold")
