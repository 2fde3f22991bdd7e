"""Reading only what a data set's rows can depend on: the rows are those of a full read.

``parse_event(..., only=...)`` leaves out the fields outside ``only``; ``Knowledge.reader_reads``
names, per kind of event, what a row can read. Each is checked against the full read.
"""
from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from detpack.knowledge import BUILTIN, Knowledge, load_knowledge
from detpack.knowledge.addons import load_addon
from detpack.replay import events
from detpack.replay.events import BadEvent, RawEvent, parse_event, parse_event_strict
from detpack.replay.search import run_search

SYSMON = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
SECURITY = "XmlWinEventLog:Security"
ALWAYS = frozenset({"_time", "source", "sourcetype", "_raw", "SystemTime"})
SYSTEM_NAMES = ["EventCode", "EventID", "Computer", "host", "Channel", "Keywords", "RecordNumber", "Level",
                "Name", "Guid", "SystemTime", "ProcessID", "ThreadID", "UserID"]
DATA_NAMES = ["Image", "CommandLine", "NewProcessName", "TargetUserName", "SubjectUserName", "ProcessId", "User",
              "ParentImage", "TargetFilename", "TargetObject", "EventType", "a&amp;b", "a&#38;b",
              "Computer", "EventCode", "SystemTime", "host", "source", "_time", "Name"]
VALUES = ["", "C:\\w\\a.exe", "a b", "x&amp;y", "-", "alice", "0x1f", "Value", "CreateKey"]
TIMES = ["2026-01-02T03:04:05.25Z", "2026-02-30T00:00:00Z", "later"]


def raw_event(code: str, time: str | None, data: list[tuple[str, str]], system_extra: str = "",
              channel: str = "Security") -> str:
    body = "".join(f"<Data Name='{name}'>{value}</Data>" for name, value in data)
    created = f"<TimeCreated SystemTime='{time}'/>" if time is not None else ""
    return (f"<Event xmlns='x'><System><Provider Name='P' Guid='{{g}}'/><EventID>{code}</EventID>"
            f"<Keywords>0x8020000000000000</Keywords>{created}<EventRecordID>7</EventRecordID>"
            f"<Execution ProcessID='4' ThreadID='8'/>{system_extra}<Channel>{channel}</Channel>"
            f"<Computer>H1</Computer><Security UserID='S-1'/></System><EventData>{body}</EventData></Event>")


def outcome(event: RawEvent, **options):
    try:
        return parse_event_strict(event, **options)
    except BadEvent as error:
        return f"BadEvent: {error}"


@settings(max_examples=400, deadline=None)
@given(code=st.sampled_from(["1", "4688", "4688&amp;"]), time=st.one_of(st.none(), st.sampled_from(TIMES)),
       data=st.lists(st.tuples(st.sampled_from(DATA_NAMES), st.sampled_from(VALUES)), max_size=8),
       extra=st.sampled_from(["", "<EventID>13</EventID>", "<Computer>H2</Computer>", "<Level>4</Level>",
                              "<!-- <Computer>H3</Computer> -->", "<Computer/>"]),
       only=st.frozensets(st.sampled_from(SYSTEM_NAMES + DATA_NAMES)), decode=st.booleans())
def test_a_narrowed_read_gives_the_full_read_of_each_field_it_keeps(code, time, data, extra, only, decode):
    event = RawEvent(raw_event(code, time, data, extra), SECURITY, "XmlWinEventLog", "t:1")
    full = outcome(event, decode_entities=decode)
    narrowed = outcome(event, decode_entities=decode, only=only)
    if isinstance(full, str):
        assert narrowed == full
    else:  # what it keeps (a few more than asked: the fields one element makes) is as read in full
        assert narrowed.items() <= full.items()
        assert narrowed.keys() >= (only | ALWAYS) & full.keys()


def test_a_narrowed_read_leaves_out_what_is_not_asked_for():
    raw = raw_event("4688", TIMES[0], [("Image", "a.exe"), ("User", "u")])
    event = RawEvent(raw, SECURITY, "XmlWinEventLog", "t:1")
    fields = parse_event(event, only=frozenset({"Image", "host"}))
    # <Computer> makes both Computer and host
    assert fields.keys() == {"Image", "host", "Computer", "SystemTime", "_time", "source", "sourcetype", "_raw"}
    assert (fields["Image"], fields["host"]) == ("a.exe", "H1")


# --- what a row can read, per kind of event -------------------------------------------------

SYSMON_DATA = ["Image", "CommandLine", "ParentImage", "ParentCommandLine", "ProcessId", "User", "TargetFilename",
               "TargetObject", "EventType", "Details", "Hashes", "IntegrityLevel"]
SECURITY_DATA = ["NewProcessName", "CommandLine", "TargetUserName", "SubjectUserName", "NewProcessId", "ProcessId",
                 "ParentProcessName", "ProcessName", "TargetProcessName", "TargetProcessId"]
