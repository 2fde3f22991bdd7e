"""CIM Endpoint.Processes normalisation: every table row, the fallbacks, tag selection."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from detpack.knowledge import cim
from detpack.knowledge.cim import (
    CONSTANT_VALUES, CONSTANTS, DATAMODELS, FIELD_MAP, FILE_NAMES, HEX_ID_FIELDS, PROCESS_TAGGED, SECURITY, SYSMON,
    VERBATIM_FIELDS, processes_row,
)
from detpack.replay.events import RawEvent, parse_event

TIME = 1773136801.25


def fields_of(source: str, code: str, **data: str) -> dict:
    return {"source": source, "sourcetype": "XmlWinEventLog", "EventCode": code, "_time": TIME, **data}


SYSMON_1 = dict(
    Image="C:\\Windows\\System32\\wbem\\scrcons.exe", CommandLine="C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding",
    ParentImage="C:\\Windows\\System32\\svchost.exe", ParentCommandLine="svchost.exe -k DcomLaunch -p",
    ProcessId="4312", ParentProcessId="812", ProcessGuid="{a}", ParentProcessGuid="{b}", User="NT AUTHORITY\\SYSTEM",
    Computer="ws1.example.local", host="ws1.example.local", Hashes="SHA256=AB", IntegrityLevel="System",
    CurrentDirectory="C:\\Windows\\system32\\", OriginalFileName="ScrCons.exe", UserID="S-1-5-18",
)
SECURITY_4688 = dict(
    NewProcessName="C:\\Windows\\SysWOW64\\wbem\\SCRCONS.EXE", CommandLine="scrcons.exe -Embedding",
    NewProcessId="0x10d8", ProcessId="0x32c", ParentProcessName="C:\\Windows\\System32\\svchost.exe",
    SubjectUserName="WS1$", SubjectDomainName="EXAMPLE", Computer="ws1.example.local", host="ws1.example.local",
)


def test_sysmon_process_creation_row():
    assert processes_row(fields_of(SYSMON, "1", **SYSMON_1)) == {
        "process_path": "C:\\Windows\\System32\\wbem\\scrcons.exe", "process_name": "scrcons.exe",
        "process_exec": "scrcons.exe", "process": "C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding",
        "parent_process_path": "C:\\Windows\\System32\\svchost.exe", "parent_process_name": "svchost.exe",
        "parent_process_exec": "svchost.exe", "parent_process": "svchost.exe -k DcomLaunch -p",
        "process_id": "4312", "parent_process_id": "812", "process_guid": "{a}", "parent_process_guid": "{b}",
        "user": "NT AUTHORITY\\SYSTEM", "dest": "ws1.example.local", "process_hash": "SHA256=AB",
        "process_integrity_level": "system", "process_current_directory": "C:\\Windows\\system32\\",
        "original_file_name": "ScrCons.exe", "user_id": "S-1-5-18", "action": "allowed",
        "vendor_product": "Microsoft Sysmon",
        "_time": TIME, "host": "ws1.example.local", "source": SYSMON, "sourcetype": "XmlWinEventLog",
    }


def test_security_4688_row():
    assert processes_row(fields_of(SECURITY, "4688", **SECURITY_4688)) == {
        "process_path": "C:\\Windows\\SysWOW64\\wbem\\SCRCONS.EXE", "process_name": "SCRCONS.EXE",
        "process": "scrcons.exe -Embedding", "process_id": "4312", "parent_process_id": "812",
        "parent_process_path": "C:\\Windows\\System32\\svchost.exe", "parent_process_name": "svchost.exe",
        "user": "WS1$", "dest": "ws1.example.local", "vendor_product": "Microsoft Windows",
        "parent_process": "unknown", "original_file_name": "unknown",
        "_time": TIME, "host": "ws1.example.local", "source": SECURITY, "sourcetype": "XmlWinEventLog",
    }


MAP_ROWS = [(source, m) for source, maps in FIELD_MAP.items() for m in maps]


@pytest.mark.parametrize("source, mapped", MAP_ROWS, ids=[f"{s.split(':')[1]}-{m.event_field}" for s, m in MAP_ROWS])
def test_each_field_map_row(source, mapped):
    code = PROCESS_TAGGED[source][0].event_code
    row = processes_row(fields_of(source, code, **{mapped.event_field: "0x1F"}))
    expected = "31" if mapped.cim_field in HEX_ID_FIELDS.get(source, ()) else "0x1F"
    if mapped.cim_field in cim.LOWER_CASED:
        expected = "0x1f"
    assert row[mapped.cim_field] == expected


FILE_ROWS = [(source, f) for source, names in FILE_NAMES.items() for f in names]


@pytest.mark.parametrize("source, names", FILE_ROWS, ids=[f"{s.split(':')[1]}-{f.path_field}" for s, f in FILE_ROWS])
def test_each_file_name_row(source, names):
    event_field = next(m.event_field for m in FIELD_MAP[source] if m.cim_field == names.path_field)
    code = PROCESS_TAGGED[source][0].event_code
    row = processes_row(fields_of(source, code, **{event_field: "D:\\Some Dir\\Tool.EXE"}))
    assert {f: row[f] for f in names.cim_fields} == {f: "Tool.EXE" for f in names.cim_fields}


@pytest.mark.parametrize("source", [SYSMON, SECURITY])
def test_constants(source):
    row = processes_row(fields_of(source, PROCESS_TAGGED[source][0].event_code))
    assert {c.cim_field: row[c.cim_field] for c in CONSTANTS[source]} == {c.cim_field: c.value for c in CONSTANTS[source]}


# ---------------------------------------------------------------- tags

@pytest.mark.parametrize("source, code", [(SYSMON, "1"), (SYSMON, "5"), (SYSMON, "6"), (SYSMON, "8"), (SECURITY, "4688")])
def test_tagged_codes_make_rows(source, code):
    assert processes_row(fields_of(source, code)) is not None


@pytest.mark.parametrize("source, code", [
    (SYSMON, "7"), (SYSMON, "3"), (SYSMON, "10"), (SYSMON, "11"), (SYSMON, "13"), (SYSMON, "4688"),
    (SECURITY, "4624"), (SECURITY, "1"), ("XmlWinEventLog:Application", "1"), (None, "1"),
])
def test_other_codes_and_sources_are_not_in_the_data_set(source, code):
    assert processes_row(fields_of(source, code, Image="C:\\x\\scrcons.exe")) is None


def test_non_creation_code_fills_unknowns():
    """A tagged Sysmon code without creation fields (5 = process terminated) still becomes a row."""
    row = processes_row(fields_of(SYSMON, "5", Image="C:\\x\\scrcons.exe", ProcessId="7"))
    assert (row["process_name"], row["process"], row["parent_process"], row["parent_process_name"], row["dest"],
            row["user"], row["host"]) == ("scrcons.exe", "unknown", "unknown", "unknown", "unknown", "unknown", "unknown")
    assert "parent_process_id" not in row  # no fallback for ids: null


# ---------------------------------------------------------------- calculated fields

@pytest.mark.parametrize("field", cim.UNKNOWN_WHEN_EMPTY)
def test_unknown_when_missing_or_empty(field):
    event_field = next(m.event_field for m in FIELD_MAP[SYSMON] if m.cim_field == field)
    assert processes_row(fields_of(SYSMON, "1"))[field] == "unknown"
    assert processes_row(fields_of(SYSMON, "1", **{event_field: ""}))[field] == "unknown"


def test_process_name_falls_back_to_first_token_of_process():
    row = processes_row(fields_of(SECURITY, "4688", CommandLine="  scrcons.exe  -Embedding"))
    assert row["process_name"] == "scrcons.exe"
    row = processes_row(fields_of(SYSMON, "1", ParentCommandLine="C:\\w\\svchost.exe -k x"))
    assert row["parent_process_name"] == "C:\\w\\svchost.exe"


def test_name_from_path_wins_over_command_line():
    row = processes_row(fields_of(SYSMON, "1", Image="C:\\w\\WmiPrvSE.exe", CommandLine="scrcons.exe -Embedding"))
    assert row["process_name"] == "WmiPrvSE.exe"


def test_path_ending_in_backslash_gives_no_name():
    row = processes_row(fields_of(SYSMON, "1", Image="C:\\w\\", CommandLine="a.exe x"))
    assert row["process_name"] == "a.exe" and "process_exec" not in row


def test_process_name_unknown_without_path_or_command():
    row = processes_row(fields_of(SYSMON, "1", CommandLine="   "))
    assert (row["process_name"], row["parent_process_name"]) == ("unknown", "unknown")


def test_integrity_level_lower_cased():
    assert processes_row(fields_of(SYSMON, "1", IntegrityLevel="High"))["process_integrity_level"] == "high"


@pytest.mark.parametrize("value, expected", [("0x3cc", "972"), ("0X3CC", "972"), ("972", "972"), ("0xzz", "0xzz")])
def test_4688_ids_become_decimal(value, expected):
    row = processes_row(fields_of(SECURITY, "4688", NewProcessId=value, ProcessId=value))
    assert (row["process_id"], row["parent_process_id"]) == (expected, expected)


def test_sysmon_ids_are_not_converted():
    assert processes_row(fields_of(SYSMON, "1", ProcessId="0x10"))["process_id"] == "0x10"


def test_datamodels_registry():
    assert DATAMODELS == {"Endpoint.Processes": processes_row}


# ---------------------------------------------------------------- planner contract

def test_constant_values_cover_every_constant():
    assert CONSTANT_VALUES == {"unknown", "allowed", "microsoft sysmon", "microsoft windows"}


def test_verbatim_fields_leave_out_transformed_values():
    assert {"process_id", "parent_process_id", "process_integrity_level", "source", "sourcetype"}.isdisjoint(
        VERBATIM_FIELDS)
    assert {"process_name", "process", "parent_process", "parent_process_name", "dest", "user", "host"} <= \
        VERBATIM_FIELDS


XML_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<>&'\""), max_size=30)


def event_xml(channel: str, code: str, data: dict[str, str]) -> str:
    body = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data.items())
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            f"<EventID>{code}</EventID><TimeCreated SystemTime='2026-01-01T00:00:00Z'/>"
            f"<Channel>{channel}</Channel><Computer>h.example.local</Computer>"
            f"<Security UserID='S-1-5-18'/></System><EventData>{body}</EventData></Event>")


@settings(max_examples=60, deadline=None)
@given(sysmon=st.booleans(), values=st.lists(XML_TEXT, min_size=16, max_size=16))
def test_verbatim_values_are_substrings_of_raw(sysmon, values):
    source, channel, code = (SYSMON, "Microsoft-Windows-Sysmon/Operational", "1") if sysmon else \
        (SECURITY, "Security", "4688")
    names = [m.event_field for m in FIELD_MAP[source] if m.event_field not in ("Computer", "UserID")]
    raw = event_xml(channel, code, dict(zip(names, values)))
    row = processes_row(parse_event(RawEvent(raw, source, "XmlWinEventLog", "f:1")))
    for field in VERBATIM_FIELDS & row.keys():
        assert row[field].lower() in CONSTANT_VALUES or row[field] in raw, field


def test_tagged_event_codes_per_data_model_are_the_tag_tables_codes():
    from detpack.knowledge.cim import TAGGED_EVENT_CODES

    assert TAGGED_EVENT_CODES == {"Endpoint.Processes": frozenset({"1", "5", "6", "8", "4688"})}
    for source, tags in PROCESS_TAGGED.items():
        for tag in tags:
            assert processes_row(fields_of(source, tag.event_code)) is not None
