"""Compare our build of a pack with contentctl's, key by key.

For every stanza both builds write, every key contentctl writes must be in ours
with the same value. JSON values (lists, objects) are compared parsed, so that
``1729123200.0`` and ``1729123200`` or key order do not count. Differences that
are deliberate are listed in README ("Differences from contentctl") and in
``DELIBERATE`` below.

    python tests/contentctl_parity.py OUR_APP_DIR CONTENTCTL_APP_DIR [N]   # summary by key, N differences shown
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from detpack.build.render import STATUS_NOTICE  # noqa: E402
from detpack.conf import as_dict, parse_conf  # noqa: E402

CONF_FILES = ("savedsearches.conf", "macros.conf", "analyticstories.conf", "transforms.conf")
NOTICES = tuple(STATUS_NOTICE.values())


def _our_status_notice(ours: str, theirs: str) -> bool:
    """Our own words in front of an experimental or deprecated detection's description, the text the same."""
    return any(ours.startswith(n) and theirs.rstrip().endswith(ours[len(n):]) for n in NOTICES)


def _story_listed_twice(ours: str, theirs: str) -> bool:
    """contentctl repeats a search when a detection names the same story twice; we list it once."""
    return json.loads(ours) == list(dict.fromkeys(json.loads(theirs)))


# (conf file, key) -> (why our value differs on purpose, the test that the difference is only that).
# The README lists the same ("Differences from contentctl").
DELIBERATE: dict[tuple[str, str], tuple[str, object]] = {
    ("savedsearches.conf", "description"): ("status notice in our own words", _our_status_notice),
    ("macros.conf", "description"): ("filter macro description in our own words",
                                     lambda ours, theirs: ours.startswith("Update this macro in local/macros.conf")),
    ("analyticstories.conf", "searches"): ("a search listed once", _story_listed_twice),
}


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
    deliberate: Counter  # reason -> values that differ only in that way

    def by_key(self) -> Counter:
        return Counter((d.file, d.key) for d in self.differences)


def compare(ours_dir: Path, theirs_dir: Path) -> Comparison:
    shared, only_theirs, differences, deliberate = Counter(), {}, [], Counter()
    for name in CONF_FILES:
        ours, theirs = read(ours_dir, name), read(theirs_dir, name)
        only_theirs[name] = sorted(set(theirs) - set(ours))
        for stanza in sorted(set(theirs) & set(ours)):
            shared[name] += 1
            for key, value in theirs[stanza].items():
                mine = ours[stanza].get(key)
                if _value(mine) == _value(value):
                    continue
                reason, only_that = DELIBERATE.get((name, key), (None, None))
                if mine is not None and only_that and only_that(mine, value):
                    deliberate[reason] += 1
                else:
                    differences.append(Difference(name, stanza, key, mine, value))
    return Comparison(shared, only_theirs, differences, deliberate)


def main(argv: list[str]) -> int:
    result = compare(Path(argv[0]), Path(argv[1]))
    for name in CONF_FILES:
        print(f"{name}: {result.shared[name]} stanzas compared, {len(result.only_theirs[name])} only in contentctl's")
    for reason, count in result.deliberate.most_common():
        print(f"{count:6d}  deliberate: {reason}")
    print(f"{len(result.differences)} difference(s)")
    for (name, key), count in result.by_key().most_common():
        print(f"{count:6d}  {name} {key}")
    for difference in result.differences[: int(argv[2]) if len(argv) > 2 else 0]:
        print(difference)
    return 1 if result.differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
