"""The built-in knowledge (knowledge/builtin/): Windows events as CIM Endpoint rows."""
from __future__ import annotations

import pytest

from detpack.knowledge import load_knowledge
from detpack.replay.events import RawEvent, parse_event

SYSMON = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
SECURITY = "XmlWinEventLog:Security"
KNOWLEDGE = load_knowledge()


def event(source: str, code: int, keywords: str = "0x8000000000000000", **data: str) -> dict:
    body = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data.items())
    raw = (f"<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>{code}</EventID>"
           f"<Keywords>{keywords}</Keywords><TimeCreated SystemTime='2026-03-11T08:15:00Z'/>"
           f"<Channel>{source.split(':', 1)[1]}</Channel><Computer>ws1.example.local</Computer>"
           f"<Security UserID='S-1-5-18'/></System><EventData>{body}</EventData></Event>")
    return parse_event(RawEvent(raw, source, "XmlWinEventLog", "t:1"))


def row(dataset: str, fields: dict) -> dict | None:
    return KNOWLEDGE.row(KNOWLEDGE.datasets[dataset], fields, None)


SYSMON_1 = dict(Image="C:\\Windows\\System32\\wbem\\scrcons.exe", CommandLine="C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding",
                ParentImage="C:\\Windows\\System32\\svchost.exe", ParentCommandLine="svchost.exe -k DcomLaunch -p",
                ProcessId="4312", ParentProcessId="812", ProcessGuid="{a}", ParentProcessGuid="{b}",
                User="NT AUTHORITY\\SYSTEM", Hashes="SHA256=AB", IntegrityLevel="System",
                CurrentDirectory="C:\\Windows\\system32\\", OriginalFileName="ScrCons.exe")
SECURITY_4688 = dict(SubjectUserName="WS1$", TargetUserName="alice", NewProcessName="C:\\Windows\\SysWOW64\\wbem\\SCRCONS.EXE",
                     CommandLine="scrcons.exe -Embedding", NewProcessId="0x10d8", ProcessId="0x32c",
                     ParentProcessName="C:\\Windows\\System32\\svchost.exe")


def test_sysmon_process_creation():
    got = row("Endpoint.Processes", event(SYSMON, 1, **SYSMON_1))
    assert {k: v for k, v in got.items() if k != "_time"} == {
        "process_path": SYSMON_1["Image"], "process_name": "scrcons.exe", "process_exec": "scrcons.exe",
        "process": SYSMON_1["CommandLine"], "parent_process_path": SYSMON_1["ParentImage"],
        "parent_process_name": "svchost.exe", "parent_process_exec": "svchost.exe",
        "parent_process": SYSMON_1["ParentCommandLine"], "process_id": "4312", "parent_process_id": "812",
        "process_guid": "{a}", "parent_process_guid": "{b}", "user": "NT AUTHORITY\\SYSTEM",
        "dest": "ws1.example.local", "process_hash": "SHA256=AB", "process_integrity_level": "system",
        "process_current_directory": "C:\\Windows\\system32\\", "original_file_name": "ScrCons.exe",
        "user_id": "S-1-5-18", "action": "allowed", "vendor_product": "Microsoft Sysmon",
        "loaded_file": "unknown", "parent_user": "unknown", "tag": ["process", "report"],
        "host": "ws1.example.local", "source": SYSMON, "sourcetype": "XmlWinEventLog",
    }


def test_4688_parent_process_is_parent_process_name():
    got = row("Endpoint.Processes", event(SECURITY, 4688, **SECURITY_4688))
    assert (got["parent_process"], got["parent_process_path"], got["parent_process_name"]) == (
        "C:\\Windows\\System32\\svchost.exe", "C:\\Windows\\System32\\svchost.exe", "svchost.exe")


def test_4688_ids_stay_hex_text():
    got = row("Endpoint.Processes", event(SECURITY, 4688, **SECURITY_4688))
    assert (got["process_id"], got["parent_process_id"]) == ("0x10d8", "0x32c")


