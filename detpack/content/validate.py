"""Cross-checks over a loaded pack, each a small function returning findings.

Schema checks (types, required and unknown keys, formats) happen while loading
(``detpack.content``); the checks here look across fields and files.
"""
from __future__ import annotations

import re
from pathlib import Path
from collections import defaultdict
from collections.abc import Callable, Iterator

from ..conf import ConfValueError, check_stanza_name, check_value
from .load import load_pack
from ..errors import Finding, InvalidInput, Location, record
from .fields import returned_fields, split_pipeline, without_comments
from .mappings import CIM_MACROS, LOOKUP_NAME_PATTERN, LOOKUPS_PROVIDED_ELSEWHERE
from .model import (
    Detection, Pack, baseline_stanza_name, investigation_stanza_name, panel_name, result_tokens, search_stanza_name,
    workbench_inputs,
)

MAX_NAME_LENGTH = 67  # ES adds "<domain> - " and " - Rule" and keeps names <= 99 characters
MACRO_CALL = re.compile(r"`([^`(]+)(?:\(([^`]*)\))?`")



@record
class PackIndex:
    """What the cross-checks look up, computed once per pack."""

    pack: Pack
    story_names: frozenset[str]
    macro_stanzas: frozenset[str]
    data_sources: frozenset[str]
    lookup_names: frozenset[str]

    @classmethod
    def of(cls, pack: Pack) -> PackIndex:
        macros = {m.stanza for m in pack.macros} | {d.filter_macro for d in pack.detections} | CIM_MACROS
        return cls(pack, frozenset(s.name for s in pack.stories), frozenset(macros),
                   frozenset(n.lower() for n in pack.data_sources), frozenset(l.name for l in pack.lookups))


DetectionCheck = Callable[[Detection, PackIndex], Iterator[Finding]]


def macro_stanza(name: str, arguments: str | None) -> str:
    """The macros.conf stanza a call resolves to: ``name`` or ``name(N)``."""
    if arguments is None:
        return name
    count = len(re.findall(r",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*\Z)", arguments)) + 1 if arguments.strip() else 0
    return f"{name}({count})" if count else name


def _used_macros(search: str) -> Iterator[tuple[str, str]]:
    for match in MACRO_CALL.finditer(without_comments(search)):
        yield match.group(0), macro_stanza(match.group(1).strip(), match.group(2))


def check_stories(d: Detection, index: PackIndex) -> Iterator[Finding]:
    for i, story in enumerate(d.annotations.analytic_story):
        if story not in index.story_names:
            yield Finding(d.where(f"tags.analytic_story[{i}]"), f"tags.analytic_story[{i}]",
                          f"story {story!r} does not exist", "the name of a story in stories/")


def check_macros(d: Detection, index: PackIndex) -> Iterator[Finding]:
    searches = [("search", d.search)] + [(f"drilldown_searches[{i}].search", x.search) for i, x in enumerate(d.drilldowns)]
    for path, search in searches:
        for call, stanza in _used_macros(search):
            if stanza not in index.macro_stanzas:
                yield Finding(d.where(path), path, f"macro {call} is not defined",
                              "a macro in macros/, a detection filter macro or a CIM macro")


def check_nested_macros(pack: Pack, index: PackIndex) -> Iterator[Finding]:
    """Macros used inside macro definitions must exist too."""
    for macro in pack.macros:
        for call, stanza in _used_macros(macro.definition):
            if stanza not in index.macro_stanzas:
                yield Finding(macro.locations["definition"], "definition", f"macro {call} is not defined",
                              "a macro in macros/ or a CIM macro")


def check_filter_macro(d: Detection, index: PackIndex) -> Iterator[Finding]:
    last = split_pipeline(without_comments(d.search))[-1]
    if last != f"`{d.filter_macro}`":
        yield Finding(d.where("search"), "search", f"ends with {last[-40:]!r}",
                      f"the last command to be `{d.filter_macro}`")


def _token_findings(d: Detection, fields: set[str], text: str, path: str) -> Iterator[Finding]:
    for token in result_tokens(text):
        if token not in fields:
            yield Finding(d.where(path), path, f"token ${token}$ is not a field the search returns",
                          "one of " + ", ".join(sorted(fields)))