# Knowledge an admin may add on top of the built-in set: aliases, calculated fields reading other
# calculated fields, an extraction from the command line, event types and tags of their own.
LOCAL_PROPS = """
[source::XmlWinEventLog:Security]
FIELDALIAS-level = Keywords AS process_guid
EVAL-process_current_directory = coalesce(Level, Opcode) . "/" . process_guid
EVAL-original_file_name = upper(cmd_head)
REPORT-head = command_head
[XmlWinEventLog]
EVAL-parent_user = if(Task=="1", RecordNumber, ThreadID)
"""
LOCAL_TRANSFORMS = "[command_head]\nSOURCE_KEY = CommandLine\nREGEX = ^(?<cmd_head>\\S+)\n"
LOCAL_EVENTTYPES = '[local_logon]\nsearch = source="XmlWinEventLog:Security" Opcode=7\n'
LOCAL_TAGS = ("[eventtype=local_logon]\nprocess = enabled\nreport = enabled\n"
              "[Guid=g7]\nendpoint = enabled\nfilesystem = enabled\n")


@pytest.fixture(scope="module")
def knowledges(tmp_path_factory) -> dict[str, Knowledge]:
    root = tmp_path_factory.mktemp("reads") / "builtin_and_local"
    shutil.copytree(BUILTIN, root)
    (root / "local").mkdir()
    (root / "local" / "props.conf").write_text(LOCAL_PROPS)
    (root / "local" / "transforms.conf").write_text(LOCAL_TRANSFORMS)
    (root / "local" / "eventtypes.conf").write_text(LOCAL_EVENTTYPES)
    (root / "local" / "tags.conf").write_text(LOCAL_TAGS)
    return {"builtin": load_knowledge(), "local": Knowledge(load_addon(root), reader_fields=True)}


def windows_event(source: str, code: str, system: dict[str, str], data: list[tuple[str, str]]) -> RawEvent:
    extra = "".join(f"<{name}>{value}</{name}>" for name, value in system.items())
    raw = raw_event(code, TIMES[0], data, extra, channel=source.split(":", 1)[1]).replace(
        "<Provider Name='P' Guid='{g}'/>", f"<Provider Name='P' Guid='{system.get('Guid', 'g')}'/>")
    return RawEvent(raw, source, "XmlWinEventLog", "t:1")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.sampled_from(["builtin", "local"]),
       dataset=st.sampled_from(["Endpoint.Processes", "Endpoint.Filesystem", "Endpoint.Registry"]),
       source=st.sampled_from([SYSMON, SECURITY]),
       code=st.sampled_from(["1", "11", "13", "4688", "4689", "4696", "4624"]),
       system=st.dictionaries(st.sampled_from(["Level", "Opcode", "Task"]), st.sampled_from(["1", "7"])),
       guid=st.sampled_from(["g", "g7"]),
       data=st.lists(st.tuples(st.sampled_from(SYSMON_DATA + SECURITY_DATA), st.sampled_from(VALUES)), max_size=8),
       share=st.data())
def test_a_row_from_the_fields_the_knowledge_names_is_the_row_from_a_full_read(
        knowledges, which, dataset, source, code, system, guid, data, share):
    knowledge = knowledges[which]
    whole = knowledge.datasets[dataset]
    wanted = share.draw(st.frozensets(st.sampled_from(whole.fields), min_size=1))
    narrowed = knowledge.narrowed(whole, wanted)
    needed = narrowed.reads
    event = windows_event(source, code, {**system, "Guid": guid}, data)
    only = knowledge.reader_reads(narrowed, event.sourcetype, event.source, needed)
    assert only is not None
    full = knowledge.row(narrowed, parse_event(event), needed)
    assert knowledge.row(narrowed, parse_event(event, only=only), needed) == full


def test_host_stanzas_read_everything(tmp_path):
    """A host stanza's knowledge is planned per event's host: unknown before the event is read."""
    root = tmp_path / "builtin_and_host"
    shutil.copytree(BUILTIN, root)
    (root / "local").mkdir()
    (root / "local" / "props.conf").write_text("[host::H*]\nEVAL-parent_user = Level\n")
    knowledge = Knowledge(load_addon(root), reader_fields=True)
    dataset = knowledge.narrowed(knowledge.datasets["Endpoint.Processes"], frozenset({"parent_user"}))
    assert knowledge.reader_reads(dataset, "XmlWinEventLog", SECURITY, dataset.reads) is None
    event = windows_event(SECURITY, "4688", {"Level": "5"}, [("NewProcessName", "C:\\a.exe")])
    rows = run_search("| tstats count from datamodel=Endpoint.Processes by Processes.parent_user", {}, [event],
                      knowledge=knowledge).rows
    assert rows == [{"Processes.parent_user": "5", "count": "1"}]


def test_readings_are_bounded(monkeypatch):
    monkeypatch.setattr(events, "_READINGS", {})
    event = RawEvent(raw_event("4688", TIMES[0], [("Image", "a.exe")]), SECURITY, "XmlWinEventLog", "t:1")
    for n in range(1100):
        assert parse_event(event, only=frozenset({"Image", f"f{n}"}))["Image"] == "a.exe"
    assert len(events._READINGS) == 1000


# --- whole searches: narrowed reads and remembered results against the full computation -------

