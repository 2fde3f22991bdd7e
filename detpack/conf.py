"""The one writer and the strict reader of Splunk .conf files.

Every conf file the build renders goes through ``write_conf``; ``verify_conf``
then reads the text back with ``parse_conf`` (which shares no code with the
writer) and compares every stanza, key and value with what was meant.

Values follow Splunk's rules: a line ending in a backslash continues on the next
line, so a newline inside a value is written as ``\\`` + newline. Values that
Splunk could not read back unchanged are refused instead of written: control
characters, surrounding white space (Splunk trims it) and a final backslash,
which would glue the following line into the value.
"""
from __future__ import annotations

import re
from pathlib import Path

from .errors import Fresh, record

KEY_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/<>\-]*\Z")


class ConfError(Exception):
    """A conf file that cannot be read strictly; the message names file and line."""


class ConfValueError(ValueError):
    """A stanza name, key or value that cannot be written safely."""


@record(frozen=False)
class Stanza:
    name: str
    entries: dict[str, str] = Fresh(dict)
    line: int = 0


CONTROL_CHARACTERS = [chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))]  # Unicode category Cc, exactly
_CONTROL_EXCEPT: dict[str, re.Pattern] = {}  # allowed characters -> the other control characters


def control_characters(text: str, allowed: str = "") -> list[str]:
    """The control characters in ``text`` (other than ``allowed``), as ``U+XXXX``."""
    if text.isprintable():  # none at all: see check_value
        return []
    pattern = _CONTROL_EXCEPT.get(allowed)
    if pattern is None:  # one pattern per set of allowed characters: texts with line breaks stay one search
        pattern = _CONTROL_EXCEPT[allowed] = re.compile(
            "[" + "".join(re.escape(c) for c in CONTROL_CHARACTERS if c not in allowed) + "]")
    if not pattern.search(text):  # the common case, checked once per value of a large pack
        return []
    return sorted({f"U+{ord(c):04X}" for c in pattern.findall(text)})


def check_stanza_name(name: str) -> None:
    if name != name.strip():  # "" is the app-wide stanza of .meta files
        raise ConfValueError("stanza name has surrounding white space")
    if "[" in name or "]" in name:
        raise ConfValueError("stanza name contains '[' or ']'")
    if bad := control_characters(name):
        raise ConfValueError(f"stanza name contains control characters {', '.join(bad)}")


def check_key(key: str) -> None:
    if not KEY_PATTERN.match(key):
        raise ConfValueError(f"key {key!r} is not a valid conf key")


# Any control character but a line break or tab: a value has none in the common case, which
# check_value then settles with this one search (a large pack writes ~100,000 values).
VALUE_CONTROL_CHARACTERS = re.compile("[" + "".join(re.escape(c) for c in CONTROL_CHARACTERS if c not in "\n\t") + "]")


def check_value(value: str) -> None:
    # A printable text has no control character (they are all in Unicode's "Other" class, which
    # str.isprintable refuses), and that test is several times faster than the search.
    if not value.isprintable() and VALUE_CONTROL_CHARACTERS.search(value):
        bad = control_characters(value, allowed="\n\t")
        raise ConfValueError(f"value contains control characters {', '.join(bad)}")
    if value != value.strip():
        raise ConfValueError("value has leading or trailing white space, which Splunk trims")
    if value.endswith("\\"):
        raise ConfValueError("value ends with a backslash, which would join the next line")


def format_value(value: str) -> str:
    # A printable value without surrounding white space or a final backslash passes check_value
    # and has no line break to continue: most of a large pack's ~100,000 values take this path.
    if value.isprintable() and value == value.strip() and not value.endswith("\\"):
        return value
    check_value(value)
    return value.replace("\n", "\\\n")


class ConfWriter:
    """Writes one conf file line by line and records what it meant to write.

    Templates call ``stanza``, then ``entry`` for a key (or the rendering's ``entries`` for a run of
    keys, through ``entry_lines``); ``stanzas`` is then the intended content that the text must
    read back as (see ``verify_conf``).
    """

    def __init__(self) -> None:
        self.stanzas: list[Stanza] = []
        self._names: set[str] = set()
        self._valid_keys: set[str] = set()  # each key is checked once; large packs repeat them

    def stanza(self, name: str) -> str:
        check_stanza_name(name)
        if name in self._names:
            raise ConfValueError(f"duplicate stanza [{name}]")
        self._names.add(name)
        self.stanzas.append(Stanza(name))
        return f"[{name}]"

    def entry(self, key: str, value: object) -> str:
        return self.entry_lines([(key, value)])[0]

    def entry_lines(self, pairs: list[tuple[str, object]]) -> list[str]:
        """The lines of ``entry(key, value)`` for each pair in turn: one call for a run of keys."""
        if not self.stanzas:
            if pairs:
                raise ConfValueError(f"key {pairs[0][0]!r} written outside a stanza")
            return []
        stanza, valid_keys, lines = self.stanzas[-1], self._valid_keys, []
        entries = stanza.entries
        for key, value in pairs:
            if key not in valid_keys:
                check_key(key)
                valid_keys.add(key)
            if key in entries:
                raise ConfValueError(f"duplicate key {key!r} in [{stanza.name}]")
            text = value if type(value) is str else str(value)
            entries[key] = text
            try:
                lines.append(f"{key} = {format_value(text)}".rstrip(" "))
            except ConfValueError as error:  # the value alone does not say where it was to go
                raise ConfValueError(f"[{stanza.name}] {key}: {error}") from None
        return lines