def check_tokens_and_objects(d: Detection, index: PackIndex) -> Iterator[Finding]:
    fields = returned_fields(without_comments(d.search))
    if fields is None:
        return
    message_path = "rba.message" if "rba" in d.locations else "tags.message"
    yield from _token_findings(d, fields, d.risk_message, message_path)
    for i, drilldown in enumerate(d.drilldowns):
        for key in ("name", "search"):
            path = f"drilldown_searches[{i}].{key}"
            yield from _token_findings(d, fields, getattr(drilldown, key), path)
    for obj in d.risk_objects + d.threat_objects:
        if obj.field not in fields:
            yield Finding(obj.location, obj.path, f"{obj.field!r} is not a field the search returns",
                          "one of " + ", ".join(sorted(fields)))
    deployment = index.pack.deployments.get(d.type)
    for name in (deployment.notable or {}).get("nes_fields", ()) if deployment else ():
        if name not in fields:  # the notable event would carry an empty field
            yield Finding(d.where("search"), "search", f"notable field {name!r} (nes_fields of the {d.type} "
                          "deployment) is not a field the search returns", "one of " + ", ".join(sorted(fields)))


def check_lookups(d: Detection, index: PackIndex) -> Iterator[Finding]:
    """Each lookup a search names is in the pack, as contentctl 4.4.1 requires (mappings.LOOKUP_NAME_PATTERN)."""
    names = set(re.findall(LOOKUP_NAME_PATTERN, d.search)) if "lookup " in d.search else set()  # the pattern needs it
    if names & LOOKUPS_PROVIDED_ELSEWHERE:
        return
    for name in sorted(names - index.lookup_names):
        yield Finding(d.where("search"), "search", f"lookup {name!r} is not in the pack", "a lookup in lookups/")


def check_name_length(d: Detection, index: PackIndex) -> Iterator[Finding]:
    if len(d.name) > MAX_NAME_LENGTH:
        yield Finding(d.where("name"), "name", f"is {len(d.name)} characters long",
                      f"at most {MAX_NAME_LENGTH}, the Enterprise Security label limit")


def check_risk_score(d: Detection, index: PackIndex) -> Iterator[Finding]:
    confidence, impact = d.annotations.confidence, d.annotations.impact
    if confidence is None or impact is None:
        return
    score = round(confidence * impact / 100)
    for i, obj in enumerate(d.risk_objects):
        if obj.score != score and "rba" in d.locations:
            path = f"rba.risk_objects[{i}].score"
            yield Finding(d.where(path), path, f"{obj.score} disagrees with impact x confidence / 100", str(score))


def check_conf_safe(d: Detection, index: PackIndex) -> Iterator[Finding]:
    values = {"name": d.name, "description": d.description, "search": d.search,
              "how_to_implement": d.how_to_implement, "known_false_positives": d.known_false_positives,
              "rba.message" if "rba" in d.locations else "tags.message": d.risk_message,
              "tags.asset_type": d.asset_type}  # analyticstories.conf
    notable = index.pack.deployments[d.type].notable
    if notable and "%author%" in notable["rule_title"] + notable["rule_description"]:  # filled in savedsearches.conf
        values["author"] = d.author
    for path, value in values.items():
        try:
            check_value(value)
            if path == "name":
                check_stanza_name(value)
        except ConfValueError as exc:
            yield Finding(d.where(path), path, str(exc), "a value Splunk can read back")


def check_attack_data(d: Detection, index: PackIndex) -> Iterator[Finding]:
    for i, test in enumerate(d.tests):
        for j, data in enumerate(test.attack_data):
            # Attack data never ships in the package, so a link to a dataset read in place is fine;
            # is_file() follows it and still refuses a device such as /dev/zero.
            if "://" not in data.data and not (index.pack.root / data.data).is_file():
                yield Finding(data.location, f"tests[{i}].attack_data[{j}].data",
                              f"file {data.data!r} does not exist or is not a regular file",
                              "a path relative to the content directory, or a URL")


def check_data_sources(d: Detection, index: PackIndex) -> Iterator[Finding]:
    """Each data source must be described; ``A AND B`` names two that the search needs together
    (contentctl 4.4.1 splits them the same way, detection_abstract.py)."""
    if not index.data_sources:
        return
    for i, sources in enumerate(d.annotations.data_source):
        for source in (part.strip() for part in sources.split(" AND ")):
            if source.lower() not in index.data_sources:
                yield Finding(d.where(f"data_source[{i}]"), f"data_source[{i}]", f"{source!r} is not in data_sources/",
                              "the name of a data source file")


