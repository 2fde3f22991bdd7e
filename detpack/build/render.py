"""Render the app's files from the model with the Jinja templates under ``app/templates``.

Conf files are written only through ``ConfWriter`` (exposed to templates as
``conf``), which records every stanza, key and value it was asked to write.
``render_app`` then reads each conf file back with the strict parser and
compares it with that record and with the model; any difference is an error,
so nothing that renders wrongly can be written.
"""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from ..conf import ConfError, ConfWriter, as_dict, compare_conf, parse_conf
from ..content.mappings import CIM_MACROS, DETECTION_TYPE, SCHEDULE, severity
from ..content.model import AppSettings, Detection, Pack, Story

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
HEADER = "# Generated from the pack's YAML. Do not edit: change the YAML and rebuild.\n# Tune searches in local/, which survives upgrades of this app."

# Rendered file (relative to the app folder) -> template.
CONF_FILES = {
    "default/app.conf": "app.conf.j2",
    "default/savedsearches.conf": "savedsearches.conf.j2",
    "default/macros.conf": "macros.conf.j2",
    "default/analyticstories.conf": "analyticstories.conf.j2",
    "default/server.conf": "server.conf.j2",
    "metadata/default.meta": "default.meta.j2",
}
TEXT_FILES = {"app.manifest": "app.manifest.j2", "README.md": "README.md.j2"}


class RenderError(Exception):
    """The rendered files do not say what the model says."""


def search_stanza_name(app: AppSettings, detection: Detection) -> str:
    return f"{app.prefix} - {detection.name} - Rule"


def annotations(d: Detection) -> dict:
    a = d.annotations
    result = {"analytic_story": list(a.analytic_story), "cis20": list(a.cis20),
              "kill_chain_phases": list(a.kill_chain_phases), "mitre_attack": list(a.mitre_attack),
              "nist": list(a.nist), "data_source": list(a.data_source), "type": d.type}
    if a.confidence is not None and a.impact is not None:
        result |= {"confidence": a.confidence, "impact": a.impact}
    return result


def publish_time(d: Detection) -> int:
    day = datetime.date.fromisoformat(d.date)
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp())


def metadata(d: Detection) -> dict:
    return {"detection_id": d.id, "detection_version": str(d.version), "publish_time": publish_time(d),
            "deprecated": "1" if d.status == "deprecated" else "0"}


def risk(d: Detection) -> list[dict]:
    objects = [{"risk_object_field": r.field, "risk_object_type": r.type, "risk_score": r.score} for r in d.risk_objects]
    return objects + [{"threat_object_field": t.field, "threat_object_type": t.type} for t in d.threat_objects]


# ES runs a drilldown's search as written (after $field$ tokens), so the build puts the detection's
# own search in place of this placeholder, as contentctl does (objects/drilldown.py,
# perform_search_substitutions; ../shared/docs/splunkd-behaviour.md, fact 22).
ORIGINAL_SEARCH_PLACEHOLDER = "%original_detection_search%"


def drilldown_search(d: Detection, search: str) -> str:
    return search.replace(ORIGINAL_SEARCH_PLACEHOLDER, d.search)


def drilldowns(d: Detection) -> list[dict]:
    return [{"name": x.name, "search": drilldown_search(d, x.search), "earliest_offset": x.earliest_offset,
             "latest_offset": x.latest_offset} for x in d.drilldowns]


def manifest(pack: Pack) -> dict:
    app = pack.app
    info = {
        "title": app.label,
        "id": {"group": None, "name": app.app_id, "version": app.version},
        "author": [{"name": app.author, "email": app.author_email or None, "company": app.author_company or None}],
        "releaseDate": None,
        "description": app.description or app.label,
        "classification": {"intendedAudience": "Security", "categories": ["Security, Fraud & Compliance"],
                           "developmentStatus": "Production/Stable"},
        "commonInformationModels": None,
        "license": {"name": None, "text": None, "uri": None},
        "privacyPolicy": {"name": None, "text": None, "uri": None},
        "releaseNotes": {"name": None, "text": None, "uri": None},
    }
    return {"schemaVersion": "2.0.0", "info": info, "dependencies": None, "tasks": None, "inputGroups": None,
            "incompatibleApps": None, "platformRequirements": None,
            "supportedDeployments": ["_standalone", "_distributed", "_search_head_clustering"],
            "targetWorkloads": ["_search_heads"]}


def build_number(version: str) -> int:
    major, minor, patch = (int(x) for x in version.split("."))
    return major * 1_000_000 + minor * 1_000 + patch


def _json(value, indent: int | None = None) -> str:
    separators = None if indent else (", ", ": ")
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=False)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False)
    env.filters["json"] = _json
    env.globals.update(search_stanza_name=search_stanza_name, annotations=annotations, metadata=metadata,
                       risk=risk, drilldowns=drilldowns, severity=severity, schedule=SCHEDULE,
                       detection_type=lambda d: DETECTION_TYPE[d.type], cim_macros=CIM_MACROS, header=HEADER)
    return env


def _tidy(text: str) -> str:
    """One blank line between stanzas; a conf value never contains an empty line."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


@dataclass(frozen=True)
class RenderedApp:
    files: dict[str, str]  # path inside the app folder -> text


def render_app(pack: Pack) -> RenderedApp:
    env = _environment()
    context = {"pack": pack, "build_number": build_number(pack.app.version), "manifest": manifest(pack),
               "story_searches": lambda s: _story_searches(pack, s)}
    files, parsed, problems = {}, {}, []
    for path, template in CONF_FILES.items():
        writer = ConfWriter()
        files[path] = _tidy(env.get_template(template).render(context, conf=writer))
        try:
            parsed[path] = as_dict(parse_conf(files[path], path))
        except ConfError as exc:
            raise RenderError(str(exc)) from None
        problems += compare_conf(parsed[path], as_dict(writer.stanzas), path)
    for path, template in TEXT_FILES.items():
        files[path] = _tidy(env.get_template(template).render(context))
    problems += _model_mismatches(pack, parsed)
    if problems:
        raise RenderError("\n".join(problems))
    return RenderedApp(files)


def _story_searches(pack: Pack, story: Story) -> list[str]:
    return [search_stanza_name(pack.app, d) for d in pack.detections if story.name in d.annotations.analytic_story]


def _model_mismatches(pack: Pack, parsed: dict[str, dict[str, dict[str, str]]]) -> list[str]:
    """The keys that carry the model, read back from the text, must equal the model."""
    searches, macros = parsed["default/savedsearches.conf"], parsed["default/macros.conf"]
    problems = []
    for d in pack.detections:
        stanza = searches.get(search_stanza_name(pack.app, d), {})
        expected = {
            "search": d.search, "description": d.description,
            "action.risk.param._risk_message": d.risk_message,
            "action.risk.param._risk": risk(d), "action.notable.param.drilldown_searches": drilldowns(d),
            "action.correlationsearch.annotations": annotations(d), "action.correlationsearch.metadata": metadata(d),
        }
        for key, want in expected.items():
            got = stanza.get(key)
            if not isinstance(want, str) and got is not None:
                got = json.loads(got)
            if got != want:
                problems.append(f"default/savedsearches.conf: [{search_stanza_name(pack.app, d)}] {key} does not match {d.path}")
        if macros.get(d.filter_macro, {}).get("definition") != "search *":
            problems.append(f"default/macros.conf: [{d.filter_macro}] is missing or not `search *`")
    for m in pack.macros:
        if macros.get(m.stanza, {}).get("definition") != m.definition:
            problems.append(f"default/macros.conf: [{m.stanza}] does not match {m.path}")
    return problems
