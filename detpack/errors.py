"""Findings and exit codes shared by every command."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_INVALID_INPUT = 2


def display_path(path: Path | str) -> str:
    """A path as the user can open it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return os.fspath(path)


@dataclass(frozen=True, order=True)
class Location:
    """Where a value came from: 1-based line and column in a file."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem in the input, printed on one line."""

    location: Location
    field: str
    problem: str
    expected: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.field}: {self.problem}"
        return f"{text} (expected {self.expected})" if self.expected else text

    def as_dict(self) -> dict:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "field": self.field,
            "problem": self.problem,
            "expected": self.expected,
        }


class InvalidInput(Exception):
    """Input that cannot be used; carries every finding at once."""

    def __init__(self, findings: list[Finding]):
        self.findings = sorted(findings)
        super().__init__("\n".join(str(f) for f in self.findings))
