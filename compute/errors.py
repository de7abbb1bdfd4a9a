"""Typed domain errors raised by compute/ and translated once by the dashboard and the CLI."""

from __future__ import annotations


class InvalidSpec(ValueError):
    """A request that cannot be computed: a value out of range, a combination torch rejects.

    Args:
        message: a sentence a person can act on.
        field: the qualified name of the offending setting (``"sgd.lr"``), or None when the
            problem is not one field's.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0])
