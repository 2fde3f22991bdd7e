"""Render the app's files from the model with the Jinja templates under ``app/templates``.

Conf files are written only through ``ConfWriter`` (exposed to templates as
``conf``), which records every stanza, key and value it was asked to write and
refuses what Splunk could not read back unchanged. ``render_app`` then checks
that each conf file holds the writer's lines alone, in order, with nothing but
blank and comment lines between them: such a file reads back, with the strict
reader, as exactly the writer's record (``tests/test_conf.py`` proves the
writer's lines read back so, whatever the value). It compares the keys that
carry the model with the model too; any difference is an error, so nothing that
renders wrongly can be written.
"""
from __future__ import annotations

import datetime
import functools
import json
import re
import sys
from pathlib import Path
from types import FunctionType, MethodType
from typing import Callable, Iterable

import jinja2
import jinja2.runtime

from ..conf import ConfError, ConfValueError, ConfWriter, as_dict, compare_conf, parse_conf
from ..content.mappings import CIM_MACROS, DATA_MODELS, DETECTION_TYPE, PROVIDING_TECHNOLOGIES, severity
from ..content.model import (
    AppSettings, Deployment, Detection, Investigation, Pack, Story, baseline_stanza_name, investigation_stanza_name,
    panel_name, search_stanza_name, workbench_inputs,
)
from ..errors import BuildFailed, Fresh, record, replace

TEMPLATES = Path(__file__).resolve().parents[2] / "app" / "templates"
HEADER = "# Generated from the pack's YAML. Do not edit: change the YAML and rebuild.\n# Tune searches in local/, which survives upgrades of this app."

# Rendered file (relative to the app folder) -> template.
CONF_FILES = {
    "default/app.conf": "app.conf.j2",
    "default/savedsearches.conf": "savedsearches.conf.j2",
    "default/macros.conf": "macros.conf.j2",
    "default/analyticstories.conf": "analyticstories.conf.j2",
    "default/server.conf": "server.conf.j2",
    "default/transforms.conf": "transforms.conf.j2",
    "default/collections.conf": "collections.conf.j2",
    "default/es_investigations.conf": "es_investigations.conf.j2",
    "default/workflow_actions.conf": "workflow_actions.conf.j2",
    "metadata/default.meta": "default.meta.j2",
}
TEXT_FILES = {"app.manifest": "app.manifest.j2", "README.md": "README.md.j2"}


class RenderError(BuildFailed):
    """The rendered files do not say what the model says."""


def mappings(d: Detection) -> dict:
    """The framework mappings, each only when it has entries (contentctl's `mappings`)."""
    a = d.annotations
    found = {"cis20": a.cis20, "kill_chain_phases": a.kill_chain_phases, "mitre_attack": a.mitre_attack, "nist": a.nist}
    return {key: list(values) for key, values in found.items() if values}


def annotations(d: Detection) -> dict:
    """ES annotations: the mappings plus stories, data sources, type, CVE ids, impact and confidence."""
    a = d.annotations
    result = {"analytic_story": story_names(d.annotations.analytic_story), "data_source": list(a.data_source), "type": d.type,
              "type_list": [d.type]}
    if a.cve:
        result["cve"] = list(a.cve)
    if a.confidence is not None and a.impact is not None:
        result |= {"confidence": a.confidence, "impact": a.impact}
    return dict(sorted((result | mappings(d)).items()))


def story_names(names: tuple[str, ...]) -> list[str]:
    """Story names sorted by code point ("CISA" before "Chaos"), as contentctl lists them."""
    return sorted(names)


def conf_text(text: str) -> str:
    """Multi-line text as contentctl writes it: a space before each line break."""
    return text.replace("\n", " \n")


BARE_HOST = re.compile(r"(https?://[^/?#\s]+)\Z")


def url(text: str) -> str:
    """A URL as contentctl normalises it (pydantic HttpUrl): a bare host gets the root path."""
    return BARE_HOST.sub(r"\1/", text)


# Functions of a search's text that two conf files need: each search is looked through once.
@functools.lru_cache(maxsize=8192)
def data_models(search: str) -> tuple[str, ...]:
    return tuple(name for name in DATA_MODELS if name in search)


@functools.lru_cache(maxsize=8192)
def providing_technologies(search: str) -> tuple[str, ...] | None:
    found = {tech for key, techs in PROVIDING_TECHNOLOGIES.items() if key in search for tech in techs}
    return tuple(sorted(found)) or None


