"""The typed content model: what a detection pack is, whatever schema it was written in.

Both detection schemas seen in the wild are normalised into these classes by
``detpack.content``; everything after that (validation, rendering, replay) reads
only this model. Every object keeps the ``Location`` it came from so that a
finding can name the file, line and field.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..errors import Fresh, Location, record
from .mappings import ES_TOKENS
from .source import Locations, parent_path

ORIGINAL_SEARCH_PLACEHOLDER = "%original_detection_search%"


TOKEN = re.compile(r"\$([^$\s]+)\$")


def result_tokens(text: str) -> list[str]:
    """The ``$field$`` tokens of a risk message or drilldown; each must name a result field.

    Tokens that Enterprise Security fills itself (``$info_min_time$``...) are left out."""
    return [t for t in TOKEN.findall(text) if t not in ES_TOKENS]


@record
class RiskObject:
    field: str
    type: str  # system | user | other
    score: int
    location: Location
    path: str = ""  # the field path of its name in the YAML, for findings


@record
class ThreatObject:
    field: str
    type: str
    location: Location
    path: str = ""  # the field path of its name in the YAML, for findings


@record
class Drilldown:
    name: str
    search: str
    earliest_offset: str
    latest_offset: str
    location: Location


@record
class AttackData:
    """One dataset of a test: a local path (resolved against the pack) or URL."""

    data: str
    source: str | None
    sourcetype: str | None
    location: Location


@record
class DetectionTest:
    name: str
    attack_data: tuple[AttackData, ...]
    expected_count: int | None  # exact number of result rows, when declared
    location: Location

    @property
    def positive(self) -> bool:
        """A test expects the attack to be found unless it declares zero results."""
        return self.expected_count != 0


@record
class Annotations:
    mitre_attack: tuple[str, ...] = ()
    kill_chain_phases: tuple[str, ...] = ()
    nist: tuple[str, ...] = ()
    cis20: tuple[str, ...] = ()
    analytic_story: tuple[str, ...] = ()
    data_source: tuple[str, ...] = ()
    confidence: int | None = None
    impact: int | None = None
    cve: tuple[str, ...] = ()


@record(unequal=("locations",))
class Detection:
    path: Path
    name: str
    id: str
    version: int
    date: str
    author: str
    status: str
    type: str
    description: str
    search: str
    how_to_implement: str
    known_false_positives: str
    references: tuple[str, ...]
    security_domain: str
    asset_type: str
    required_fields: tuple[str, ...]
    annotations: Annotations
    risk_message: str
    risk_objects: tuple[RiskObject, ...]
    threat_objects: tuple[ThreatObject, ...]
    drilldowns: tuple[Drilldown, ...]
    tests: tuple[DetectionTest, ...]
    locations: Locations
    product: tuple[str, ...] = ()
    atomic_guids: tuple[str, ...] = ()
    enabled_by_default: bool = False

    @property
    def file_stem(self) -> str:
        return self.path.stem

    @property
    def filter_macro(self) -> str:
        return f"{self.file_stem}_filter"

    @property
    def risk_score(self) -> int:
        """The score that sets the notable's severity: impact x confidence / 100 where both are
        given (as contentctl computes it), else the highest risk object's score."""
        a = self.annotations
        if a.confidence is not None and a.impact is not None:
            return round(a.confidence * a.impact / 100)
        return max((r.score for r in self.risk_objects), default=0)

    def drilldown_search(self, search: str) -> str:
        """A drilldown's search as it ships: ES runs it as written (after $field$ tokens), so the
        detection's own search replaces ORIGINAL_SEARCH_PLACEHOLDER, as contentctl does
        (objects/drilldown.py, perform_search_substitutions; ../shared/docs/splunkd-behaviour.md, fact 22)."""
        return search.replace(ORIGINAL_SEARCH_PLACEHOLDER, self.search)

    def where(self, key: str) -> Location:
        """Location of a field path such as ``rba.message``; falls back to the file."""
        while key:
            if key in self.locations:
                return self.locations[key]
            key = parent_path(key)
        return self.locations.get("", Location(str(self.path)))


@record(unequal=("locations",))
class Story:
    path: Path
    name: str
    id: str
    version: int
    date: str
    author: str
    description: str
    narrative: str
    references: tuple[str, ...]
    category: tuple[str, ...]
    usecase: str
    locations: Locations


