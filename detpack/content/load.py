"""Read a content directory in the security_content layout into the model.

Layout: ``contentctl.yml`` (the app settings), ``detections/**/*.yml``,
``stories/**/*.yml``, ``macros/*.yml``, and optionally ``baselines/**/*.yml``,
``investigations/**/*.yml`` (response tasks),
``lookups/*.yml`` (each beside its CSV), ``deployments/*.yml`` (schedule and
alert actions per detection type) and ``data_sources/*.yml``. Detections in
either public schema are normalised here: the current one (``rba:``) and the
older one (``tags.message``/``tags.observable``, scored by impact x confidence).
Schema findings from every file are collected; a file with findings is left out
of the pack so that cross-checks can still run on the rest. Unknown keys, which
contentctl ignores, are warnings.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import io
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from . import schema
from ..beside import ChildFailed
from ..errors import Finding, Fresh, InvalidInput, Location, display_path, record
from .source import Locations, file_problem, load_yaml
from .mappings import (
    CIS20_BY_DOMAIN, CIS20_DEFAULT, DEFAULT_DEPLOYMENTS, NIST_BY_TYPE, NIST_DEFAULT, NOTABLE_PLACEHOLDERS, OBSERVABLE_RISK_TYPES,
    OBSERVABLE_THREAT_TYPES,
)
from .model import (
    Annotations, AppSettings, AttackData, Baseline, Deployment, Detection, DetectionTest, Drilldown, Investigation, Lookup,
    Macro, Pack, RiskObject, Story, ThreatObject,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any

SETTINGS_FILE = "contentctl.yml"


def load_pack(root: Path, stream: Callable | None = None) -> tuple[Pack | None, list[Finding], list[Finding]]:
    """The pack, every schema error and every warning; the pack is None when the settings are unusable.

    ``stream(produce, items=N)``: the items of ``produce()`` made by a second process as they come,
    or None (``detpack.beside.stream_beside_if_large``); five content files in nine and the data
    sources are then read there, while this process reads the others."""
    # Loading creates many long-lived, acyclic objects that the cyclic collector
    # would only rescan again and again: it pauses meanwhile, and afterwards the
    # loaded objects are moved out of its view (reference counting still frees them).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_pack(Path(root), stream)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


@record(frozen=False)
class _Found:
    errors: list[Finding] = Fresh(list)
    warnings: list[Finding] = Fresh(list)
    # Folders resolved once per load: resolving every file's whole path again was a good part of loading.
    realpath: Callable[[str], str] = Fresh(lambda: functools.lru_cache(maxsize=None)(os.path.realpath))


def _load_pack(root: Path, stream: Callable | None) -> tuple[Pack | None, list[Finding], list[Finding]]:
    found = _Found()
    if not root.is_dir():
        return None, [Finding(Location(str(root)), "(content)", "is not a directory", "a content directory")], []
    app = _load_one(root, root / SETTINGS_FILE, schema.SETTINGS, _app_settings, found)
    objects, (source_names, source_errors) = _load_files(root, found, stream)
    detections, stories, macros, baselines, investigations, lookups, deployments = objects
    deployments = _by_type(deployments, found)
    found.errors += [_finding(f) for f in source_errors]  # the data sources are reported after the rest
    data_sources = tuple(sorted(source_names))
    if app is None:
        return None, found.errors, found.warnings
    defaults = {kind: Deployment(kind, dict(d["scheduling"]), d["notable"], d["rba"]) for kind, d in DEFAULT_DEPLOYMENTS.items()}
    pack = Pack(root, app, tuple(detections), tuple(stories), tuple(macros), data_sources, tuple(baselines),
                tuple(lookups), defaults | deployments, tuple(investigations))
    return pack, found.errors, found.warnings


def _by_type(deployments: list[Deployment], found: _Found) -> dict[str, Deployment]:
    """One deployment per detection type; a second one for a type is an error, not a silent override."""
    by_type: dict[str, Deployment] = {}
    for d in deployments:
        if d.type in by_type:
            found.errors.append(Finding(d.locations["type"], "type", f"{d.type!r} is also deployed by "
                                        f"{by_type[d.type].locations.name}", "one deployment per detection type"))
        by_type.setdefault(d.type, d)
    return by_type


def _data_source_names(root: Path, found: _Found) -> set[str]:
    """Names of the optional data source descriptions; only their ``name`` is used."""
    names, findings = set(), found.errors
    for path in sorted((root / "data_sources").glob("*.yml")):
        if problem := file_problem(path, root, found.realpath):
            findings.append(Finding(Location(display_path(path)), "(file)", problem, "a YAML file in the content directory"))
            continue
        try:
            data, locations = load_yaml(path)
        except InvalidInput as exc:
            findings.extend(exc.findings)
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            names.add(data["name"].strip())
        else:
            findings.append(Finding(locations[""], "name", "is missing", "the data source's name"))
    return names


def _load_files(root: Path, found: _Found, stream: Callable | None) -> tuple[list[list], tuple]:
    """The objects of each of KINDS and the data sources (``_data_sources``). The files of
    ``_second_share`` and the data sources are read as ``_second_share_reads`` says, while this
    process reads the others; it takes each file's read in turn and makes every object. Each
    file's findings are added in reading order, so one process or two find the same objects and
    the same findings in the same order."""
    shown = display_path(root)
    files = [(kind, path, f"{shown}/{path.relative_to(root).as_posix()}".removeprefix("./"))
             for kind, (pattern, _, _) in enumerate(KINDS) for path in sorted(root.glob(pattern))]
    theirs = _second_share_reads(root, [f for i, f in enumerate(files) if _second_share(i)], stream, len(files))
    objects: list[list] = [[] for _ in KINDS]
    with contextlib.closing(theirs):
        for i, file in enumerate(files):
            read = next(theirs) if _second_share(i) else _read_file(root, *file, found.realpath)
            errors, warnings, made = _made(file, read)
            found.errors += errors
            found.warnings += warnings
            if made is not None:
                objects[file[0]].append(made)
        return objects, next(theirs)


def _second_share(index: int) -> bool:
    """Five files in nine go to the second process, which also reads the data sources: this
    one makes every object, those of the second process's files included."""
    return index % 9 in (1, 3, 5, 7, 8)