def write_conf(stanzas: list[Stanza], header: str = "") -> str:
    """Render stanzas as conf text; raises ConfValueError for anything unsafe."""
    writer = ConfWriter()
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    for stanza in stanzas:
        out += ["", writer.stanza(stanza.name)] if out else [writer.stanza(stanza.name)]
        out += [writer.entry(key, value) for key, value in stanza.entries.items()]
    return "\n".join(out) + "\n"


def parse_conf(text: str, filename: str, *, layered: bool = False,
               ignored: list[tuple[int, str]] | None = None) -> list[Stanza]:
    """Read conf text strictly: duplicate stanzas or keys, keys outside a stanza,
    and lines that are neither are errors naming the file and line.

    ``layered`` reads as splunkd does for installed add-ons: a repeated stanza
    continues the earlier one and a repeated key takes the last value
    (Admin Manual, "Configuration file precedence"; add-ons ship such files).
    ``ignored`` (with ``layered``): splunkd's leniency too, each case added as
    (line, what) instead of refusing the file. A line that is neither a stanza, a
    ``key = value`` nor a comment is skipped, and so is a stanza header without its
    ``]``, its keys staying in the stanza before it (ksconf's documentation of Splunk's
    reader, "How 'check' differs from btool's validation":
    https://ksconf.readthedocs.io/en/v0.8.7/cmd_check.html); a key before any stanza
    belongs to ``[default]`` ("if the attribute appears before all stanzas, the
    attribute belongs to the stanza [default]", Implementing Splunk 7, "The structure
    of a Splunk configuration file").
    """
    lenient = layered and ignored is not None
    stanzas: list[Stanza] = []
    seen: set[str] = set()
    by_name: dict[str, Stanza] = {}
    current: Stanza | None = None
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        number, line = index + 1, lines[index].rstrip("\r")
        index += 1
        stripped = line.strip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("["):
            name = stripped[1:-1].strip(" \t")
            if lenient and not stripped.endswith("]"):
                ignored.append((number, "stanza header not closed with ']' (its keys stay in the stanza before)"))
                continue
            if layered and stripped.endswith("]") and name in by_name:
                current = by_name[name]
                continue
            current = _open_stanza(stripped, stanzas, seen, filename, number)
            by_name[current.name] = current
            continue
        key, sep, value = line.partition("=")
        key = key.strip(" \t")
        if (not sep or not key) and lenient:
            ignored.append((number, "line is neither a stanza, a key = value, nor a comment"))
            continue
        if not sep or not key:
            raise ConfError(f"{filename}:{number}: line is neither a stanza, a key = value, nor a comment")
        if current is None and lenient:
            current = by_name.get("default") or _open_stanza("[default]", stanzas, seen, filename, number)
            by_name["default"] = current
        if current is None:
            raise ConfError(f"{filename}:{number}: key {key!r} outside any stanza")
        if key in current.entries and not layered:
            raise ConfError(f"{filename}:{number}: duplicate key {key!r} in [{current.name}]")
        parts = [value.strip(" \t")]
        while parts[-1].endswith("\\") and index < len(lines):
            parts[-1] = parts[-1][:-1]
            parts.append(lines[index].rstrip("\r"))
            index += 1
        current.entries[key] = "\n".join(parts)
    return stanzas


def _open_stanza(stripped: str, stanzas: list[Stanza], seen: set[str], filename: str, number: int) -> Stanza:
    if not stripped.endswith("]"):
        raise ConfError(f"{filename}:{number}: stanza header is not closed with ']'")
    name = stripped[1:-1].strip(" \t")
    if name in seen:
        raise ConfError(f"{filename}:{number}: duplicate stanza [{name}]")
    seen.add(name)
    stanza = Stanza(name, {}, number)
    stanzas.append(stanza)
    return stanza


def read_conf(path: Path | str, *, layered: bool = False) -> list[Stanza]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfError(f"{path}: cannot read: {exc}") from None
    return parse_conf(text, str(path), layered=layered)


def as_dict(stanzas: list[Stanza]) -> dict[str, dict[str, str]]:
    return {s.name: dict(s.entries) for s in stanzas}


def verify_conf(text: str, filename: str, expected: list[Stanza]) -> list[str]:
    """Parse ``text`` back and list every difference from ``expected``."""
    try:
        got = as_dict(parse_conf(text, filename))
    except ConfError as exc:
        return [str(exc)]
    return compare_conf(got, as_dict(expected), filename)


def compare_conf(got: dict[str, dict[str, str]], want: dict[str, dict[str, str]], filename: str) -> list[str]:
    problems = [f"{filename}: stanza [{n}] missing" for n in want if n not in got]
    problems += [f"{filename}: unexpected stanza [{n}]" for n in got if n not in want]
    for name in want.keys() & got.keys():
        for key in want[name].keys() | got[name].keys():
            if want[name].get(key) != got[name].get(key):
                problems.append(f"{filename}: [{name}] {key}: read back differently from what was written")
    return sorted(problems)
