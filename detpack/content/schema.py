"""Declarative schemas for the YAML content, and the checker that applies them.

Each schema node checks one value and appends findings; ``Obj`` reports
missing required keys and unknown keys. The schemas for detections, stories,
macros and the app settings are data at the bottom of this module.
"""
from __future__ import annotations

import datetime
import re

from ..conf import control_characters
from ..errors import Finding
from .scalars import type_name
from .source import Locations, key_path, parent_path

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any

# Patterns as text: ``re`` compiles each when a value is first checked against it (and keeps it), so a
# pack without CVEs or lookups never compiles theirs.
CVE_PATTERN = r"CVE-\d{4}-\d{4,}\Z"
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z"
ATTACK_ID_PATTERN = r"T\d{4}(\.\d{3})?\Z"
SEMVER_PATTERN = r"\d+\.\d+\.\d+\Z"
APP_ID_PATTERN = r"[A-Za-z][A-Za-z0-9_.\-]*\Z"
OBJECT_NAME_PATTERN = r"[A-Za-z0-9_]+\Z"
# The lookup files a package may ship (build/package.py ALLOWED: lookups/*.csv and Machine Learning
# Toolkit models named __mlspl_*.mlmodel), hidden files excepted; contentctl 4.4.1 accepts only
# .csv and .mlmodel (objects/lookup.py, model_post_init).
LOOKUP_FILENAME = r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\.csv\Z|__mlspl_[A-Za-z0-9_.\-]+\.mlmodel\Z"


class Context:
    """One document being checked: its locations, and the findings and warnings made so far."""

    def __init__(self, locations: Locations):
        self.locations = locations
        self.findings: list[Finding] = []
        self.warnings: list[Finding] = []

    def report(self, path: str, problem: str, expected: str = "", at_key: bool = False, warning: bool = False) -> None:
        where = key_path(path) if at_key else path
        while where not in self.locations:
            where = parent_path(where)
        found = Finding(self.locations[where], path or "(document)", problem, expected)
        (self.warnings if warning else self.findings).append(found)


class Schema:
    expected = "a value"
    # True where any text on one line with something in it passes (``Str`` without pattern or length
    # bounds): List and Obj settle that common case themselves, without a call or a path per value.
    bare = False

    def check(self, value: Any, path: str, ctx: Context) -> None:
        raise NotImplementedError


class Str(Schema):
    expected = "text"

    def __init__(self, pattern: str | None = None, expected: str = "", min_len: int = 1,
                 max_len: int = 0, multiline: bool = True, allow_empty: bool = False):
        self.pattern, self.min_len, self.max_len, self.multiline = pattern, min_len, max_len, multiline
        self.allow_empty = allow_empty
        self.expected = expected or "non-empty text"
        self.bare = pattern is None and min_len <= 1 and not max_len

    def check(self, value, path, ctx):
        if self.allow_empty and value in ("", None):
            return
        if not isinstance(value, str) or not value.strip():
            ctx.report(path, "is empty" if isinstance(value, str) else f"is {type_name(value)}", self.expected)
            return
        if not value.isprintable() and (bad := control_characters(value, allowed="\n\t" if self.multiline else "")):
            ctx.report(path, f"contains control characters {', '.join(bad)}", "printable text")
        elif self.pattern and not re.match(self.pattern, value):
            ctx.report(path, f"{value!r} is not valid", self.expected)
        elif len(value) < self.min_len or (self.max_len and len(value) > self.max_len):
            ctx.report(path, f"is {len(value)} characters long", self.expected)


class Int(Schema):
    def __init__(self, low: int, high: int | None = None):
        self.low, self.high = low, high
        self.expected = f"a whole number from {low} to {high}" if high is not None else f"a whole number >= {low}"

    def check(self, value, path, ctx):
        # is_integer(), not int(): YAML's .inf and .nan are floats that int() raises on
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not whole:
            ctx.report(path, f"is {type_name(value)}", self.expected)
        elif value < self.low or (self.high is not None and value > self.high):
            ctx.report(path, f"{value} is out of range", self.expected)