def test_an_empty_data_element_makes_no_field_as_the_addon_extraction_drops_it():
    data = dict(SECURITY_4688)
    got = event(SECURITY, 4688, **data)
    raw = got["_raw"].replace("<Data Name='TargetUserName'>alice</Data>", "<Data Name='TargetUserName'></Data>")
    fields = parse_event(RawEvent(raw, SECURITY, "XmlWinEventLog", "t:1"))
    assert "TargetUserName" not in fields and row("Endpoint.Processes", fields)["user"] == "WS1$"


@pytest.mark.parametrize("target, user", [("alice", "alice"), ("-", "WS1$"), (None, "WS1$")])
def test_4688_user_prefers_the_target_account(target, user):
    data = dict(SECURITY_4688, TargetUserName=target) if target else {
        k: v for k, v in SECURITY_4688.items() if k != "TargetUserName"}
    assert row("Endpoint.Processes", event(SECURITY, 4688, **data))["user"] == user


@pytest.mark.parametrize("command, process", [
    ("C:\\w\\a.exe -x", "C:\\w\\a.exe -x"),                 # first token is a path: kept
    ("a.exe -x", '"C:\\Program Files\\a.exe" -x'),           # rebuilt, quoted, with the arguments
    ("a.exe", "C:\\Program Files\\a.exe"),                   # no arguments: NewProcessName
    ("", "C:\\Program Files\\a.exe"),                        # no command line: NewProcessName
    (" /s /b", '"C:\\Program Files\\a.exe" /b'),             # leading blank: /s is the first token
    ("   ", "C:\\Program Files\\a.exe"),                     # blanks only: no token, NewProcessName
])
def test_4688_process_is_rebuilt_from_new_process_name(command, process):
    data = dict(SECURITY_4688, NewProcessName="C:\\Program Files\\a.exe", CommandLine=command)
    assert row("Endpoint.Processes", event(SECURITY, 4688, **data))["process"] == process


def test_4688_action_is_allowed_on_audit_success():
    success = event(SECURITY, 4688, keywords="0x8020000000000000", **SECURITY_4688)
    assert row("Endpoint.Processes", success)["action"] == "allowed"
    assert "action" not in row("Endpoint.Processes", event(SECURITY, 4688, **SECURITY_4688))


@pytest.mark.parametrize("code", [4689, 4696, 4673, 4674])
def test_other_security_process_codes_are_process_events(code):
    got = row("Endpoint.Processes", event(SECURITY, code, ProcessName="C:\\w\\b.exe", SubjectUserName="bob"))
    assert got is not None and got["vendor_product"] == "Microsoft Windows"


def test_4689_names_its_process():
    got = row("Endpoint.Processes", event(SECURITY, 4689, ProcessName="C:\\w\\b.exe", ProcessId="0x10", SubjectUserName="bob"))
    assert (got["process_name"], got["process_id"], got["user"]) == ("b.exe", "0x10", "bob")


@pytest.mark.parametrize("code", [5, 6, 7, 8, 3])
def test_sysmon_non_creation_codes_are_not_process_rows(code):
    assert row("Endpoint.Processes", event(SYSMON, code, **SYSMON_1)) is None


@pytest.mark.parametrize("code, action", [(11, "created"), (23, "deleted"), (26, "deleted")])
def test_sysmon_file_events(code, action):
    got = row("Endpoint.Filesystem", event(SYSMON, code, Image="C:\\w\\p.exe", TargetFilename="C:\\t\\f.txt", User="u"))
    assert (got["action"], got["file_path"], got["file_name"], got["process_name"]) == (
        action, "C:\\t\\f.txt", "f.txt", "p.exe")
    assert row("Endpoint.Registry", event(SYSMON, code, TargetFilename="x")) is None


@pytest.mark.parametrize("code, kind, action, key, value", [
    (12, "CreateKey", "created", "Run", None),
    (12, "DeleteValue", "deleted", "Run", "evil"),
    (13, "SetValue", "modified", "Run", "evil"),
    (14, "RenameKey", "modified", "Run", None),
])
def test_sysmon_registry_events(code, kind, action, key, value):
    path = "HKLM\\Software\\Run" + ("\\evil" if value else "")
    got = row("Endpoint.Registry", event(SYSMON, code, EventType=kind, TargetObject=path, Image="C:\\w\\p.exe"))
    assert (got["action"], got["registry_path"], got["registry_key_name"], got["registry_value_name"]) == (
        action, path, key, value or "unknown")


