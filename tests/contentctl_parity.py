"""Compare our build of a pack with contentctl's, file by file, stanza by stanza, key by key.

Every conf file either build writes under ``default/``, and ``metadata/default.meta``, is compared
both ways: a file, stanza or key only one side writes is a difference, and so is a value that is not
the same. JSON values (lists, objects) are compared parsed, so that ``1729123200.0`` and
``1729123200`` or key order do not count. A difference is deliberate only when a rule below says
exactly what ours and theirs hold; README ("Differences from contentctl") lists the same rules.

    python tests/contentctl_parity.py OUR_APP_DIR CONTENTCTL_APP_DIR [N]   # summary by key, N differences shown
"""
from __future__ import annotations

import json
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from detpack.build.render import STATUS_NOTICE  # noqa: E402
from detpack.conf import as_dict, parse_conf  # noqa: E402

MISSING = None


@dataclass
class Context:
    """What a rule may need to know of the two builds: our detection names, and the constant text
    contentctl puts in front of a description for each status notice (learnt from its output)."""

    detection_names: set[str] = field(default_factory=set)
    their_notices: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def _our_status_notice(ours: str, theirs: str, context: Context) -> bool:
    """Our notice, then the whole description; contentctl's own notice, a space, the same description
    (and the space its template writes after it, where the conf reader keeps it).
    Every stanza's notice of one kind must be the same text, so a cut description shows."""
    for notice in STATUS_NOTICE.values():
        text = ours[len(notice):] if ours.startswith(notice) else None
        theirs_text = theirs.removesuffix(" ")  # contentctl's template ends the line with a space
        if text and theirs_text.endswith(" " + text):
            context.their_notices[notice].add(theirs_text[: -len(text)])
            return True
    return False


FILTER_DESCRIPTION = re.compile(r"Update this macro in local/macros\.conf to filter out false positives of (.+)\.\Z")


def _our_filter_description(ours: str, theirs: str, context: Context) -> bool:
    """Our description of a detection's filter macro, naming one of our detections."""
    found = FILTER_DESCRIPTION.match(ours)
    return bool(found) and found.group(1) in context.detection_names


def _story_listed_twice(ours: str, theirs: str, context: Context) -> bool:
    """contentctl repeats a search when a detection names the same story twice; we list it once."""
    return json.loads(ours) == list(dict.fromkeys(json.loads(theirs))) != json.loads(theirs)


def _settings_fill_the_author(ours: str, theirs: str, context: Context) -> bool:
    """A story by the pack's own author: the settings' e-mail, and company where the story names none."""
    [mine], [their] = json.loads(ours), json.loads(theirs)
    return (mine["name"] == their["name"] and their["email"] == "-" != mine["email"]
            and their["company"] in (mine["company"], "no"))


def _exactly(our_value: str | None, their_value: str | None):
    return lambda ours, theirs, context: (ours, theirs) == (our_value, their_value)


