"""Lookups by name in the tables: a setting's ``Param``, a spec field's default.

So that nothing picks ``PARAMS[1]`` by position (a reordered table would silently pick another
setting) or types beside a spec a default the spec already holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from compute.params import Param


def param(table: Iterable[Param], name: str) -> Param:
    """The setting called ``name`` in a table of Param (KeyError when it has none)."""
    for p in table:
        if p.name == name:
            return p
    raise KeyError(f"no setting {name!r} in this table")


def field_default(spec: type, name: str) -> Any:
    """The default of a spec dataclass's field ``name`` (a fresh value where the field has a factory)."""
    for f in dataclasses.fields(spec):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise KeyError(f"{spec.__name__}.{name} has no default")
    raise KeyError(f"{spec.__name__} has no field {name!r}")


__all__ = ["field_default", "param"]