def _second_share_reads(root: Path, files: list[tuple[int, Path, str]], stream: Callable | None,
                        items: int) -> Iterator[tuple]:
    """``_second_share_items``: made by the second process that ``stream`` starts, if any, while
    this one takes them; should that process fail, the rest are made here, so every error is
    raised as one process raises it."""
    received = stream(lambda: _second_share_items(root, files), items=items) if stream else None
    taken = 0
    if received is not None:
        with contextlib.closing(received):
            try:
                for read in received:
                    taken += 1
                    yield read
                return
            except ChildFailed:
                pass
    if taken <= len(files):
        yield from _second_share_items(root, files[taken:])


def _second_share_items(root: Path, files: list[tuple[int, Path, str]]) -> Iterator[tuple]:
    """Each of ``files`` read as plain data (``_read_file``), then ``_data_sources``: plain data all."""
    realpath = _Found().realpath
    for file in files:
        yield _read_file(root, *file, realpath)
    yield _data_sources(root, realpath)


def _made(file: tuple[int, Path, str], read: tuple) -> tuple[list[Finding], list[Finding], Any]:
    """A file read as plain data (``_read_file``) made into its findings and its object, or None."""
    (kind, path, name), (errors, warnings, data, marks) = file, read
    made = KINDS[kind][2](path, data, Locations(name, marks)) if data is not None else None
    return [_finding(f) for f in errors], [_finding(f) for f in warnings], made


def _read_file(root: Path, kind: int, path: Path, name: str, realpath: Callable[[str], str]) -> tuple:
    """One file of KINDS[kind] as plain data: (errors, warnings, its values or None, their marks)."""
    found = _Found(realpath=realpath)
    read = _load_one(root, path, KINDS[kind][1], lambda _, data, locations: (data, locations.root), found, name)
    return [_plain_finding(f) for f in found.errors], [_plain_finding(f) for f in found.warnings], *(read or (None, None))