DETECTION_CHECKS: tuple[DetectionCheck, ...] = (
    check_stories, check_macros, check_lookups, check_name_length, check_conf_safe, check_attack_data,
)
# Checks contentctl does not make: the pack still builds, the author learns what is wrong
# (warnings; errors under --strict).
ADVISORY_CHECKS: tuple[DetectionCheck, ...] = (check_filter_macro, check_tokens_and_objects, check_data_sources,
                                              check_risk_score)


def check_unique(pack: Pack) -> Iterator[Finding]:
    """Ids, names and filter macros must be unique across the pack."""
    groups = (
        ("id", [(d.id, (d, "id")) for d in pack.detections] + [(s.id, (s, "id")) for s in pack.stories]),
        ("name", [(d.name.lower(), (d, "name")) for d in pack.detections]),
        ("name", [(s.name.lower(), (s, "name")) for s in pack.stories]),
        ("name", [(m.stanza, (m, "name")) for m in pack.macros] + [(d.filter_macro, (d, "")) for d in pack.detections]),
    )
    for field, values in groups:
        yield from _duplicates(field, values, _located)


def _located(where: tuple) -> Location:
    """The location of (a detection, story or macro, a field path): looked up only for a duplicate."""
    owner, path = where
    return owner.where(path) if isinstance(owner, Detection) else owner.locations[path]


def _conf_bound(pack: Pack) -> Iterator[tuple[object, str, str, bool]]:
    """(locations, field path, value, names a stanza) of every value of the other object types that a
    conf file carries; detections are checked by check_conf_safe."""
    app = pack.app
    for key, value in (("app.title", app.label), ("app.description", app.description), ("app.author_name", app.author),
                       ("app.author_company", app.author_company), ("app.prefix", app.prefix)):
        if value:
            yield app.locations, key, value, False
    for story in pack.stories:
        yield story.locations, "name", story.name, True
        if story.category:  # analyticstories.conf carries the first (render.story_category)
            yield story.locations, "tags.category[0]", story.category[0], False
        yield from ((story.locations, key, getattr(story, key), False) for key in ("description", "narrative"))
    for task in pack.baselines + pack.investigations:
        yield task.locations, "name", task.name, True
        for key in ("description", "search", "how_to_implement"):
            if getattr(task, key):
                yield task.locations, key, getattr(task, key), False
    for lookup in pack.lookups:
        yield lookup.locations, "name", lookup.name, True
        for key, value in [("filename", lookup.filename), ("collection", lookup.collection), *lookup.settings.items()]:
            if value:
                yield lookup.locations, key, value, False
    for macro in pack.macros:
        yield from ((macro.locations, key, getattr(macro, key), False) for key in ("definition", "description"))
        if macro.arguments:  # written joined, as one value
            yield macro.locations, "arguments", ", ".join(macro.arguments), False
    for deployment in pack.deployments.values():
        if deployment.locations is not None:  # the built-in defaults are known to be safe
            yield from ((deployment.locations, f"scheduling.{k}", v, False) for k, v in deployment.scheduling.items())
            for key in ("rule_title", "rule_description"):
                if deployment.notable:
                    yield deployment.locations, f"alert_action.notable.{key}", deployment.notable[key], False
            if deployment.notable and deployment.notable.get("nes_fields"):  # written joined, as one value
                yield (deployment.locations, "alert_action.notable.nes_fields",
                       ",".join(deployment.notable["nes_fields"]), False)


def check_conf_safe_objects(pack: Pack) -> Iterator[Finding]:
    """What the app settings, stories, baselines, response tasks, lookups, macros and deployments put
    in a conf file must read back unchanged: no '[' or ']' in a stanza name, no final backslash, no
    control characters."""
    for locations, path, value, is_name in _conf_bound(pack):
        try:
            check_value(str(value))
            if is_name:
                check_stanza_name(str(value))
        except ConfValueError as exc:
            where = locations.get(path) or locations.get("") or locations[""]
            yield Finding(where, path, str(exc), "a value Splunk can read back")


def check_stories_exist(pack: Pack, index: PackIndex) -> Iterator[Finding]:
    """A baseline's or response task's stories exist, as contentctl 4.4.1 requires (baseline_tags.py)."""
    for task in pack.baselines + pack.investigations:
        for i, story in enumerate(task.analytic_story):
            if story not in index.story_names:
                path = f"tags.analytic_story[{i}]"
                yield Finding(task.locations.get(path) or task.locations[""], path, f"story {story!r} does not exist",
                              "the name of a story in stories/")


