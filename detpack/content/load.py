"""Read a content directory in the security_content layout into the model.

Layout: ``contentctl.yml`` (the app settings), ``detections/**/*.yml``,
``stories/*.yml``, ``macros/*.yml``, optional ``data_sources/*.yml`` and
``deployments/``. Detections in either public schema are normalised here: the
current one (``rba:``) and the older one (``tags.message``/``tags.observable``/
``tags.risk_score``). Schema findings from every file are collected; a file
with findings is left out of the pack so that cross-checks can still run on
the rest.
"""
from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from . import schema
from ..errors import Finding, InvalidInput, Location, display_path
from .source import Locations, load_yaml
from .mappings import OBSERVABLE_RISK_TYPES, OBSERVABLE_THREAT_TYPES, RISK_ROLES
from .model import (
    Annotations, AppSettings, AttackData, Detection, DetectionTest, Drilldown, Macro, Pack,
    RiskObject, Story, ThreatObject,
)

SETTINGS_FILE = "contentctl.yml"


def load_pack(root: Path) -> tuple[Pack | None, list[Finding]]:
    """The pack and every schema finding; the pack is None when the settings are unusable."""
    # Loading creates many long-lived, acyclic objects that the cyclic collector
    # would only rescan again and again: it pauses meanwhile, and afterwards the
    # loaded objects are moved out of its view (reference counting still frees them).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_pack(Path(root))
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def _load_pack(root: Path) -> tuple[Pack | None, list[Finding]]:
    findings: list[Finding] = []
    if not root.is_dir():
        return None, [Finding(Location(str(root)), "(content)", "is not a directory", "a content directory")]
    app = _load_one(root / SETTINGS_FILE, schema.SETTINGS, _app_settings, findings)
    detections = _load_all(root, "detections/**/*.yml", schema.DETECTION, _detection, findings)
    stories = _load_all(root, "stories/*.yml", schema.STORY, _story, findings)
    macros = _load_all(root, "macros/*.yml", schema.MACRO, _macro, findings)
    data_sources = tuple(sorted(_data_source_names(root, findings)))
    if app is None:
        return None, findings
    return Pack(root, app, tuple(detections), tuple(stories), tuple(macros), data_sources), findings


def _data_source_names(root: Path, findings: list[Finding]) -> set[str]:
    """Names of the optional data source descriptions; only their ``name`` is used."""
    names = set()
    for path in sorted((root / "data_sources").glob("*.yml")):
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


def _load_all(root: Path, pattern: str, spec: schema.Schema, build, findings: list[Finding]) -> list:
    shown = display_path(root)
    items = (_load_one(path, spec, build, findings, f"{shown}/{path.relative_to(root).as_posix()}".removeprefix("./"))
             for path in sorted(root.glob(pattern)))
    return [item for item in items if item is not None]


def _load_one(path: Path, spec: schema.Schema, build, findings: list[Finding], name: str = ""):
    if not path.is_file():
        findings.append(Finding(Location(display_path(path)), "(file)", "is missing", "the pack's app settings"))
        return None
    try:
        data, locations = load_yaml(path, name)
    except InvalidInput as exc:
        findings.extend(exc.findings)
        return None
    problems = schema.check(data, spec, locations)
    problems += _schema_variant_findings(data, locations) if spec is schema.DETECTION else []
    findings.extend(problems)
    return None if problems else build(path, data, locations)


def _schema_variant_findings(data: Any, locations: Locations) -> list[Finding]:
    """A detection must carry its risk settings in exactly one of the two schemas."""
    if not isinstance(data, dict) or not isinstance(data.get("tags"), dict):
        return []
    tags = data["tags"]
    older = [key for key in ("message", "observable", "risk_score") if key in tags]
    ctx = schema.Context(locations)
    if "rba" in data and older:
        ctx.report(f"tags.{older[0]}", "older risk key beside 'rba'", "risk settings only under 'rba'")
    elif "rba" not in data:
        for key in ("message", "observable", "risk_score"):
            if key not in tags:
                ctx.report("tags", f"missing required key '{key}'", "'rba' or the older tags.message/observable/risk_score")
    return ctx.findings


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
    return Detection(
        path=path, name=_text(data["name"]), id=data["id"].lower(), version=int(data["version"]),
        date=str(data["date"]), author=_text(data["author"]), status=data.get("status", "production"),
        type=data["type"], description=_text(data["description"]), search=_text(data["search"]),
        how_to_implement=_text(data["how_to_implement"]),
        known_false_positives=_text(data["known_false_positives"]),
        references=_names(data.get("references")), security_domain=tags["security_domain"],
        asset_type=_text(tags["asset_type"]), required_fields=_names(tags.get("required_fields")),
        annotations=Annotations(
            mitre_attack=_names(tags["mitre_attack_id"]), kill_chain_phases=_names(tags.get("kill_chain_phases")),
            nist=_names(tags.get("nist")), cis20=_names(tags.get("cis20")),
            analytic_story=_names(tags["analytic_story"]), data_source=_names(data.get("data_source")),
            confidence=tags.get("confidence"), impact=tags.get("impact"),
        ),
        risk_message=message, risk_objects=risk, threat_objects=threat,
        drilldowns=tuple(_drilldown(d, f"drilldown_searches[{i}]", locations)
                         for i, d in enumerate(data.get("drilldown_searches") or ())),
        tests=tuple(_test(t, f"tests[{i}]", locations) for i, t in enumerate(data.get("tests") or ())),
        locations=locations,
    )


def _rba(rba: dict, locations: Locations):
    risk = tuple(
        RiskObject(o["field"], o["type"], int(o["score"]), locations[f"rba.risk_objects[{i}]"])
        for i, o in enumerate(rba["risk_objects"])
    )
    threat = tuple(
        ThreatObject(o["field"], o["type"], locations[f"rba.threat_objects[{i}]"])
        for i, o in enumerate(rba.get("threat_objects") or ())
    )
    return _text(rba["message"]), risk, threat


def _observables(tags: dict, locations: Locations):
    """The older schema: observables with a victim role carry risk, the rest are threat objects."""
    risk, threat = [], []
    for i, obs in enumerate(tags["observable"]):
        where = locations[f"tags.observable[{i}]"]
        kind = obs["type"].lower()
        roles = {r.lower() for r in obs.get("role") or ()}
        if roles & RISK_ROLES:
            risk.append(RiskObject(obs["name"], OBSERVABLE_RISK_TYPES.get(kind, "other"), int(tags["risk_score"]), where))
        else:
            threat.append(ThreatObject(obs["name"], OBSERVABLE_THREAT_TYPES.get(kind, kind.replace(" ", "_")), where))
    return _text(tags["message"]), tuple(risk), tuple(threat)


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


def _macro(path: Path, data: dict, locations: Locations) -> Macro:
    return Macro(path=path, name=data["name"], definition=_text(data["definition"]),
                 description=_text(data["description"]), arguments=_names(data.get("arguments")),
                 locations=locations)