def _data_sources(root: Path, realpath: Callable[[str], str]) -> tuple[set[str], list[tuple]]:
    """The data source names and the plain findings of their files (``_data_source_names``)."""
    found = _Found(realpath=realpath)
    return _data_source_names(root, found), [_plain_finding(f) for f in found.errors]


def _plain_finding(f: Finding) -> tuple:
    return f.location.file, f.location.line, f.location.column, f.field, f.problem, f.expected


def _finding(plain: tuple) -> Finding:
    file, line, column, field, problem, expected = plain
    return Finding(Location(file, line, column), field, problem, expected)


def _load_one(root: Path, path: Path, spec: schema.Schema, build, found: _Found, name: str = ""):
    if problem := file_problem(path, root, found.realpath):
        expected = "the pack's app settings" if spec is schema.SETTINGS else "a YAML file in the content directory"
        found.errors.append(Finding(Location(name or display_path(path)), "(file)", problem, expected))
        return None
    try:
        data, locations = load_yaml(path, name)
    except InvalidInput as exc:
        found.errors.extend(exc.findings)
        return None
    problems, warnings = schema.check(data, spec, locations)
    problems += _schema_variant_findings(data, locations) if spec is schema.DETECTION else []
    warnings += _computed_tag_findings(data, locations) if spec is schema.DETECTION and not problems else []
    problems += _lookup_file_findings(root, path, data, locations, found.realpath) if spec is schema.LOOKUP else []
    problems += _placeholder_findings(data, locations) if spec is schema.DEPLOYMENT else []
    found.errors.extend(problems)
    found.warnings.extend(warnings)
    return None if problems else build(path, data, locations)


def _schema_variant_findings(data: Any, locations: Locations) -> list[Finding]:
    """A detection carries its risk settings in exactly one of the two schemas; the older one
    needs a message and, for its observables, impact and confidence (or a risk_score)."""
    if not isinstance(data, dict) or not isinstance(data.get("tags"), dict):
        return []
    tags = data["tags"]
    older = [key for key in ("message", "observable", "risk_score") if key in tags]
    ctx = schema.Context(locations)
    if "rba" in data and older:
        ctx.report(f"tags.{older[0]}", "older risk key beside 'rba'", "risk settings only under 'rba'")
    elif "rba" not in data:
        if "message" not in tags:
            ctx.report("tags", "missing required key 'message'", "'rba' or the older tags.message/observable")
        if tags.get("observable") and "risk_score" not in tags and not {"confidence", "impact"} <= tags.keys():
            ctx.report("tags", "missing required key 'risk_score'", "a risk_score, or impact and confidence")
    return ctx.findings


def _computed_tags(data: dict) -> dict[str, tuple[str, ...]]:
    """cis20 and nist as contentctl 4.4.1 computes them, whatever the YAML says (detection_tags.py
    ``cis20`` from the security domain; detection_abstract.py ``addTags_nist`` from the type)."""
    return {"cis20": (CIS20_BY_DOMAIN.get(data["tags"]["security_domain"], CIS20_DEFAULT),),
            "nist": (NIST_BY_TYPE.get(data["type"], NIST_DEFAULT),)}


def _computed_tag_findings(data: dict, locations: Locations) -> list[Finding]:
    """A cis20 or nist list in the YAML that differs from the computed one is ignored: say so."""
    ctx = schema.Context(locations)
    for key, computed in _computed_tags(data).items():
        given = data["tags"].get(key)
        if given is not None and tuple(_names(given)) != computed:
            ctx.report(f"tags.{key}", f"{given!r} is ignored: the build computes {list(computed)!r}, as contentctl does",
                       "no value, or the computed one")
    return ctx.findings