# (file, stanza or "*", key) -> (why ours differs on purpose, the test that the difference is only
# that). A key only one side writes has MISSING on the other. README lists the same.
DELIBERATE: dict[tuple[str, str, str], tuple[str, object]] = {
    ("default/savedsearches.conf", "*", "description"): ("status notice in our own words", _our_status_notice),
    ("default/macros.conf", "*", "description"): ("filter macro description in our own words", _our_filter_description),
    ("default/analyticstories.conf", "*", "searches"): ("a search listed once", _story_listed_twice),
    ("default/analyticstories.conf", "*", "maintainers"): ("the pack author's company and e-mail from the settings",
                                                           _settings_fill_the_author),
    ("default/savedsearches.conf", "*", "action.correlationsearch.detection_type"): (
        "ES's detection type written out (ebd)", _exactly("ebd", MISSING)),
    ("default/savedsearches.conf", "*", "alert.suppress"): ("alert suppression off, written out", _exactly("0", MISSING)),
    ("default/transforms.conf", "*", "max_matches"): (
        "a lookup's max_matches as its YAML gives it (contentctl's Lookup model drops it)",
        lambda ours, theirs, context: theirs is MISSING and ours.isdigit()),
    ("default/app.conf", "install", "build"): (
        "a build number from the version, so that two builds are the same",
        lambda ours, theirs, context: ours.isdigit() and theirs.isdigit() and len(theirs) == 14),
    ("default/app.conf", "ui", "is_visible"): ("no views ship, so the app is hidden", _exactly("false", "true")),
    ("default/app.conf", "package", "check_for_updates"): ("no update checks against Splunkbase",
                                                           _exactly("false", MISSING)),
    ("metadata/default.meta", "", "export"): ("only what ES reads outside the app is exported",
                                              _exactly("none", "system")),
    ("metadata/default.meta", "", "access"): ("Splunk Cloud's sc_admin may write too",
                                              _exactly("read : [ * ], write : [ admin, sc_admin ]",
                                                       "read : [ * ], write : [ admin ]")),
    ("metadata/default.meta", "savedsearches", "export"): ("only what ES reads outside the app is exported",
                                                           _exactly("system", MISSING)),
    ("metadata/default.meta", "savedsearches", "owner"): ("searches belong to the app (nobody), not to admin",
                                                          _exactly(MISSING, "admin")),
}
# Reload triggers of conf files only contentctl writes (ONLY_ONE_SIDE).
for _conf in ("analytic_stories", "usage_searches", "use_case_library", "correlationsearches", "governance",
              "managed_configurations", "postprocess", "content-version", "es_investigations"):
    DELIBERATE[("default/app.conf", "triggers", f"reload.{_conf}")] = (
        "no reload trigger for a conf file the app does not ship", _exactly(MISSING, "simple"))

# Files and stanzas only one side writes, with the reason. README lists the same.
ONLY_ONE_SIDE: dict[tuple[str, str | None], str] = {
    ("default/server.conf", None): "search head clusters replicate analyticstories.conf",
    ("default/app.conf", "id"): "the app's id and version for Splunkbase and AppInspect",
    ("default/analytic_stories.conf", None): "empty files of ESCU's own app template",
    ("default/commands.conf", None): "empty files of ESCU's own app template",
    ("default/use_case_library.conf", None): "empty files of ESCU's own app template",
    ("default/content-version.conf", None): "ESCU's own version marker",
    ("default/distsearch.conf", None): "lookups replicate to indexers as Splunk's default has it",
    ("default/data/ui", "default/data/ui/nav/default.xml"): "ESCU's own views and navigation",
    ("default/data/ui", "default/data/ui/views/escu_summary.xml"): "ESCU's own views and navigation",
    ("default/data/ui", "default/data/ui/views/feedback.xml"): "ESCU's own views and navigation",
    ("metadata/default.meta", "analyticstories"): "only what ES reads outside the app is exported",
    ("metadata/default.meta", "macros"): "only what ES reads outside the app is exported",
    ("metadata/default.meta", "lookups"): "only what ES reads outside the app is exported",
    ("metadata/default.meta", "transforms"): "only what ES reads outside the app is exported",
    ("metadata/default.meta", "correlationsearches"): "permissions of conf files only ESCU ships",
    ("metadata/default.meta", "governance"): "permissions of conf files only ESCU ships",
    ("metadata/default.meta", "managed_configurations"): "permissions of conf files only ESCU ships",
    ("metadata/default.meta", "postprocess"): "permissions of conf files only ESCU ships",
    # lookups contentctl generates itself rather than reads from the pack
    ("default/transforms.conf", "data_sources"): "lookups contentctl generates itself",
    ("default/transforms.conf", "mitre_enrichment"): "lookups contentctl generates itself",
}



@dataclass(frozen=True)
class Difference:
    file: str
    stanza: str | None  # None: the whole file
    key: str | None  # None: the whole stanza
    ours: str | None
    theirs: str | None

    def __str__(self) -> str:
        where = self.file + (f" [{self.stanza}]" if self.stanza is not None else "") + (f" {self.key}" if self.key else "")
        return f"{where}: ours {self.ours!r}, contentctl {self.theirs!r}"


def _value(text: str | None):
    if text is None:
        return None
    if text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def _canonical(path: Path) -> str:
    """An XML file as canonical XML (comments and formatting left out), so that escaping does not count."""
    return ElementTree.canonicalize(path.read_text(encoding="utf-8"), strip_text=True)