from unittest import mock  # noqa: E402

from detpack.knowledge import engine  # noqa: E402
from detpack.replay import search  # noqa: E402

# More of what an admin may add: a lookup that fills fields only when empty, an event type built on
# another, one testing the host, one with a free-text term, calculated fields making multivalues.
SEARCH_PROPS = LOCAL_PROPS + r"""
LOOKUP-users = users SubjectUserName AS who OUTPUTNEW role AS user_id, dept AS parent_process_id
EVAL-user = split(coalesce(TargetUserName, User, "x;y"), ";")
[source::XmlWinEventLog:Microsoft-Windows-Sysmon/Operational]
EVAL-process_hash = mvappend(Hashes, IntegrityLevel)
EVAL-parent_process_path = replace(ParentImage, "^C.*", "")
"""
SEARCH_EVENTTYPES = LOCAL_EVENTTYPES + ("[on_local]\nsearch = eventtype=local_logon Level=1\n"
                                        "[on_host]\nsearch = host=H2 Task=1\n"
                                        "[worded]\nsearch = \"Value\" EventType=*\n")
SEARCH_TAGS = LOCAL_TAGS + ("[eventtype=on_local]\nprocess = enabled\nfilesystem = enabled\nendpoint = enabled\n"
                            "[eventtype=on_host]\nprocess = enabled\nreport = enabled\nregistry = enabled\n"
                            "[eventtype=worded]\nregistry = enabled\nchange = enabled\nendpoint = enabled\n")
SEARCHES = [
    "| tstats count values(Processes.process) as p min(_time) as first dc(Processes.user) as users "
    "from datamodel=Endpoint.Processes by Processes.dest Processes.user_id Processes.parent_process_id",
    "| datamodel Endpoint Processes search | stats values(*) as * by Processes.process_name",
    "| from datamodel:Endpoint.Processes | rename * as x_* | table x_*",
    "| tstats count from datamodel=Endpoint.Registry by Registry.registry_key_name Registry.action",
    "| tstats count from datamodel=Endpoint.Processes by Processes.dest | rename Processes.dest as dest "
    "| join type=left dest [| from datamodel:Endpoint.Filesystem | stats values(file_name) as f by dest]",
]
SEARCH_DATA = ["Image", "CommandLine", "ParentImage", "User", "TargetUserName", "SubjectUserName", "EventType",
               "TargetObject", "Hashes", "NewProcessName", "eventtype", "tag", "host", "Computer", "Level"]
SEARCH_VALUES = ["", "C:\\w\\a.exe", "a b", "alice", "bob", "Value", "SetValue", "1", "a;b"]


@pytest.fixture(scope="module")
def search_knowledges(tmp_path_factory) -> tuple[Knowledge, Knowledge]:
    """Two of the same knowledge: one searched as it runs, one only with full reads and no
    remembered results (each keeps the plans it made)."""
    root = tmp_path_factory.mktemp("searching") / "builtin_and_local"
    shutil.copytree(BUILTIN, root)
    (root / "local").mkdir()
    (root / "local" / "props.conf").write_text(SEARCH_PROPS)
    (root / "local" / "transforms.conf").write_text(LOCAL_TRANSFORMS + "[users]\nfilename = users.csv\n")
    (root / "local" / "eventtypes.conf").write_text(SEARCH_EVENTTYPES)
    (root / "local" / "tags.conf").write_text(SEARCH_TAGS)
    (root / "lookups").mkdir(exist_ok=True)
    (root / "lookups" / "users.csv").write_text("who,role,dept\nalice,admin,it\nbob,,sales\n")
    return Knowledge(load_addon(root), reader_fields=True), Knowledge(load_addon(root), reader_fields=True)


def full_read(knowledge, dataset, needed):
    return lambda event, stats: parse_event(event, stats=stats)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spl=st.sampled_from(SEARCHES),
       kinds=st.lists(st.tuples(st.sampled_from([SYSMON, SECURITY]), st.sampled_from(["1", "13", "4688", "4624"]),
                                st.dictionaries(st.sampled_from(["Level", "Opcode", "Task"]), st.sampled_from(["1", "7"])),
                                st.sampled_from(["H1", "H2"]),
                                st.lists(st.tuples(st.sampled_from(SEARCH_DATA), st.sampled_from(SEARCH_VALUES)),
                                         max_size=6)),
                      min_size=1, max_size=5))
def test_a_search_gives_what_full_reads_and_computing_every_value_give(search_knowledges, spl, kinds):
    fast, full = search_knowledges
    evs = [RawEvent(windows_event(source, code, system, data).raw.replace("<Computer>H1<", f"<Computer>{host}<"),
                    source, "XmlWinEventLog", "t:1") for source, code, system, host, data in kinds]
    got = run_search(spl, {}, evs, knowledge=fast)
    with mock.patch.object(search, "reading_only", full_read), \
            mock.patch.object(engine, "remembered", lambda expression: expression.evaluate):
        expected = run_search(spl, {}, evs, knowledge=full)
    assert (got.rows, got.columns, got.events_skipped) == (expected.rows, expected.columns, expected.events_skipped)
