"""The one error type of the SPL engine."""
from __future__ import annotations


class SplError(Exception):
    """SPL that cannot be parsed, expanded or run; a one-line message.

    ``position`` is the 0-based character offset in the macro-expanded search
    when the problem has one.
    """

    def __init__(self, message: str, position: int | None = None):
        self.message = message
        self.position = position
        text = message if position is None else f"{message} at position {position}"
        super().__init__(text)


class UnknownKnowledge(SplError):
    """SPL the engine could run, were a knowledge object it names known to it:
    a data model or a lookup (``kind``) called ``name``."""

    def __init__(self, kind: str, name: str, position: int | None = None):
        super().__init__(f"unknown {kind} '{name}'", position)
        self.kind = kind
        self.name = name