def _lookup_file_findings(root: Path, path: Path, data: Any, locations: Locations,
                          realpath: Callable[[str], str]) -> list[Finding]:
    """A lookup names a file that exists beside its YAML, or a KV store collection."""
    if not isinstance(data, dict):
        return []
    ctx = schema.Context(locations)
    filename = data.get("filename")
    if isinstance(filename, str) and (problem := file_problem(path.parent / filename, root, realpath)):
        ctx.report("filename", f"file {filename!r} {problem}", "a regular file beside the lookup's YAML")
    elif filename is None and "collection" not in data:
        ctx.report("", "missing required key 'filename'", "a filename or a KV store collection")
    elif filename is not None and "collection" in data:  # contentctl 4.4.1 refuses both (objects/lookup.py)
        ctx.report("collection", "a lookup with a filename cannot name a collection too", "a filename or a collection")
    elif isinstance(filename, str) and filename.endswith(".csv"):
        return ctx.findings + csv_findings(path.parent / filename)
    return ctx.findings


PLACEHOLDER = re.compile(r"%([^%]*)%")


def _placeholder_findings(data: Any, locations: Locations) -> list[Finding]:
    """A notable title or description uses only the placeholders of mappings.NOTABLE_PLACEHOLDERS."""
    notable = ((data.get("alert_action") or {}).get("notable") or {}) if isinstance(data, dict) else {}
    ctx = schema.Context(locations)
    for key in ("rule_title", "rule_description"):
        for name in PLACEHOLDER.findall(str(notable.get(key) or "")):
            if name not in NOTABLE_PLACEHOLDERS:
                ctx.report(f"alert_action.notable.{key}", f"unknown placeholder %{name}%",
                           "one of " + ", ".join(f"%{p}%" for p in sorted(NOTABLE_PLACEHOLDERS)))
    return ctx.findings


# The largest lookup of Splunk's security_content 4.42 is 2.2 MB; the bound leaves ample room
# while keeping a build's memory bounded (package.py reads each file whole).
MAX_LOOKUP_BYTES = 32 << 20


def csv_findings(path: Path) -> list[Finding]:
    """A lookup CSV must have a header and every row as many columns as the header, as contentctl
    4.4.1 requires (objects/lookup.py, model_post_init); blank lines are skipped, as csv.DictReader does."""
    import csv  # only a pack with lookups needs it

    name = display_path(path)
    if (size := path.stat().st_size) > MAX_LOOKUP_BYTES:
        return [Finding(Location(name), "(file)", f"is {size} bytes", f"a lookup file of at most {MAX_LOOKUP_BYTES} bytes")]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        return [Finding(Location(name), "(csv)", f"not UTF-8 text: {exc.reason}", "UTF-8 CSV text")]
    if "\0" in text:  # Splunk reads a lookup as text; a NUL byte means a binary or corrupt file
        return [Finding(Location(name, text[:text.index("\0")].count("\n") + 1, 1), "(csv)", "contains a NUL byte", "CSV text")]
    try:  # the common case, settled without a Python step per row (a large lookup has 50,000)
        widths = set(map(len, csv.reader(io.StringIO(text, newline=""))))
    except csv.Error:
        widths = None
    if widths and len(widths - {0}) == 1:
        return []
    findings, header = [], None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if not row:
                continue
            if header is None:
                header = row
            elif len(row) != len(header):
                findings.append(Finding(Location(name, reader.line_num, 1), "(csv)", f"row has {len(row)} columns",
                                        f"{len(header)}, as the header has"))
    except csv.Error as exc:
        return findings + [Finding(Location(name, reader.line_num, 1), "(csv)", f"not readable as CSV: {exc}", "CSV text")]
    if header is None:
        findings.append(Finding(Location(name), "(csv)", "is empty", "a header line naming the lookup's fields"))
    return findings


def _text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


def _names(values: Any) -> tuple[str, ...]:
    return tuple(_text(v) for v in values or ())


def _app_settings(path: Path, data: dict, locations: Locations) -> AppSettings:
    app = data["app"]
    return AppSettings(
        path=path, app_id=app["appid"], label=_text(app["title"]),
        version=app["version"], author=_text(app["author_name"]),
        author_email=_text(app.get("author_email")), author_company=_text(app.get("author_company")),
        description=_text(app.get("description")), prefix=_text(app["prefix"]),
        locations=locations, addons=tuple(path.parent / a for a in data.get("addons") or ()),
    )


