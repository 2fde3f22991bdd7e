"""Compare our build of a pack with contentctl's, key by key.

For every stanza both builds write, every key contentctl writes must be in ours
with the same value. JSON values (lists, objects) are compared parsed, so that
``1729123200.0`` and ``1729123200`` or key order do not count. Differences that
are deliberate are listed in README ("Differences from contentctl") and in
``DELIBERATE`` below.

    python tests/contentctl_parity.py OUR_APP_DIR CONTENTCTL_APP_DIR   # summary by key
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from detpack.conf import as_dict, parse_conf  # noqa: E402

CONF_FILES = ("savedsearches.conf", "macros.conf", "analyticstories.conf", "transforms.conf")
# (conf file, key): why our value differs on purpose. Keyed by file and key, never by stanza.
DELIBERATE: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Difference:
    file: str
    stanza: str
    key: str
    ours: str | None
    theirs: str

    def __str__(self) -> str:
        return f"{self.file} [{self.stanza}] {self.key}: ours {self.ours!r}, contentctl {self.theirs!r}"


def _value(text: str | None):
    if text is None:
        return None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def read(app_dir: Path, name: str) -> dict[str, dict[str, str]]:
    path = app_dir / "default" / name
    return as_dict(parse_conf(path.read_text(encoding="utf-8"), str(path))) if path.is_file() else {}


@dataclass
class Comparison:
    shared: Counter  # file -> stanzas both wrote
    only_theirs: dict[str, list[str]]
    differences: list[Difference]

    def by_key(self) -> Counter:
        return Counter((d.file, d.key) for d in self.differences)


def compare(ours_dir: Path, theirs_dir: Path) -> Comparison:
    shared, only_theirs, differences = Counter(), {}, []
    for name in CONF_FILES:
        ours, theirs = read(ours_dir, name), read(theirs_dir, name)
        only_theirs[name] = sorted(set(theirs) - set(ours))
        for stanza in sorted(set(theirs) & set(ours)):
            shared[name] += 1
            for key, value in theirs[stanza].items():
                if (name, key) in DELIBERATE:
                    continue
                mine = ours[stanza].get(key)
                if _value(mine) != _value(value):
                    differences.append(Difference(name, stanza, key, mine, value))
    return Comparison(shared, only_theirs, differences)


def main(argv: list[str]) -> int:
    result = compare(Path(argv[0]), Path(argv[1]))
    for name in CONF_FILES:
        print(f"{name}: {result.shared[name]} stanzas compared, {len(result.only_theirs[name])} only in contentctl's")
    for (name, key), count in result.by_key().most_common():
        print(f"{count:6d}  {name} {key}")
    for difference in result.differences[: int(argv[2]) if len(argv) > 2 else 0]:
        print(difference)
    return 1 if result.differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