def check_unique_stanzas(pack: Pack) -> Iterator[Finding]:
    """Two objects must not write the same stanza: detections, baselines and response tasks share
    savedsearches.conf; lookups share transforms.conf; baselines and lookups need unique names too;
    so do the Workbench panels of response tasks (es_investigations.conf and their panel files)."""
    app = pack.app
    detections = {search_stanza_name(app, d) for d in pack.detections}  # among themselves: check_unique
    others = ([(baseline_stanza_name(app, b), b.locations["name"]) for b in pack.baselines]
              + [(investigation_stanza_name(app, i), i.locations["name"]) for i in pack.investigations])
    for stanza, location in others:
        if stanza in detections:
            yield Finding(location, "name", f"writes the stanza [{stanza}], which a detection writes too",
                          "unique across the pack")
    yield from _duplicates("name", others)
    yield from _duplicates("name", [(l.name, l.locations["name"]) for l in pack.lookups])
    # Response tasks with inputs are Workbench panels, named after them with case and ' ./-' folded.
    yield from _duplicates("name", [(panel_name(i), i.locations["name"]) for i in pack.investigations if workbench_inputs(i)])


# The package is a USTAR tar (build/package.py), whose header holds a file's own name, without its
# folders, in at most 100 bytes (POSIX.1-2017, pax, "ustar Interchange Format": name[100], prefix[155]).
USTAR_NAME_BYTES = 100


def check_panel_files(pack: Pack) -> Iterator[Finding]:
    """The panel file of a response task with inputs, default/data/ui/panels/<panel name>.xml, fits a package."""
    for task in pack.investigations:
        if workbench_inputs(task):
            file = f"{panel_name(task)}.xml"
            size = len(file.encode("utf-8", "surrogatepass"))  # a lone surrogate counts, not raises
            if size > USTAR_NAME_BYTES:
                yield Finding(task.locations["name"], "name", f"makes the Workbench panel file {file!r} of {size} bytes",
                              f"a shorter name: a package holds file names of at most {USTAR_NAME_BYTES} bytes")


def _duplicates(field: str, values: list, locate: Callable = lambda location: location) -> Iterator[Finding]:
    """A finding at each later place of a value found more than once; ``values`` are (value, place),
    and ``locate(place)`` its location."""
    seen: dict[str, list] = defaultdict(list)
    for value, where in values:
        seen[value].append(where)
    for value, places in seen.items():
        if len(places) > 1:
            first, *later = sorted(locate(where) for where in places)
            for location in later:
                yield Finding(location, field, f"{value!r} is also used at {first}", "unique across the pack")


@record
class CheckedPack:
    pack: Pack
    warnings: list[Finding]


def check_pack(content_dir: Path, strict: bool = False) -> CheckedPack:
    """The pack and its warnings, or InvalidInput with every error (and, when strict, every warning)."""
    return check_loaded(load_pack(Path(content_dir)), strict)


Loaded = tuple[Pack | None, list[Finding], list[Finding]]  # what load_pack returns


def check_loaded(loaded: Loaded, strict: bool = False) -> CheckedPack:
    """``check_pack`` of a pack already loaded (``load_pack``)."""
    pack, findings, warnings = loaded
    if pack is not None:
        errors, advisories = validate_pack(pack)
        findings += errors
        warnings += advisories
    if strict:
        findings, warnings = findings + warnings, []
    if findings:
        raise InvalidInput(findings)
    return CheckedPack(pack, sorted(warnings))


def load_valid_pack(content_dir: Path, strict: bool = False) -> Pack:
    """The pack, or InvalidInput with every finding of the schema and the cross-checks."""
    return check_pack(content_dir, strict).pack


def validate_pack(pack: Pack) -> tuple[list[Finding], list[Finding]]:
    """Errors and warnings of the cross-checks."""
    index = PackIndex.of(pack)
    errors = [f for d in pack.detections for check in DETECTION_CHECKS for f in check(d, index)]
    errors += check_nested_macros(pack, index)
    errors += check_unique(pack)
    errors += check_unique_stanzas(pack)
    errors += check_panel_files(pack)
    errors += check_conf_safe_objects(pack)
    errors += check_stories_exist(pack, index)
    warnings = [f for d in pack.detections for check in ADVISORY_CHECKS for f in check(d, index)]
    return sorted(errors), sorted(warnings)