def deployment(pack: Pack, d: Detection) -> Deployment:
    return pack.deployments[d.type]


PLACEHOLDER = re.compile(r"%([^%]*)%")


def fill(text: str, d: Detection) -> str:
    """``%name%``-style placeholders of a deployment's notable settings, from the detection's fields
    (loading admits only mappings.NOTABLE_PLACEHOLDERS)."""
    return PLACEHOLDER.sub(lambda m: str(getattr(d, m.group(1))), text)


# Our own short notice in front of the description of content that is not production-ready.
STATUS_NOTICE = {"experimental": "EXPERIMENTAL: not tested with attack data. ",
                 "deprecated": "DEPRECATED: no longer maintained. "}


def description(d: Detection) -> str:
    return STATUS_NOTICE.get(d.status, "") + d.description


def publish_time(d: Detection) -> int:
    return _midnight_utc(d.date)


@functools.lru_cache(maxsize=4096)  # a pack has a few hundred distinct dates
def _midnight_utc(date: str) -> int:
    day = datetime.date.fromisoformat(date)
    return int(datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc).timestamp())


def metadata(d: Detection) -> dict:
    return {"detection_id": d.id, "detection_version": str(d.version), "publish_time": publish_time(d),
            "deprecated": "1" if d.status == "deprecated" else "0"}


def risk(d: Detection) -> list[dict]:
    """Risk and threat objects in the order the YAML lists them."""
    objects = [(r.location, {"risk_object_field": r.field, "risk_object_type": r.type, "risk_score": r.score})
               for r in d.risk_objects]
    threats = [(t.location, {"threat_object_field": t.field, "threat_object_type": t.type}) for t in d.threat_objects]
    return [entry for _, entry in sorted(objects + threats, key=lambda pair: pair[0])]


def drilldowns(d: Detection) -> list[dict]:
    return [{"name": x.name, "search": d.drilldown_search(x.search), "earliest_offset": x.earliest_offset,
             "latest_offset": x.latest_offset} for x in d.drilldowns]


# Workbench token type of an input field (contentctl 4.4.1 es_investigations_investigations.j2).
WORKBENCH_VALUE_TYPES = {"user": "identity", "dest": "asset"}


def panel_tokens(task: Investigation) -> dict:
    return {field: {"valuePrefix": '"', "valueSuffix": '"', "delimiter": f" OR {field}=", "valueType": "primitive",
                    "value": WORKBENCH_VALUE_TYPES.get(field, "file"), "default": "null"}
            for field in workbench_inputs(task)}


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


def _one_line_json() -> Callable[[object], str]:
    """``json.dumps(value, ensure_ascii=False, separators=(", ", ": "))``, its encoder made once: a
    large pack's conf files encode ~20,000 values, and ``JSONEncoder.encode`` makes its C encoder
    anew for each (json/encoder.py, ``iterencode``). Values are built afresh from the model, never
    circular, so the circular-reference check is left out (the ``check_circular=False`` of json.dumps)."""
    settings = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": "), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    try:  # made as json/encoder.py makes it (Python 3.11); another Python may want other arguments
        encode = make(None, settings.default, json.encoder.encode_basestring, settings.indent, settings.key_separator,
                      settings.item_separator, settings.sort_keys, settings.skipkeys, settings.allow_nan)
    except TypeError:  # that, or a Python without the C accelerations (make is None)
        return settings.encode
    return lambda value: "".join(encode(value, 0))


_ONE_LINE_JSON = _one_line_json()


def _json(value, indent: int | None = None) -> str:
    if not indent:
        return _ONE_LINE_JSON(value)
    return json.dumps(value, indent=indent, ensure_ascii=False)


XML_ESCAPES = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}


def xml_text(text: str) -> str:
    """``&``, ``<`` and ``>`` escaped: all that XML character data needs (XML 1.0, section 2.4;
    quotes matter only inside attribute values, which the templates do not fill)."""
    return text.translate(XML_ESCAPES)