@record(unequal=("locations",))
class Baseline:
    """A support search that builds what detections read (a lookup, a model); no alert actions."""

    path: Path
    name: str
    id: str
    date: str
    description: str
    search: str
    how_to_implement: str
    analytic_story: tuple[str, ...]
    datamodel: tuple[str, ...]
    scheduling: dict | None  # its own deployment.scheduling, else the Baseline deployment's
    locations: Locations


@record(unequal=("locations",))
class Investigation:
    """A response task: a search an analyst runs from a story; never scheduled."""

    path: Path
    name: str
    date: str
    description: str
    search: str
    how_to_implement: str
    analytic_story: tuple[str, ...]
    datamodel: tuple[str, ...]
    locations: Locations


@record(unequal=("locations",))
class Lookup:
    """A lookups/<name>.yml: a CSV (or model) file shipped in lookups/, or a KV store collection."""

    path: Path
    name: str
    description: str
    filename: str | None
    collection: str | None
    settings: dict[str, str]  # transforms.conf keys given in the YAML (match_type, fields_list...)
    locations: Locations

    @property
    def file(self) -> Path | None:
        return self.path.parent / self.filename if self.filename else None


@record(unequal=("locations",))
class Deployment:
    """Schedule and alert actions of a detection type (deployments/*.yml, or the built-in defaults)."""

    type: str
    scheduling: dict[str, str]
    notable: dict | None  # rule_title, rule_description (with %field% substitutions), nes_fields
    rba: bool
    locations: Locations | None = None  # None for the built-in defaults


@record(unequal=("locations",))
class Macro:
    path: Path
    name: str
    definition: str
    description: str
    arguments: tuple[str, ...]
    locations: Locations

    @property
    def stanza(self) -> str:
        """The macros.conf stanza name: ``name(N)`` when it takes arguments."""
        return f"{self.name}({len(self.arguments)})" if self.arguments else self.name


@record(unequal=("locations",))
class AppSettings:
    path: Path
    app_id: str
    label: str
    version: str
    author: str
    author_email: str
    author_company: str
    description: str
    prefix: str
    locations: Locations
    addons: tuple[Path, ...] = ()  # add-ons whose knowledge replays use (``addons:``, relative to the content)


@record
class Pack:
    root: Path
    app: AppSettings
    detections: tuple[Detection, ...]
    stories: tuple[Story, ...]
    macros: tuple[Macro, ...]
    data_sources: tuple[str, ...] = ()
    baselines: tuple[Baseline, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    deployments: dict[str, Deployment] = Fresh(dict)
    investigations: tuple[Investigation, ...] = ()

    def detection(self, name_or_id: str) -> Detection | None:
        wanted = name_or_id.lower()
        for d in self.detections:
            if wanted in (d.name.lower(), d.id.lower(), d.file_stem.lower()):
                return d
        return None


# Stanza names in savedsearches.conf, as contentctl 4.4.1 forms them (objects/detection_abstract.py,
# baseline.py and investigation.py, get_conf_stanza_name) with the pack's prefix.
def search_stanza_name(app: AppSettings, detection: Detection) -> str:
    return f"{app.prefix} - {detection.name} - Rule"


def baseline_stanza_name(app: AppSettings, baseline: Baseline) -> str:
    return f"{app.prefix} - {baseline.name}"


def investigation_stanza_name(app: AppSettings, investigation: Investigation) -> str:
    return f"{app.prefix} - {investigation.name} - Response Task"


WORKBENCH_INPUT = re.compile(r"\$([^\s.]*)\$")


def workbench_inputs(task: Investigation) -> list[str]:
    """The ``$field$`` inputs of a response task's search, in order (contentctl's Investigation.inputs):
    a task with any is a Workbench panel."""
    return WORKBENCH_INPUT.findall(task.search)


def panel_name(task: Investigation) -> str:
    """``workbench_panel_<name>___response_task``, the name in lower case with ' ', '-', '.', '/' as '_'
    (contentctl's Investigation.lowercase_name): the panel's es_investigations.conf stanza and file."""
    return f"workbench_panel_{re.sub(r'[ ./-]', '_', task.name).lower()}___response_task"
