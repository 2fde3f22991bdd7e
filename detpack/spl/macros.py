"""Search macros: definitions from macros.conf and backtick expansion.

`name` and `name(arg1, arg2)` are replaced by the definition of the stanza
``name`` / ``name(2)``, with ``$argname$`` substituted; definitions may use
other macros. Expansion stops with an ``SplError`` on an undefined macro, a
wrong argument count or a macro that (indirectly) uses itself.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from ..errors import record
from .errors import SplError
from .lexer import QUOTED_STRINGS

STANZA_NAME = r"([A-Za-z0-9_.:-]+?)(?:\((\d+)\))?\Z"  # as text: re compiles it for the first macros.conf
MAX_DEPTH = 50


@record
class MacroDef:
    name: str  # the stanza name: ``name`` or ``name(N)``
    args: tuple[str, ...]
    definition: str


def macros_from_stanzas(stanzas: Iterable, filename: str = "macros.conf") -> dict[str, MacroDef]:
    """Macro definitions from ``conf.Stanza`` objects (name, entries, line)."""
    macros: dict[str, MacroDef] = {}
    for stanza in stanzas:
        where = f"{filename}:{stanza.line}"
        m = re.match(STANZA_NAME, stanza.name)
        if not m:
            raise SplError(f"{where}: invalid macro stanza name [{stanza.name}]")
        if "definition" not in stanza.entries:
            raise SplError(f"{where}: macro [{stanza.name}] has no definition")
        if stanza.entries.get("iseval", "0").strip().lower() in ("1", "true"):
            raise SplError(f"{where}: macro [{stanza.name}]: unsupported iseval = 1")
        args = tuple(a.strip() for a in stanza.entries.get("args", "").split(",") if a.strip())
        if len(args) != int(m.group(2) or 0):
            raise SplError(f"{where}: macro [{stanza.name}] declares {len(args)} args")
        macros[stanza.name] = MacroDef(stanza.name, args, stanza.entries["definition"])
    return macros


def as_macro_table(macros: Mapping[str, MacroDef] | Iterable) -> Mapping[str, MacroDef]:
    """Accept either a ready mapping or conf stanzas."""
    if isinstance(macros, Mapping):
        return macros
    return macros_from_stanzas(macros)


# A macro calling another several times grows exponentially with depth: the expansion is
# bounded in size and in calls (no real detection comes near either).
MAX_EXPANDED_CHARS = 1 << 20
MAX_CALLS = 10_000


class Budget:
    """What one expansion may still spend; SplError at the call that overspends."""

    def __init__(self) -> None:
        self.calls = 0

    def call(self, pos: int) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise SplError(f"macro expansion makes more than {MAX_CALLS} calls", pos)

    @staticmethod
    def size(text: str, pos: int) -> str:
        if len(text) > MAX_EXPANDED_CHARS:
            raise SplError(f"macro expansion is longer than {MAX_EXPANDED_CHARS} characters", pos)
        return text


def expand(spl: str, macros: Mapping[str, MacroDef]) -> str:
    """The search with every macro expanded; positions refer to ``spl``."""
    return expand_text(spl, macros, stack=(), base=None, budget=Budget())


def expand_text(text: str, macros: Mapping[str, MacroDef], stack: tuple[str, ...], base: int | None,
                budget: Budget) -> str:
    """Replace comments with a space and macro calls with their definitions.

    Splunk's Search Manual, "Add comments to searches": text between triple
    backticks is a comment, replaced with a space. Knowledge Manager Manual, "Use
    search macros in searches": macros inside quoted values are not expanded.
    """
    out: list[str] = []
    i = 0
    while (start := next_special(text, i)) != -1:
        here = start if base is None else base
        out.append(text[i:start])
        if text[start] == "\\":  # an escaped character (``\\"`` opens no quoted value)
            end = start + 2
            out.append(text[start:end])
        elif text[start] == '"':
            end = quoted_end(text, start)
            out.append(text[start:end])
        elif text.startswith(COMMENT, start):
            close = text.find(COMMENT, start + len(COMMENT))
            if close == -1:
                raise SplError("unterminated comment (missing closing ```)", here)
            out.append(" ")
            end = close + len(COMMENT)
        else:
            close = text.find("`", start + 1)
            if close == -1:
                raise SplError("unterminated macro call (missing closing backtick)", here)
            out.append(expand_call(text[start + 1 : close], macros, stack, here, budget))
            end = close + 1
        i = end
    out.append(text[i:])
    return budget.size("".join(out), 0 if base is None else base)


COMMENT = "```"
QUOTED_STRING = QUOTED_STRINGS['"']
SPECIAL = re.compile(r'["`\\]')


def next_special(text: str, i: int) -> int:
    m = SPECIAL.search(text, i)
    return -1 if m is None else m.start()


def quoted_end(text: str, i: int) -> int:
    """Index after the double-quoted string at ``i``; an unterminated one runs to the
    end (the parser reports it at its position)."""
    m = QUOTED_STRING.match(text, i)
    return m.end() if m else len(text)


def expand_call(call: str, macros: Mapping[str, MacroDef], stack: tuple[str, ...], pos: int,
                budget: Budget) -> str:
    budget.call(pos)
    name, args = split_call(call.strip(), pos)
    key = f"{name}({len(args)})" if args else name
    if key in stack:
        chain = " -> ".join((*stack[stack.index(key) :], key))
        raise SplError(f"macro '{key}' uses itself ({chain})", pos)
    if len(stack) >= MAX_DEPTH:
        raise SplError(f"macros nested deeper than {MAX_DEPTH}", pos)
    macro = macros.get(key)
    if macro is None:
        raise SplError(f"undefined macro '{key}'", pos)
    values = bind_arguments(macro, args)
    # All arguments at once: a value holding another argument's $name$ stays as written.
    body = ARGUMENT.sub(lambda m: values.get(m.group(1), m.group()), macro.definition) if values else macro.definition
    return expand_text(body, macros, (*stack, key), pos, budget)


ARGUMENT = re.compile(r"\$([^$\s]+)\$")


NAMED_ARGUMENT = re.compile(r"([A-Za-z0-9_-]+)\s*=(.*)\Z", re.DOTALL)


def bind_arguments(macro: MacroDef, args: list[str]) -> dict[str, str]:
    """Argument name → value, as written (quotes kept). Values bind by position, or by
    name when every one is written ``name=value`` with exactly the macro's argument
    names (*unverified* against a real splunkd: a positional value that looks like
    ``name=...`` for one of the macro's own arguments is taken as named)."""
    named = [NAMED_ARGUMENT.match(a) for a in args]
    names = [m.group(1) for m in named if m]
    if args and len(names) == len(args) and sorted(names) == sorted(macro.args):
        return {m.group(1): m.group(2).strip() for m in named}
    return dict(zip(macro.args, args))


def split_call(call: str, pos: int) -> tuple[str, list[str]]:
    """``name(a, "b,c")`` → (name, [a, "b,c"]); quotes are kept as written."""
    if "(" not in call:
        if not call:
            raise SplError("empty macro call ``", pos)
        return call, []
    if not call.endswith(")"):
        raise SplError(f"malformed macro call '{call}'", pos)
    name, inner = call[: call.index("(")].strip(), call[call.index("(") + 1 : -1]
    return name, split_arguments(inner)


def split_arguments(inner: str) -> list[str]:
    args, current, depth, quoted, i = [], [], 0, False, 0
    while i < len(inner):
        c = inner[i]
        if c == "\\" and quoted and i + 1 < len(inner):
            current.append(inner[i : i + 2])
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif not quoted and c in "([":
            depth += 1
        elif not quoted and c in ")]":
            depth -= 1
        elif not quoted and depth == 0 and c == ",":
            args.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(c)
        i += 1
    args.append("".join(current).strip())
    return args