# The CIM app's Endpoint calculations (public copy of its Endpoint.json): a missing or empty
# field becomes "unknown"; process_name falls back to the file name of the command's program.


@pytest.mark.parametrize("command, name", [
    ('"C:\\Program Files\\a.exe" -x', "a.exe"),       # quoted program: the file name inside the quotes
    ("C:\\w\\b.exe -x", "b.exe"),                     # unquoted path: the part after the last backslash
    ("C:\\w\\b.exe -x C:\\t\\f.txt", "f.txt"),       # ... of the whole line, as the CIM's pattern reads it
    ("cmd", "cmd"),
    ('"noslash" x', "unknown"),
])
def test_process_name_falls_back_to_the_programs_file_name(command, name):
    got = row("Endpoint.Processes", event(SYSMON, 1, CommandLine=command, ParentCommandLine=command, User="u"))
    assert (got["process_name"], got["parent_process_name"]) == (name, name)


def test_registry_and_filesystem_fields_missing_from_an_event_are_unknown():
    got = row("Endpoint.Registry", event(SYSMON, 12, EventType="CreateKey", TargetObject="HKLM\\S\\K", Image="C:\\w\\p.exe"))
    assert (got["registry_value_name"], got["registry_value_data"], got["registry_value_type"], got["process"],
            got["parent_process_name"], got["user"]) == ("unknown",) * 6
    got = row("Endpoint.Filesystem", event(SYSMON, 11, Image="C:\\w\\p.exe", TargetFilename="C:\\t\\f.txt"))
    assert (got["file_hash"], got["file_acl"], got["process"], got["parent_process"]) == ("unknown",) * 4
    assert "file_size" not in got and got["vendor_product"] == "Microsoft Sysmon"


def test_builtin_knowledge_has_no_problems():
    assert KNOWLEDGE.problems.messages == []


# --- | datamodel and | from datamodel ------------------------------------------------------------


def run(spl: str, *events: dict):
    from detpack.replay.search import run_search

    raws = [RawEvent(e["_raw"], e["source"], "XmlWinEventLog", f"t:{i}") for i, e in enumerate(events)]
    return run_search(spl, {}, raws).rows


def test_datamodel_command_gives_prefixed_dataset_fields():
    rows = run("| datamodel Endpoint Processes search | table Processes.process_name Processes.user host",
               event(SYSMON, 1, **SYSMON_1), event(SYSMON, 5, **SYSMON_1))
    assert rows == [{"Processes.process_name": "scrcons.exe", "Processes.user": "NT AUTHORITY\\SYSTEM",
                     "host": "ws1.example.local"}]


def test_from_datamodel_gives_the_datasets_own_field_names():
    rows = run("| from datamodel:Endpoint.Filesystem | table file_name action",
               event(SYSMON, 11, TargetFilename="C:\\t\\f.txt"), event(SYSMON, 1, **SYSMON_1))
    assert rows == [{"file_name": "f.txt", "action": "created"}]


@pytest.mark.parametrize("spl, message", [
    ("| datamodel Endpoint Nope search", "unknown data model 'Endpoint.Nope'"),
    ("| datamodel Endpoint Processes", "expected 'datamodel <model> <dataset> search'"),
    ("| from inputlookup:x", "expected 'from datamodel:<model>.<dataset>'"),
    ("| from datamodel:Endpoint.Processes | datamodel Endpoint Processes search", "must be the first command"),
])
def test_dataset_commands_refuse_what_they_cannot_run(spl, message):
    from detpack.spl import SplError

    with pytest.raises(SplError, match=message):
        run(spl)


def test_from_takes_a_space_or_a_colon_between_dataset_type_and_name():
    """Search Reference, from: "You can specify a colon ( : ) or a space between <dataset_type> and <dataset_name>"."""
    from detpack.spl import parse

    colon, space = (parse(f"| from datamodel{sep}Risk.All_Risk | search a=1").commands[0] for sep in (":", " "))
    assert colon == space and colon.datamodel == "Risk.All_Risk"
