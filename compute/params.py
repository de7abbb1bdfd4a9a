"""One hyperparameter or setting: its type, default, range and help, and how to check a value.

Every control, CLI option and validation rule is generated from tables of `Param`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from compute.errors import InvalidSpec

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class Param:
    """A typed, bounded setting.

    Args:
        name: the torch argument name (``lr``, ``weight_decay``) or the setting's name.
        kind: ``float``, ``int`` or ``bool``.
        default: the value used when none is given.
        lo, hi: inclusive bounds (None: unbounded on that side); ``lo_open``/``hi_open`` make
            them exclusive.
        log: whether the natural scale of the value is logarithmic (controls and sweeps).
        help: one line saying what the value does.
        label: the name controls show, where it differs (``betas[0]`` for ``beta1``).
        span: the range a sweep of this value starts with, where (lo, hi) is too wide.
    """

    name: str
    kind: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    log: bool = False
    help: str = ""
    label: str | None = None  # how controls show the name when it is not the torch argument's
    span: tuple[float, float] | None = None  # a range worth sweeping, when not (lo, hi)

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def shown(self) -> str:
        return self.label or self.name

    @property
    def sweep_range(self) -> tuple[float, float]:
        return self.span or (float(self.lo or 0.0), float(self.hi if self.hi is not None else 1.0))

    def range_text(self) -> str:
        if self.kind is bool:
            return "true or false"
        lo = "" if self.lo is None else f"{'>' if self.lo_open else '≥'} {self.lo:g}"
        hi = "" if self.hi is None else f"{'<' if self.hi_open else '≤'} {self.hi:g}"
        return " and ".join(t for t in (lo, hi) if t) or "any finite number"

    def coerce(self, value: Any, field: str | None = None) -> Any:
        """Return ``value`` as this param's type, or raise InvalidSpec naming the field.

        Accepts numbers and their string forms (URLs, the CLI); rejects NaN, infinities,
        booleans where a number is expected, non-integral ints and out-of-range values.
        """
        field = field or self.name
        if self.kind is bool:
            return _to_bool(value, field, self.name)
        number = _to_number(value, field, self)
        if self.kind is int:
            if number != math.floor(number):
                raise InvalidSpec(f"{self.name} must be a whole number (got {value!r})", field)
            number = int(number)
        else:
            number = float(number)
        too_low = self.lo is not None and (number <= self.lo if self.lo_open else number < self.lo)
        too_high = self.hi is not None and (number >= self.hi if self.hi_open else number > self.hi)
        if too_low or too_high:
            raise InvalidSpec(f"{self.name} must be {self.range_text()} (got {value!r})", field)
        return number


def _to_bool(value: Any, field: str, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise InvalidSpec(f"{name} must be true or false (got {_short(value)})", field)


def _to_number(value: Any, field: str, param: Param) -> float:
    def needs(got: str = "") -> InvalidSpec:
        return InvalidSpec(f"{param.name} needs a number, {param.range_text()}{got}", field)

    if value is None or value == "":
        raise needs()
    if isinstance(value, bool):
        raise needs(f" (got {_short(value)})")
    if isinstance(value, (int, float)):
        number = float(value) if not isinstance(value, int) or abs(value) < 2**63 else math.inf
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise needs(f" (got {_short(value)})") from None
    else:
        raise needs(f" (got {_short(value)})")
    if not math.isfinite(number):
        raise InvalidSpec(f"{param.name} must be a finite number (got {_short(value)})", field)
    return number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_fields(obj: Any, params: tuple[Param, ...], prefix: str) -> None:
    """Coerce each of a frozen dataclass's fields named in ``params``, in place."""
    for p in params:
        object.__setattr__(obj, p.name, p.coerce(getattr(obj, p.name), f"{prefix}.{p.name}"))