class _DirectCalls(jinja2.runtime.Context):
    """Calls plain functions and methods straight away. Jinja's own ``call`` first looks each
    callable over for its context-passing markers, on every one of the ~100,000 calls a large
    pack's conf files make; a plain function (no ``jinja_pass_arg``) needs none of that."""

    def call(__self, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        function = __obj.__func__ if type(__obj) is MethodType else __obj
        plain = __self.environment.plain_calls.get(function)
        if plain is None:
            plain = __self.environment.plain_calls[function] = (
                type(function) is FunctionType and not hasattr(function, "jinja_pass_arg"))
        if not plain:
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        return __obj(*args, **kwargs)


def template_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs: compiling them is most of a small pack's render.
    Jinja's own per-user folder (``<tmp>/_jinja2-cache-<uid>``, made 0700 and refused when its
    owner or mode is not that), and Jinja recompiles a template whose source changed. Off when
    Python is told not to write bytecode, or when that folder is unsafe or cannot be made."""
    if sys.dont_write_bytecode:
        return None
    try:
        return jinja2.FileSystemBytecodeCache()
    except (OSError, RuntimeError):
        return None


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True, autoescape=False,
                             bytecode_cache=template_cache())
    env.context_class = _DirectCalls
    env.plain_calls = {}  # function -> whether _DirectCalls may call it straight away
    env.filters["json"] = _json
    env.filters["text"] = conf_text
    env.filters["url"] = url
    env.filters["xml"] = xml_text
    env.globals.update(search_stanza_name=search_stanza_name, baseline_stanza_name=baseline_stanza_name,
                       investigation_stanza_name=investigation_stanza_name, annotations=annotations, metadata=metadata,
                       risk=risk, drilldowns=drilldowns, severity=severity, mappings=mappings,
                       data_models=data_models, providing_technologies=providing_technologies, fill=fill,
                       description=description, story_names=story_names, url=url, story_category=story_category, maintainers=maintainers,
                       detection_type=lambda d: DETECTION_TYPE[d.type], cim_macros=CIM_MACROS, header=HEADER,
                       panel_name=panel_name, panel_tokens=panel_tokens, workbench_inputs=workbench_inputs)
    return env


def _tidy(text: str) -> str:
    """One blank line between stanzas; a conf value never contains an empty line."""
    while "\n\n\n" in text:  # str.replace: many times faster than a regex on a large pack's text
        text = text.replace("\n\n\n", "\n\n")
    # text.strip("\n") + "\n", with one copy at most (a large pack's savedsearches.conf is 9 MB)
    start, end = 0, len(text)
    while start < end and text[start] == "\n":
        start += 1
    while end > start and text[end - 1] == "\n":
        end -= 1
    if start == end:
        return "\n"
    if end == len(text):
        return text[start:] + "\n"
    return text if (start, end + 1) == (0, len(text)) else text[start:end + 1]


@record
class RenderedApp:
    files: dict[str, bytes]  # path inside the app folder -> its bytes (UTF-8 text)
    copies: dict[str, Path] = Fresh(dict)  # path inside the app folder -> file shipped as is


# One conf file rendered, as plain data (so that another process may render it): its bytes; why
# it does not read back as the writer's record; and where the keys that carry the model differ
# from it, per detection and then for the rest (``MODEL_CHECKS``). Bytes rather than text: the
# file ships as bytes, and a large pack's savedsearches.conf stanzas, rendered by another process,
# come back in a fifth of the time (text with a character beyond Latin-1 takes two bytes a
# character in memory, and unpickling it decodes it).
RenderedConf = tuple[bytes, list[str], list[list[str]], list[str]]


def _context(pack: Pack) -> dict:
    return {"pack": pack, "build_number": build_number(pack.app.version), "manifest": manifest(pack),
            "story_searches": _story_searches(pack), "deployment": lambda d: deployment(pack, d),
            "workbench_tasks": [i for i in pack.investigations if workbench_inputs(i)]}


def render_conf(pack: Pack, path: str, env: jinja2.Environment | None = None, context: dict | None = None) -> RenderedConf:
    """The conf file ``path`` (a key of CONF_FILES) rendered from ``pack``."""
    env, context = env or _environment(), context or _context(pack)
    writer = _LineWriter()
    try:
        text = _tidy(env.get_template(CONF_FILES[path]).render(context, conf=writer))
    except ConfValueError as error:  # a value the writer refuses (naming stanza and key): the build's error
        raise RenderError(f"{path}: {error}") from None
    problems = []
    if not _only_skipped_lines_besides(text, "\n".join([*writer.lines, ""])):  # each line and its line break
        problems = _read_back_problems(text, writer, path)
    check = MODEL_CHECKS.get(path)
    return text.encode("utf-8"), problems, *(check(pack, as_dict(writer.stanzas)) if check else ([], []))


def detection_chunks(pack: Pack, size: int) -> list[Pack]:
    """The pack's detections in runs of ``size``, each alone in a pack (no baselines or
    investigations): the parts of a conf file of detections that ``join_parts`` joins."""
    return [replace(pack, detections=pack.detections[i:i + size], baselines=(), investigations=())
            for i in range(0, len(pack.detections), size)]


# A chunk of a conf file of detections (``detection_chunks``), rendered on its own: its bytes as
# they lie in the whole file (None when they cannot: see ``render_part``), then its findings as
# in ``RenderedConf``.
RenderedPart = tuple[bytes | None, list[str], list[list[str]], list[str]]


class Renderer:
    """``render_conf`` and ``render_part`` with one Jinja environment for all the files and parts a
    process renders, made when first needed."""

    def __init__(self) -> None:
        self._env: jinja2.Environment | None = None

    def conf(self, pack: Pack, path: str) -> RenderedConf:
        return render_conf(pack, path, self._environment())

    def part(self, chunk: Pack, path: str, first: bool) -> RenderedPart:
        return render_part(chunk, path, first, self._environment())

    def _environment(self) -> jinja2.Environment:
        if self._env is None:
            self._env = _environment()
        return self._env


def render_part(chunk: Pack, path: str, first: bool, env: jinja2.Environment | None = None) -> RenderedPart:
    """``render_conf`` of a chunk, as it lies in the whole file. A conf file of detections
    (savedsearches.conf) is its header, then one stanza per detection in order, then the other
    objects' stanzas, with a blank line between stanzas: the first chunk lies there whole, the
    others without the header, after a blank line. A chunk that is not the header followed by
    stanzas, or that does not read back as written (``_read_back_alone``), cannot be placed."""
    rendered = _read_back_alone(chunk, path, env)
    if rendered is None:
        return None, [], [], []
    text, *findings = rendered
    stanzas = _stanzas(text)
    if not stanzas:  # not the header followed by stanzas, or no stanza at all
        return None, *findings
    return (text if first else b"\n" + stanzas), *findings


_HEADER_LINES = f"{HEADER}\n".encode("utf-8")


def _stanzas(text: bytes) -> bytes | None:
    """What follows the header of a rendered conf file of detections: its stanzas (b"" for none), or
    None when the file is not the header followed by stanzas alone."""
    stanzas = text.removeprefix(_HEADER_LINES)
    return stanzas if text.startswith(_HEADER_LINES) and stanzas[:1] in (b"", b"[") else None


def _read_back_alone(pack: Pack, path: str, env: jinja2.Environment | None = None) -> RenderedConf | None:
    """``render_conf`` of a part of a file, or None when the part does not read back as its writer
    wrote it: what the reader says then (the line it stops at, its problems in their sorted order)
    is about the whole file, which one rendering reads at once, so the file is rendered whole."""
    try:
        rendered = render_conf(pack, path, env)
    except RenderError:  # a line of the part the reader stops at, or a value the writer refuses there
        return None
    return None if rendered[1] else rendered


def join_parts(pack: Pack, path: str, parts: Iterable[RenderedPart]) -> RenderedConf:
    """``render_conf(pack, path)`` from ``parts``: its ``detection_chunks`` rendered by ``render_part``
    in order (by another process, say), then the other objects' stanzas, rendered here. Their
    findings in order are the whole file's; an error is the one rendering the whole file meets
    first, as the parts are taken in order. Should a part not be placed (or the other objects'
    stanzas not read back as written), the whole file is rendered here instead."""
    texts, problems, per_detection, rest = [], [], [], []
    for part in parts:
        if part[0] is None:
            return render_conf(pack, path)
        texts.append(part[0])
        problems += part[1]
        per_detection += part[2]
        rest += part[3]
    others = _read_back_alone(replace(pack, detections=()), path)
    if others is None:
        return render_conf(pack, path)
    text, more_problems, more_per_detection, more_rest = others
    stanzas = _stanzas(text)
    if not texts or stanzas is None:
        return render_conf(pack, path)
    texts.append(b"\n" + stanzas if stanzas else b"")
    return b"".join(texts), problems + more_problems, per_detection + more_per_detection, rest + more_rest


def render_app(pack: Pack, rendered: dict[str, Callable[[], RenderedConf]] | None = None) -> RenderedApp:
    """``rendered``: conf files rendered elsewhere (path -> a function returning ``render_conf``'s value)."""
    env = _environment()
    context = _context(pack)
    workbench_tasks = context["workbench_tasks"]
    texts = {}

    def render_texts() -> None:
        for path, template in TEXT_FILES.items():
            texts[path] = _tidy(env.get_template(template).render(context)).encode("utf-8")
        for task in workbench_tasks:  # the panel each Workbench entry shows (contentctl: output/conf_output.py)
            panel = env.get_template("workbench_panel.xml.j2").render(task=task)
            texts[f"default/data/ui/panels/{panel_name(task)}.xml"] = panel.encode("utf-8")

    files, problems, by_detection, rest = {}, [], [[] for _ in pack.detections], []
    for path, (files[path], found, per_detection, after) in _conf_files(pack, env, context, rendered or {},
                                                                        render_texts).items():
        problems += found
        for mine, more in zip(by_detection, per_detection):
            mine += more
        rest += after
    files |= texts
    problems += [problem for found in by_detection for problem in found] + rest
    if problems:
        raise RenderError("\n".join(problems))
    if not pack.lookups:  # Splunk needs no empty transforms.conf or collections.conf
        del files["default/transforms.conf"]
    if not any(l.collection for l in pack.lookups):
        del files["default/collections.conf"]
    if not workbench_tasks:
        del files["default/es_investigations.conf"]
    if not any(len(workbench_inputs(i)) == 1 for i in workbench_tasks):
        del files["default/workflow_actions.conf"]
    return RenderedApp(files, {f"lookups/{l.filename}": l.file for l in pack.lookups if l.file})


def _conf_files(pack: Pack, env: jinja2.Environment, context: dict,
                rendered: dict[str, Callable[[], RenderedConf]], then: Callable[[], None]) -> dict[str, RenderedConf]:
    """Every conf file, in CONF_FILES order. Those rendered elsewhere are collected last, so that
    this process renders the others meanwhile, and then calls ``then`` (the files rendered after
    the conf files); an error is still the one rendering the conf files in order, then ``then``,
    meets first (a file rendered elsewhere that failed raises its error when collected)."""
    done, failure, failure_then = {}, None, None
    for path in CONF_FILES:
        if path not in rendered:
            try:
                done[path] = render_conf(pack, path, env, context)
            except Exception as error:  # noqa: BLE001 - raised below, unless an earlier file fails
                failure = path, error
                break
    if failure is None:
        try:
            then()
        except Exception as error:  # noqa: BLE001 - raised once the conf files are known to render
            failure_then = error
    for path in CONF_FILES:
        if failure and path == failure[0]:
            raise failure[1]
        if path in rendered:
            done[path] = rendered[path]()
    if failure_then is not None:
        raise failure_then
    return {path: done[path] for path in CONF_FILES}


class _LineWriter(ConfWriter):
    """The conf writer, keeping the lines it wrote in order."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def stanza(self, name: str) -> str:
        line = super().stanza(name)
        self.lines.append(line)
        return line

    def entry(self, key: str, value: object) -> str:
        line = super().entry(key, value)
        self.lines.append(line)
        return line

    def entries(self, pairs: list[tuple[str, object]]) -> str:
        """One ``entry`` line per (key, value) pair, in order: a stanza's run of keys is one call
        from a template rather than one call (and one output line of Jinja's) per key."""
        lines = self.entry_lines(pairs)
        self.lines += lines
        return "\n".join(lines)


# A blank or comment line, unless the line before it ends in a backslash (then it continues a
# value). The writer's lines never end in one, so between them this finds exactly the lines the
# strict reader skips (a comment ending in a backslash is the one case it overreaches: the
# render then fails rather than passing wrongly).
# Each such line is matched as the line break before it plus its text, up to (not including) its
# own line break: a pattern that starts with a literal character is searched for that character
# alone, where a line-start test (``^``) is tried at every position of a large pack's text.
SKIPPED_LINE = re.compile(r"\n(?<!\\\n)[ \t]*(?:#[^\n]*)?(?=\n)")


# The first line of a text, when the strict reader skips it (it has no line break before it).
SKIPPED_FIRST_LINE = re.compile(r"[ \t]*(?:#[^\n]*)?(?=\n)")


def _only_skipped_lines_besides(text: str, kept: str) -> bool:
    """Whether ``text`` (ending in a line break) is ``kept`` once the lines the strict reader skips
    are taken out: ``SKIPPED_LINE.sub("", "\\n" + text)[1:] == kept``, compared one stretch between
    skipped lines at a time rather than by copying the text three times (a large pack's
    savedsearches.conf is 9 MB, and each copy is fresh memory the system must hand out)."""
    first = SKIPPED_FIRST_LINE.match(text)
    start = first.end() if first else 0
    # [1:] drops the line break put before the text; when a skipped first line takes that out,
    # it drops the first character kept instead.
    drop, done = first is not None, 0
    for skipped in (*SKIPPED_LINE.finditer(text, start), None):
        end = skipped.start() if skipped else len(text)
        if drop and end > start:
            start, drop = start + 1, False
        if text[start:end] != kept[done:done + end - start]:
            return False
        done += end - start
        if skipped:
            start = skipped.end()
    return done == len(kept)


def _read_back_problems(text: str, writer: ConfWriter, path: str) -> list[str]:
    """Why a conf file is not its writer's lines alone: what the strict reader makes of it."""
    try:
        problems = compare_conf(as_dict(parse_conf(text, path)), as_dict(writer.stanzas), path)
    except ConfError as exc:
        raise RenderError(str(exc)) from None
    return problems or [f"{path}: holds lines the conf writer did not write"]


def _story_searches(pack: Pack):
    """Story -> its detections, then its response tasks, each in file path order (as contentctl reads them)."""
    searches: dict[str, list[str]] = {s.name: [] for s in pack.stories}
    tasks: dict[str, list[str]] = {s.name: [] for s in pack.stories}
    for d in pack.detections:
        for name in dict.fromkeys(d.annotations.analytic_story):
            searches.get(name, []).append(search_stanza_name(pack.app, d))
    for i in pack.investigations:
        for name in dict.fromkeys(i.analytic_story):
            tasks.get(name, []).append(investigation_stanza_name(pack.app, i))
    return lambda story: searches[story.name] + tasks[story.name]


def story_category(story: Story) -> str:
    """ES shows one category per story: the first one listed."""
    return story.category[0] if story.category else ""


AUTHOR_NAME = re.compile(r"[^,]+")
AUTHOR_COMPANY = re.compile(r",\s?(.*)\Z")


def maintainers(app: AppSettings, story: Story) -> list[dict]:
    """``Name, Company`` as contentctl 4.4.1 splits a story's author (objects/story.py, author_name and
    author_company: the text before the first comma and the text after it, else "no"; author_email is
    always "-"). Where the story's author is the pack's own author, contentctl.yml says more: its
    company (when the story names none) and e-mail are used instead."""
    name, company = AUTHOR_NAME.match(story.author), AUTHOR_COMPANY.search(story.author)
    entry = {"company": company.group(1) if company else "no", "email": "-", "name": name.group(0) if name else "no"}
    if entry["name"].strip() == app.author:
        entry["email"] = app.author_email or "-"
        entry["company"] = entry["company"] if company else app.author_company or "no"
    return [entry]


def _search_mismatches(pack: Pack, searches: dict[str, dict[str, str]]) -> tuple[list[list[str]], list[str]]:
    """The keys of savedsearches.conf that carry the model, read back from the text, must equal the model."""
    per_detection = []
    for d in pack.detections:
        stanza, problems = searches.get(search_stanza_name(pack.app, d), {}), []
        expected = {
            "search": conf_text(d.search), "description": conf_text(description(d)),
            "action.notable.param.drilldown_searches": drilldowns(d),
            "action.correlationsearch.annotations": annotations(d), "action.correlationsearch.metadata": metadata(d),
        }
        if deployment(pack, d).rba:
            expected |= {"action.risk.param._risk_message": d.risk_message, "action.risk.param._risk": risk(d)}
        for key, want in expected.items():
            got = stanza.get(key)
            if not isinstance(want, str) and got is not None:
                got = json.loads(got)
            if got != want:
                problems.append(f"default/savedsearches.conf: [{search_stanza_name(pack.app, d)}] {key} does not match {d.path}")
        per_detection.append(problems)
    return per_detection, []


def _macro_mismatches(pack: Pack, macros: dict[str, dict[str, str]]) -> tuple[list[list[str]], list[str]]:
    """Each detection's filter macro, and the pack's macros, as macros.conf reads back."""
    per_detection = [[f"default/macros.conf: [{d.filter_macro}] is missing or not `search *`"]
                     if macros.get(d.filter_macro, {}).get("definition") != "search *" else []
                     for d in pack.detections]
    rest = [f"default/macros.conf: [{m.stanza}] does not match {m.path}" for m in pack.macros
            if macros.get(m.stanza, {}).get("definition") != conf_text(m.definition)]
    return per_detection, rest


# Conf file -> its check against the model, given its stanzas as the writer recorded them.
MODEL_CHECKS = {"default/savedsearches.conf": _search_mismatches, "default/macros.conf": _macro_mismatches}