def _detection(path: Path, data: dict, locations: Locations) -> Detection:
    tags = data["tags"]
    if "rba" in data:
        message, risk, threat = _rba(data["rba"], locations)
    else:
        message, risk, threat = _observables(tags, locations)
    domain = tags["security_domain"]
    return Detection(
        path=path, name=_text(data["name"]), id=data["id"].lower(), version=int(data["version"]),
        date=str(data["date"]), author=_text(data["author"]), status=data.get("status", "production"),
        type=data["type"], description=_text(data["description"]), search=_text(data["search"]),
        how_to_implement=_text(data["how_to_implement"]),
        known_false_positives=_text(data["known_false_positives"]),
        references=_names(data.get("references")), security_domain=domain,
        asset_type=_text(tags["asset_type"]), required_fields=_names(tags.get("required_fields")),
        annotations=Annotations(
            mitre_attack=_names(tags.get("mitre_attack_id")), kill_chain_phases=_names(tags.get("kill_chain_phases")),
            nist=_computed_tags(data)["nist"], cis20=_computed_tags(data)["cis20"],
            analytic_story=_names(tags["analytic_story"]), data_source=_names(data.get("data_source")),
            confidence=_whole(tags.get("confidence")), impact=_whole(tags.get("impact")), cve=_names(tags.get("cve")),
        ),
        risk_message=message, risk_objects=risk, threat_objects=threat,
        drilldowns=tuple(_drilldown(d, f"drilldown_searches[{i}]", locations)
                         for i, d in enumerate(data.get("drilldown_searches") or ())),
        tests=tuple(_test(t, f"tests[{i}]", locations) for i, t in enumerate(data.get("tests") or ())),
        locations=locations, product=_names(tags.get("product")), atomic_guids=_names(tags.get("atomic_guid")),
        enabled_by_default=data.get("enabled_by_default") is True,
    )


def _whole(value: Any) -> int | None:
    return None if value is None else int(value)


def _rba(rba: dict, locations: Locations):
    risk = tuple(
        RiskObject(o["field"], o["type"], int(o["score"]), locations[f"rba.risk_objects[{i}]"], f"rba.risk_objects[{i}].field")
        for i, o in enumerate(rba["risk_objects"])
    )
    threat = tuple(
        ThreatObject(o["field"], o["type"], locations[f"rba.threat_objects[{i}]"], f"rba.threat_objects[{i}].field")
        for i, o in enumerate(rba.get("threat_objects") or ())
    )
    return _text(rba["message"]), risk, threat


def _observables(tags: dict, locations: Locations):
    """The older schema, as contentctl 4.4.1 reads it (mappings.OBSERVABLE_RISK_TYPES): a Victim of a
    user or system type is a risk object, an Attacker a threat object, anything else a risk object of
    type other; every risk object scores impact x confidence / 100 (else the given risk_score)."""
    if "confidence" in tags and "impact" in tags:
        score = round(int(tags["confidence"]) * int(tags["impact"]) / 100)
    else:
        score = int(tags.get("risk_score") or 0)
    risk, threat = [], []
    for i, obs in enumerate(tags.get("observable") or ()):
        where, path = locations[f"tags.observable[{i}]"], f"tags.observable[{i}].name"
        kind, roles = obs["type"].lower(), obs.get("role") or ()
        if "Victim" in roles and kind in OBSERVABLE_RISK_TYPES:
            risk.append(RiskObject(obs["name"], OBSERVABLE_RISK_TYPES[kind], score, where, path))
        elif "Attacker" in roles:
            threat.append(ThreatObject(obs["name"], OBSERVABLE_THREAT_TYPES.get(kind, kind), where, path))
        else:
            risk.append(RiskObject(obs["name"], "other", score, where, path))
    return _text(tags.get("message")), tuple(risk), tuple(threat)


