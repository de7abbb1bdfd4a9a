"""One hyperparameter or setting: its type, default, range and help, and how to check a value.

Every control, CLI option and validation rule is generated from tables of `Param`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from compute.errors import InvalidSpec

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


@dataclass(frozen=True, slots=True)
class Param:
    """A typed, bounded setting.

    Args:
        name: the torch argument name (``lr``, ``weight_decay``) or the setting's name.
        kind: ``float``, ``int``, ``bool`` or ``str`` (text, at most ``hi`` characters).
        default: the value used when none is given.
        lo, hi: inclusive bounds (None: unbounded on that side); ``lo_open``/``hi_open`` make
            them exclusive.
        log: whether the natural scale of the value is logarithmic (controls and sweeps).
        help: one line saying what the value does.
        label: the name controls show, where it differs (``betas[0]`` for ``beta1``).
        span: the range worth exploring, where (lo, hi) is too wide: a sweep's first range and
            the span of the value's slider.
        slider: whether a slider suits the value (not for seeds: they are labels, not amounts).
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
    slider: bool = True

    @property
    def cli_flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def shown(self) -> str:
        return self.label or self.name

    @property
    def sweep_range(self) -> tuple[float, float]:
        return self.span or (float(self.lo or 0.0), float(self.hi if self.hi is not None else 1.0))

    @property
    def stops(self) -> tuple[float, ...]:
        """The values this setting's slider can take, in increasing order (empty: no slider)."""
        return slider_stops(self)

    def range_text(self) -> str:
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "text" + (f" of at most {self.hi:g} characters" if self.hi is not None else "")
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
        if self.kind is str:  # text (a formula): its own reader checks what it says
            if not isinstance(value, str):
                raise InvalidSpec(f"{self.name} must be text (got {_short(value)})", field)
            if self.hi is not None and len(value) > self.hi:
                raise InvalidSpec(f"{self.name} may have at most {self.hi:g} characters (got {len(value)})", field)
            return value
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


# The E24 series of preferred numbers: 24 steps per decade, even in log scale, each a round value.
E24 = (1.0, 1.1, 1.2, 1.3, 1.5, 1.6, 1.8, 2.0, 2.2, 2.4, 2.7, 3.0, 3.3, 3.6, 3.9, 4.3, 4.7, 5.1, 5.6, 6.2,
       6.8, 7.5, 8.2, 9.1)
LINEAR_STOPS = 100  # about this many steps across a linear slider's span


def allows(param: Param, value: float) -> bool:
    """Whether ``value`` is in the param's range."""
    try:
        param.coerce(value)
    except InvalidSpec:
        return False
    return True


@cache
def slider_stops(param: Param) -> tuple[float, ...]:
    """A slider's stops across ``param.sweep_range``, evenly in the param's scale, each a round value.

    Log scale: the E24 values (24 per decade) in the span, the span's ends, and 0 first where the
    range allows 0 (weight_decay, noise). Linear: multiples of a round step (1, 2 or 5 × 10^k) giving
    about LINEAR_STOPS steps, and the span's ends. The default is always a stop. Whole-number
    settings keep their distinct rounded stops. No stops for switches and for values that are not
    amounts (seeds).
    """
    if param.kind in (bool, str) or not param.slider:
        return ()
    lo, hi = param.sweep_range
    if param.log:
        decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
        values = [lo, hi] + [v for v in (float(f"{m * 10.0**e:.3g}") for e in decades for m in E24) if lo <= v <= hi]
        if allows(param, 0.0):
            values.append(0.0)
    else:
        raw = (hi - lo) / LINEAR_STOPS
        step = min(m * 10.0 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)
                   if m * 10.0 ** math.floor(math.log10(raw)) >= raw * (1 - 1e-9))
        digits = max(0, -math.floor(math.log10(step)) + 1)
        first = math.ceil(lo / step - 1e-9)
        values = [lo, hi] + [round(k * step, digits) for k in range(first, math.floor(hi / step + 1e-9) + 1)]
    if lo <= param.default <= hi:
        values.append(param.default)  # a page opens with its slider on a stop
    if param.kind is int:
        values = [round(v) for v in values]
    return tuple(sorted({v for v in values if allows(param, v)}))


def nearest_stop(stops: tuple[float, ...], value: float, log: bool) -> int:
    """The index of the stop nearest ``value`` in the slider's scale.

    Log scale compares log10 of the values; 0 (and anything below the first positive stop's
    decade) sits one decade below the first positive stop.
    """
    def position(v: float) -> float:
        if not log:
            return v
        floor = math.log10(min(s for s in stops if s > 0)) - 1
        return max(math.log10(v), floor) if v > 0 else floor

    target = position(value)
    return min(range(len(stops)), key=lambda i: abs(position(stops[i]) - target))


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


def defaults(params: tuple[Param, ...]) -> dict[str, Any]:
    """Each param's default by name: what a spec's fields default to (written once, in the table)."""
    return {p.name: p.default for p in params}


def check_fields(obj: Any, params: tuple[Param, ...], prefix: str) -> None:
    """Coerce each of a frozen dataclass's fields named in ``params``, in place."""
    for p in params:
        object.__setattr__(obj, p.name, p.coerce(getattr(obj, p.name), f"{prefix}.{p.name}"))


def param_fields(params: tuple[Param, ...], prefix: str) -> Callable[[type], type]:
    """A class decorator, under ``@dataclass``: the spec gets a field per row of ``params`` (its
    name, its kind, its default), after the fields the class declares itself, and ``PARAMS``; its
    ``__post_init__`` first coerces and checks those fields (``prefix``.name in messages), then
    runs the class's own checks. The table is the one place a setting is written."""

    def add(cls: type) -> type:
        annotations = dict(inspect.get_annotations(cls))
        for p in params:
            if p.name in annotations:
                raise TypeError(f"{cls.__name__}.{p.name} is declared by the class and by its params")
            annotations[p.name] = p.kind
            setattr(cls, p.name, p.default)
        cls.__annotations__ = annotations
        own = cls.__dict__.get("__post_init__")

        def __post_init__(self: Any) -> None:
            check_fields(self, params, prefix)
            if own is not None:
                own(self)

        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        cls.PARAMS = params  # type: ignore[attr-defined]
        return cls

    return add