def conf_files(app_dir: Path) -> dict[str, dict[str, dict[str, str]]]:
    """Every conf file under default/ and metadata/default.meta, parsed; the XML files under
    default/data/ui as one entry each, in canonical form."""
    paths = sorted(app_dir.glob("default/*.conf")) + sorted(app_dir.glob("metadata/*.meta"))
    files = {p.relative_to(app_dir).as_posix(): as_dict(parse_conf(p.read_text(encoding="utf-8"), str(p))) for p in paths}
    if (app_dir / "default" / "data" / "ui").is_dir():  # views, navigation, panels: compared as present or not
        files["default/data/ui"] = {p.relative_to(app_dir).as_posix(): {"xml": _canonical(p)}
                                    for p in (app_dir / "default/data/ui").rglob("*.xml")}
    return files


@dataclass
class Comparison:
    shared: Counter  # file -> stanzas both wrote
    differences: list[Difference]
    deliberate: Counter  # reason -> values that differ only in that way
    context: Context

    def by_key(self) -> Counter:
        return Counter((d.file, d.key) for d in self.differences)


def _detection_names(ours: dict[str, dict[str, dict[str, str]]]) -> set[str]:
    searches = ours.get("default/savedsearches.conf", {})
    return {stanza.split(" - ", 1)[1].rsplit(" - Rule", 1)[0] for stanza in searches if stanza.endswith(" - Rule")}


def compare(ours_dir: Path, theirs_dir: Path) -> Comparison:
    ours_files, theirs_files = conf_files(ours_dir), conf_files(theirs_dir)
    context = Context(_detection_names(ours_files))
    shared, differences, deliberate = Counter(), [], Counter()
    for name in sorted(ours_files.keys() | theirs_files.keys()):
        if name not in ours_files or name not in theirs_files:
            if (name, None) in ONLY_ONE_SIDE:
                deliberate[ONLY_ONE_SIDE[name, None]] += 1
            else:
                differences.append(Difference(name, None, None, "(file)" if name in ours_files else None,
                                              "(file)" if name in theirs_files else None))
            continue
        ours, theirs = ours_files[name], theirs_files[name]
        for stanza in sorted(ours.keys() ^ theirs.keys()):
            if (name, stanza) in ONLY_ONE_SIDE:
                deliberate[ONLY_ONE_SIDE[name, stanza]] += 1
            else:
                differences.append(Difference(name, stanza, None, "(stanza)" if stanza in ours else None,
                                              "(stanza)" if stanza in theirs else None))
        for stanza in sorted(ours.keys() & theirs.keys()):
            shared[name] += 1
            for key in sorted(ours[stanza].keys() | theirs[stanza].keys()):
                mine, value = ours[stanza].get(key), theirs[stanza].get(key)
                if _value(mine) == _value(value):
                    continue
                reason, only_that = DELIBERATE.get((name, stanza, key)) or DELIBERATE.get((name, "*", key), (None, None))
                if only_that and only_that(mine, value, context):
                    deliberate[reason] += 1
                else:
                    differences.append(Difference(name, stanza, key, mine, value))
    for notice, prefixes in context.their_notices.items():
        if len(prefixes) > 1:  # contentctl's notice is one text: another prefix means a cut description
            differences.append(Difference("default/savedsearches.conf", "*", "description", notice,
                                          f"{len(prefixes)} different texts before the description"))
    return Comparison(shared, differences, deliberate, context)


def main(argv: list[str]) -> int:
    result = compare(Path(argv[0]), Path(argv[1]))
    for name, count in sorted(result.shared.items()):
        print(f"{name}: {count} stanzas compared")
    for reason, count in result.deliberate.most_common():
        print(f"{count:6d}  deliberate: {reason}")
    print(f"{len(result.differences)} difference(s)")
    for (name, key), count in result.by_key().most_common():
        print(f"{count:6d}  {name} {key or '(whole stanza or file)'}")
    for difference in result.differences[: int(argv[2]) if len(argv) > 2 else 0]:
        print(difference)
    return 1 if result.differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