def _drilldown(d: dict, path: str, locations: Locations) -> Drilldown:
    return Drilldown(_text(d["name"]), _text(d["search"]), _text(d["earliest_offset"]),
                     _text(d["latest_offset"]), locations[path])


def _test(t: dict, path: str, locations: Locations) -> DetectionTest:
    data = tuple(
        AttackData(a["data"], a.get("source"), a.get("sourcetype"), locations[f"{path}.attack_data[{i}]"])
        for i, a in enumerate(t["attack_data"])
    )
    return DetectionTest(_text(t["name"]), data, t.get("expected_count"), locations[path])


def _story(path: Path, data: dict, locations: Locations) -> Story:
    tags = data.get("tags") or {}
    return Story(
        path=path, name=_text(data["name"]), id=data["id"].lower(), version=int(data["version"]),
        date=str(data["date"]), author=_text(data["author"]), description=_text(data["description"]),
        narrative=_text(data["narrative"]), references=_names(data.get("references")),
        category=_names(tags.get("category")), usecase=_text(tags.get("usecase")), locations=locations,
    )


def _baseline(path: Path, data: dict, locations: Locations) -> Baseline:
    tags = data.get("tags") or {}
    scheduling = (data.get("deployment") or {}).get("scheduling")
    return Baseline(
        path=path, name=_text(data["name"]), id=data["id"].lower(), date=str(data["date"]),
        description=_text(data["description"]), search=_text(data["search"]),
        how_to_implement=_text(data.get("how_to_implement")), analytic_story=_names(tags.get("analytic_story")),
        datamodel=_names(data.get("datamodel")), scheduling=dict(scheduling) if scheduling else None,
        locations=locations,
    )


def _investigation(path: Path, data: dict, locations: Locations) -> Investigation:
    tags = data.get("tags") or {}
    return Investigation(
        path=path, name=_text(data["name"]), date=str(data["date"]), description=_text(data["description"]),
        search=_text(data["search"]), how_to_implement=_text(data.get("how_to_implement")),
        analytic_story=_names(tags.get("analytic_story")), datamodel=_names(data.get("datamodel")),
        locations=locations,
    )


# transforms.conf keys a lookup YAML may set, written as given (booleans in lower case).
LOOKUP_SETTINGS = ("default_match", "case_sensitive_match", "match_type", "max_matches", "min_matches",
                   "fields_list", "filter")


def _lookup(path: Path, data: dict, locations: Locations) -> Lookup:
    settings = {key: str(data[key]).lower() if isinstance(data[key], bool) else str(data[key])
                for key in LOOKUP_SETTINGS if data.get(key) is not None}
    return Lookup(path=path, name=data["name"], description=_text(data["description"]),
                  filename=data.get("filename"), collection=data.get("collection"), settings=settings,
                  locations=locations)


def _deployment(path: Path, data: dict, locations: Locations) -> Deployment:
    actions = data.get("alert_action") or {}
    notable = actions.get("notable")
    if notable:
        notable = {"rule_title": notable["rule_title"], "rule_description": notable["rule_description"],
                   "nes_fields": _names(notable.get("nes_fields"))}
    rba = (actions.get("rba") or {}).get("enabled") is True
    return Deployment(data["type"], dict(data["scheduling"]), notable or None, rba, locations)


def _macro(path: Path, data: dict, locations: Locations) -> Macro:
    return Macro(path=path, name=data["name"], definition=_text(data["definition"]),
                 description=_text(data["description"]), arguments=_names(data.get("arguments")),
                 locations=locations)


# The files read by schema, in reading order: (pattern, schema, builder of the model).
KINDS = (
    ("detections/**/*.yml", schema.DETECTION, _detection),
    ("stories/**/*.yml", schema.STORY, _story),
    ("macros/*.yml", schema.MACRO, _macro),
    ("baselines/**/*.yml", schema.BASELINE, _baseline),
    ("investigations/**/*.yml", schema.INVESTIGATION, _investigation),
    ("lookups/*.yml", schema.LOOKUP, _lookup),
    ("deployments/*.yml", schema.DEPLOYMENT, _deployment),
)