class Enum(Schema):
    def __init__(self, *choices: str):
        self.choices = choices
        self.expected = "one of " + ", ".join(choices)

    def check(self, value, path, ctx):
        if value in self.choices:
            return
        if isinstance(value, datetime.date):  # unquoted, read as a date: named as such, not by Python's repr
            ctx.report(path, f"is {type_name(value)}", self.expected)
        else:
            ctx.report(path, f"{value!r} is not allowed", self.expected)


class Date(Schema):
    expected = "a date YYYY-MM-DD"

    def check(self, value, path, ctx):
        if type(value) is datetime.datetime:  # unquoted, read as a date and time: named as such, not by Python's repr
            ctx.report(path, f"is {type_name(value)}", self.expected)
            return
        try:
            datetime.date.fromisoformat(str(value))
        except ValueError:
            ctx.report(path, f"{value!r} is not a date", self.expected)


class Bool(Schema):
    expected = "true or false"

    def check(self, value, path, ctx):
        if not isinstance(value, bool):
            ctx.report(path, f"is {type_name(value)}", self.expected)


class Anything(Schema):
    def check(self, value, path, ctx):
        pass


class List(Schema):
    def __init__(self, item: Schema, min_items: int = 0):
        self.item, self.min_items = item, min_items
        self.expected = f"a list of {item.expected}"

    def check(self, value, path, ctx):
        if not isinstance(value, list):
            ctx.report(path, f"is {type_name(value)}", self.expected)
            return
        if len(value) < self.min_items:
            ctx.report(path, f"has {len(value)} items", f"at least {self.min_items}")
        schema = self.item
        for i, item in enumerate(value):
            if not (schema.bare and _plain_line(item)):  # else it passes ``Str.check``, settled here
                schema.check(item, f"{path}[{i}]", ctx)


def _plain_line(value: Any) -> bool:
    """Text on one line with something in it, which a ``bare`` Str passes."""
    return value.__class__ is str and bool(value) and value.isprintable() and not value.isspace()


class Obj(Schema):
    expected = "a mapping"

    def __init__(self, required: dict[str, Schema], optional: dict[str, Schema] | None = None, closed: bool = False):
        """``closed``: unknown keys are errors, where contentctl forbids them, rather than warnings."""
        self.required, self.optional, self.closed = required, optional or {}, closed
        self.known = self.required | self.optional  # merged once, not for each mapping checked

    def check(self, value, path, ctx):
        if not isinstance(value, dict):
            ctx.report(path, f"is {type_name(value)}", self.expected)
            return
        prefix = f"{path}." if path else ""
        if not value.keys() >= self.required.keys():
            for key in self.required:
                if key not in value:
                    ctx.report(path, f"missing required key '{key}'", self.required[key].expected)
        known = self.known
        for key, item in value.items():
            schema = known.get(key)
            if schema is None:  # contentctl mostly ignores unknown keys: a warning, so that typos still show
                ctx.report(prefix + key, "unknown key", "one of " + ", ".join(sorted(known)), at_key=True,
                           warning=not self.closed)
            elif not (schema.bare and _plain_line(item)):
                schema.check(item, prefix + key, ctx)  # else it passes ``Str.check``, settled here


TEXT = Str()
LINE = Str(multiline=False, expected="text on one line")
# contentctl 4.4.1 limits every object's name to 99 characters (security_content_object_abstract.py).
NAME = Str(multiline=False, max_len=99, expected="a name on one line of at most 99 characters")
UUID = Str(UUID_PATTERN, "a UUID like 01234567-89ab-cdef-0123-456789abcdef", multiline=False)
SCORE = Int(0, 100)
NAMES = List(LINE)

