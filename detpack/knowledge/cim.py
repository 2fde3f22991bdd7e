"""CIM normalisation: parsed Windows events -> ``Endpoint.Processes`` rows.

Emulates, offline, what the Sysmon add-on, the Windows add-on and the CIM app
do at search time. Everything that decides a value is a table below; a
``note`` of "" means the row follows the CIM's ``Endpoint`` data model
(Splunk_SA_CIM ``default/data/models/Endpoint.json``, documented as "Endpoint" in
the Common Information Model Add-on Manual) and the field extractions of the
Splunk Add-on for Sysmon and the Splunk Add-on for Microsoft Windows (their
``default/props.conf`` and ``transforms.conf``) as documented; anything else
says what is unverified against a real Splunk.

Rows hold unprefixed CIM fields (``process_name``, not ``Processes.process_name``)
plus ``_time`` (epoch float), ``host``, ``source`` and ``sourcetype``. A field
with no value is absent (null), except where a data-model fallback applies.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

SYSMON = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
SECURITY = "XmlWinEventLog:Security"


class Tagged(NamedTuple):
    event_code: str
    note: str


class Mapped(NamedTuple):
    event_field: str
    cim_field: str
    note: str


class FileName(NamedTuple):
    """CIM fields that take the file name (after the last backslash) of a path field."""
    path_field: str  # a CIM field filled by FIELD_MAP
    cim_fields: tuple[str, ...]
    note: str


class Constant(NamedTuple):
    cim_field: str
    value: str
    note: str


# Event codes tagged `process` + `report` per source: the Endpoint.Processes constraint.
PROCESS_TAGGED: dict[str, tuple[Tagged, ...]] = {
    SYSMON: (
        Tagged("1", ""),
        Tagged("5", "unverified: documented for the add-on's public ancestor"),
        Tagged("6", "unverified: documented for the add-on's public ancestor"),
        Tagged("8", "unverified: documented for the add-on's public ancestor"),
        # Not 7 (image load): "also claimed" but unverified; tagging it would make
        # every DLL load by a process a process row (the Covenant data set's 104
        # scrcons.exe image loads against its 2 documented process creations).
    ),
    SECURITY: (
        Tagged("4688", ""),
    ),
}

# Event field -> CIM field, per source.
FIELD_MAP: dict[str, tuple[Mapped, ...]] = {
    SYSMON: (
        Mapped("Image", "process_path", ""),
        Mapped("CommandLine", "process", ""),
        Mapped("ParentImage", "parent_process_path", ""),
        Mapped("ParentCommandLine", "parent_process", ""),
        Mapped("ProcessId", "process_id", ""),
        Mapped("ParentProcessId", "parent_process_id", ""),
        Mapped("ProcessGuid", "process_guid", ""),
        Mapped("ParentProcessGuid", "parent_process_guid", ""),
        Mapped("User", "user", "unverified: kept as DOMAIN\\name; the add-on may strip DOMAIN\\"),
        Mapped("Computer", "dest", ""),
        Mapped("Hashes", "process_hash", ""),
        Mapped("IntegrityLevel", "process_integrity_level", "lower-cased by the data model"),
        Mapped("CurrentDirectory", "process_current_directory", ""),
        Mapped("OriginalFileName", "original_file_name", ""),
        Mapped("UserID", "user_id", "from <Security UserID='...'/>"),
    ),
    SECURITY: (
        Mapped("NewProcessName", "process_path", ""),
        Mapped("CommandLine", "process", ""),
        Mapped("NewProcessId", "process_id", "hex; see HEX_ID_FIELDS"),
        Mapped("ProcessId", "parent_process_id", "hex; see HEX_ID_FIELDS"),
        Mapped("ParentProcessName", "parent_process_path", "Windows 10+ only"),
        Mapped("SubjectUserName", "user", "unverified: the common reading; Subject* is the creator"),
        Mapped("Computer", "dest", ""),
    ),
}

FILE_NAMES: dict[str, tuple[FileName, ...]] = {
    SYSMON: (
        FileName("process_path", ("process_name", "process_exec"), ""),
        FileName("parent_process_path", ("parent_process_name", "parent_process_exec"), ""),
    ),
    SECURITY: (
        FileName("process_path", ("process_name",), ""),
        FileName("parent_process_path", ("parent_process_name",), ""),
    ),
}

CONSTANTS: dict[str, tuple[Constant, ...]] = {
    SYSMON: (
        Constant("action", "allowed", ""),
        Constant("vendor_product", "Microsoft Sysmon", ""),
    ),
    SECURITY: (
        Constant("vendor_product", "Microsoft Windows", "unverified: value not in the docs"),
    ),
}

# Security 4688 writes process ids in hex (0x3cc). Converted to decimal (972) so
# they compare with Sysmon's decimal ids and CIM's numeric process_id.
# Unverified whether the Windows add-on converts them.
HEX_ID_FIELDS: dict[str, frozenset[str]] = {
    SECURITY: frozenset({"process_id", "parent_process_id"}),
}

# Data-model calculated fields, applied to every source after the mappings.
UNKNOWN = "unknown"
UNKNOWN_WHEN_EMPTY: tuple[str, ...] = ("dest", "user", "process", "parent_process", "original_file_name")
# name field <- first token of this command-line field, when the path gave no name
NAME_FROM_COMMAND: tuple[tuple[str, str], ...] = (
    ("process_name", "process"),
    ("parent_process_name", "parent_process"),
)
LOWER_CASED: tuple[str, ...] = ("process_integrity_level",)

# What the SPL planner may rely on.
CONSTANT_VALUES: frozenset[str] = frozenset(
    {UNKNOWN} | {c.value.lower() for constants in CONSTANTS.values() for c in constants}
)
# Fields whose value, unless it is one of CONSTANT_VALUES, is always an exact
# substring of the raw event text (with entity decoding off, the default).
# Left out: process_id/parent_process_id (4688 hex -> decimal), the lower-cased
# fields, and fields no table fills with a raw value.
VERBATIM_FIELDS: frozenset[str] = frozenset(
    {m.cim_field for maps in FIELD_MAP.values() for m in maps}
    | {name for names in FILE_NAMES.values() for f in names for name in f.cim_fields}
    | {"host"}
) - {field for fields in HEX_ID_FIELDS.values() for field in fields} - set(LOWER_CASED)


def _tagged_codes() -> dict[str, frozenset[str]]:
    return {source: frozenset(t.event_code for t in tags) for source, tags in PROCESS_TAGGED.items()}


_TAGGED = _tagged_codes()


def processes_row(fields: dict) -> dict[str, str] | None:
    """The Endpoint.Processes row of a parsed event, or None when the event is not in the data set."""
    source = fields.get("source")
    codes = _TAGGED.get(source)
    if codes is None or fields.get("EventCode") not in codes:
        return None
    row: dict = {}
    for mapped in FIELD_MAP[source]:
        value = fields.get(mapped.event_field)
        if value:
            row[mapped.cim_field] = value
    for field in HEX_ID_FIELDS.get(source, ()):
        if field in row:
            row[field] = _decimal(row[field])
    for names in FILE_NAMES[source]:
        name = _file_name(row.get(names.path_field, ""))
        if name:
            for cim_field in names.cim_fields:
                row[cim_field] = name
    for constant in CONSTANTS[source]:
        row[constant.cim_field] = constant.value
    _calculated_fields(row)
    row["_time"] = fields["_time"]
    row["host"] = fields.get("host") or UNKNOWN
    row["source"] = source
    row["sourcetype"] = fields.get("sourcetype", "")
    return row


def _calculated_fields(row: dict) -> None:
    for name_field, command_field in NAME_FROM_COMMAND:
        if not row.get(name_field):
            tokens = row.get(command_field, "").split()
            row[name_field] = tokens[0] if tokens else UNKNOWN
    for field in UNKNOWN_WHEN_EMPTY:
        if not row.get(field):
            row[field] = UNKNOWN
    for field in LOWER_CASED:
        if field in row:
            row[field] = row[field].lower()


def _file_name(path: str) -> str:
    return path.rpartition("\\")[2]


def _decimal(value: str) -> str:
    """0x3cc -> 972; anything that is not hex stays as it is."""
    if value[:2].lower() != "0x":
        return value
    try:
        return str(int(value, 16))
    except ValueError:
        return value


DATAMODELS: dict[str, Callable[[dict], dict[str, str] | None]] = {
    "Endpoint.Processes": processes_row,
}

# Each data model's tag table; the event codes of its data set, whatever the source.
DATAMODEL_TAGGED: dict[str, dict[str, tuple[Tagged, ...]]] = {
    "Endpoint.Processes": PROCESS_TAGGED,
}
TAGGED_EVENT_CODES: dict[str, frozenset[str]] = {
    datamodel: frozenset(t.event_code for tags in table.values() for t in tags)
    for datamodel, table in DATAMODEL_TAGGED.items()
}