RISK_OBJECT = Obj({"field": LINE, "type": Enum("system", "user", "other"), "score": SCORE})
THREAT_OBJECT = Obj({"field": LINE, "type": LINE})
DRILLDOWN = Obj({"name": LINE, "search": TEXT, "earliest_offset": LINE, "latest_offset": LINE})
ATTACK_DATA = Obj({"data": LINE}, {"source": LINE, "sourcetype": LINE, "custom_index": LINE,
                                   "update_timestamp": Anything()})
TEST = Obj(
    {"name": LINE, "attack_data": List(ATTACK_DATA, min_items=1)},
    {"expected_count": Int(0), "test_type": LINE, "description": TEXT},
)
OBSERVABLE = Obj({"name": LINE, "type": LINE}, {"role": NAMES})

SECURITY_DOMAIN = Enum("endpoint", "network", "threat", "identity", "access", "audit", "cloud")
CVE = Str(CVE_PATTERN, "a CVE id like CVE-2021-44228", multiline=False)
# A risk score written as 25.0 is still a whole number (security_content 4.42 has some).
# contentctl 4.4.1 requires at least one product (objects/detection_tags.py, DetectionTags.product).
TAGS = Obj(
    {"analytic_story": List(LINE), "security_domain": SECURITY_DOMAIN, "asset_type": LINE,
     "product": List(LINE, min_items=1)},
    {"mitre_attack_id": List(Str(ATTACK_ID_PATTERN, "an ATT&CK id like T1234 or T1234.001", multiline=False)),
     "kill_chain_phases": NAMES, "nist": NAMES, "cis20": NAMES, "cve": List(CVE),
     "required_fields": NAMES, "confidence": SCORE, "impact": SCORE, "risk_score": SCORE,
     "message": Str(min_len=0, multiline=False, expected="text on one line", allow_empty=True),
     "observable": List(OBSERVABLE), "atomic_guid": NAMES, "manual_test": TEXT, "group": NAMES,
     "drilldown_fields": NAMES, "context": NAMES, "automated_detection_testing": LINE,
     "dataset": NAMES, "risk_severity": LINE, "mappings": Anything(), "labels": NAMES},
)
DETECTION = Obj(
    {"name": NAME, "id": UUID, "version": Int(1), "date": Date(), "author": LINE,
     "type": Enum("TTP", "Anomaly", "Hunting", "Correlation"), "description": TEXT, "search": TEXT,
     "how_to_implement": TEXT, "known_false_positives": TEXT, "tags": TAGS},
    {"status": Enum("production", "experimental", "deprecated", "validation"), "data_source": NAMES,
     "datamodel": NAMES, "references": NAMES, "drilldown_searches": List(DRILLDOWN),
     "rba": Obj({"message": LINE, "risk_objects": List(RISK_OBJECT, min_items=1)}, {"threat_objects": List(THREAT_OBJECT)}),
     "tests": List(TEST), "deployment": Anything(), "enabled_by_default": Anything()},
)
STORY = Obj(
    {"name": NAME, "id": UUID, "version": Int(1), "date": Date(), "author": LINE, "description": TEXT,
     "narrative": TEXT},
    {"status": LINE, "references": NAMES, "type": LINE,
     # contentctl 4.4.1 forbids other keys here (objects/story_tags.py, StoryTags: extra='forbid')
     "tags": Obj({}, {"category": NAMES, "product": NAMES, "usecase": LINE, "cve": NAMES, "group": NAMES}, closed=True)},
)
# contentctl 4.4.1 requires all four (objects/deployment_scheduling.py, DeploymentScheduling).
SCHEDULING = Obj({"cron_schedule": LINE, "earliest_time": LINE, "latest_time": LINE, "schedule_window": LINE})
BASELINE = Obj(
    {"name": NAME, "id": UUID, "version": Int(1), "date": Date(), "author": LINE, "type": Enum("Baseline"),
     "description": TEXT, "search": TEXT},
    {"status": LINE, "datamodel": NAMES, "how_to_implement": TEXT, "known_false_positives": TEXT,
     "references": NAMES, "deployment": Obj({}, {"scheduling": SCHEDULING}),
     "tags": Obj({}, {"analytic_story": NAMES, "detections": NAMES, "product": NAMES, "required_fields": NAMES,
                      "security_domain": SECURITY_DOMAIN})},
)
INVESTIGATION = Obj(
    {"name": NAME, "id": UUID, "version": Int(1), "date": Date(), "author": LINE, "type": Enum("Investigation"),
     "description": TEXT, "search": TEXT},
    {"datamodel": NAMES, "how_to_implement": TEXT, "known_false_positives": Anything(), "references": NAMES,
     "inputs": NAMES, "tags": Obj({}, {"analytic_story": NAMES, "product": NAMES, "required_fields": NAMES,
                                       "security_domain": SECURITY_DOMAIN})},
)
LOOKUP = Obj(
    {"name": Str(OBJECT_NAME_PATTERN, "a lookup name of letters, digits and _, at most 99",
                 multiline=False, max_len=99),
     "description": TEXT},
    # At most 100 characters (ASCII, so bytes): the file ships in a USTAR package (build/package.py),
    # whose header holds a file's own name in 100 bytes (POSIX.1-2017, pax, "ustar Interchange Format").
    {"filename": Str(LOOKUP_FILENAME, "a .csv file name, or __mlspl_<name>.mlmodel, of at most 100 characters, "
                     "beside the YAML", multiline=False, max_len=100),
     "collection": LINE, "fields_list": LINE, "default_match": Anything(), "case_sensitive_match": Anything(),
     "match_type": LINE, "min_matches": Int(0), "max_matches": Int(1), "filter": LINE},
)
NOTABLE_ACTION = Obj({"rule_title": LINE, "rule_description": LINE}, {"nes_fields": NAMES})
DEPLOYMENT = Obj(
    {"name": NAME, "id": UUID, "date": Date(), "author": LINE, "description": TEXT,
     "type": Enum("TTP", "Anomaly", "Hunting", "Correlation", "Baseline"), "scheduling": SCHEDULING},
    {"alert_action": Obj({}, {"notable": NOTABLE_ACTION, "rba": Obj({"enabled": Bool()})})},
)
MACRO = Obj(
    {"name": Str(OBJECT_NAME_PATTERN, "a macro name of letters, digits and _, at most 99",
                 multiline=False, max_len=99),
     "definition": TEXT, "description": TEXT},
    {"arguments": NAMES},
)
APP = Obj(
    {"appid": Str(APP_ID_PATTERN, "an app id of letters, digits, '_', '-', '.'", multiline=False),
     "title": Str(min_len=5, max_len=80, multiline=False, expected="a label of 5 to 80 characters"),
     "version": Str(SEMVER_PATTERN, "a version like 1.2.3", multiline=False), "prefix": LINE,
     "author_name": LINE},
    {"uid": Anything(), "label": LINE, "description": TEXT, "author_email": LINE, "author_company": LINE},
)
SETTINGS = Obj({"app": APP}, {"addons": List(LINE)} | {key: Anything() for key in (
    "path", "verbose", "enforce_deprecation_mapping_requirement", "enrichments", "build_app", "build_api",
    "data_source_TA_validation", "test_data_caches", "build_path", "mode", "post_test_behavior",
    "enable_integration_testing", "apps", "container_settings", "githash", "version",
    # keys contentctl 4.x settings carry (objects/config.py)
    "build_ssa", "test_instance", "test_instances", "splunk_api_username", "splunk_api_password",
    "enable_metadata_validation", "suppress_missing_content_exceptions", "previous_build", "stack_type")})


def check(value: Any, schema: Schema, locations: Locations) -> tuple[list[Finding], list[Finding]]:
    """Errors and warnings (unknown keys) of ``value`` against ``schema``."""
    ctx = Context(locations)
    schema.check(value, "", ctx)
    return ctx.findings, ctx.warnings
