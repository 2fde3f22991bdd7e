"""The raw-text prefilter stays sound with knowledge: built-in, and an add-on's own."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from detpack.knowledge import BUILTIN, load_knowledge
from detpack.knowledge.verbatim import traceable_fields
from detpack.replay.events import RawEvent
from detpack.replay.search import run_search

SECURITY = "XmlWinEventLog:Security"
PATHS = ["C:\\w\\scrcons.exe", "C:\\Program Files\\scrcons.exe", "C:\\w\\cmd.exe", ""]
COMMANDS = ["", "scrcons.exe -Embedding", "C:\\w\\scrcons.exe -x", "\"C:\\Program Files\\a.exe\" b", "cmd",
            "C:\\w\\cmd.exe /c a.exe\nb"]
USERS = ["-", "alice", "WS1$", None]
FIELDS = ["process_name", "process", "user", "parent_process", "process_id", "action", "tag", "parent_process_exec",
          "parent_process_name"]
PATTERNS = ["scrcons.exe", "*scrcons*", "*w\\scrcons.exe -embedding*", "\"C:\\Program", "alice", "ws1$",
            "unknown", "allowed", "0x1*", "cmd*", "*", "report", "process", "*x7q", "*.exez",
            "a.exe", "b", "cmd"]


def security(i: int, path: str, command: str, user: str | None, code: int) -> RawEvent:
    data = {"NewProcessName": path, "CommandLine": command, "SubjectUserName": "WS1$", "TargetUserName": user,
            "NewProcessId": f"0x{i + 16:x}", "ProcessId": "0x4", "ParentProcessName": "C:\\w\\svchost.exe"}
    body = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data.items() if v is not None and v != "")
    text = (f"<Event xmlns='x'><System><EventID>{code}</EventID><Keywords>0x8020000000000000</Keywords>"
            f"<TimeCreated SystemTime='2026-01-02T03:04:05Z'/><Channel>Security</Channel>"
            f"<Computer>H{i}</Computer></System><EventData>{body}</EventData></Event>")
    return RawEvent(text, SECURITY, "XmlWinEventLog", f"mem:{i}")


@pytest.fixture(scope="module")
def own_addon(tmp_path_factory) -> Path:
    """The built-in set as an add-on, with its own XML extraction (an add-on starts from the
    indexed fields alone) and an admin's local/ that makes process_name untraceable."""
    root = tmp_path_factory.mktemp("addons") / "TA_own"
    shutil.copytree(BUILTIN, root)
    (root / "local").mkdir()
    (root / "local" / "props.conf").write_text(
        "[XmlWinEventLog]\nREPORT-xml = own_system, own_system_values, own_data\nREPORT-zcode = own_event_code\n"
        "[source::XmlWinEventLog:Security]\n"
        "EVAL-process_name = lower(mvindex(split(NewProcessName, \"\\\\\"), -1))\n")
    (root / "local" / "transforms.conf").write_text(
        "[own_system]\nREGEX = <System>(.*?)</System>\nFORMAT = System_Xml::$1\n"
        "[own_system_values]\nSOURCE_KEY = System_Xml\nREGEX = <(\\w+)>([^<]*)</\\1>\nFORMAT = $1::$2\n"
        "[own_data]\nREGEX = <Data Name='([^']*)'>([^<]*)</Data>\nFORMAT = $1::$2\n"
        "[own_event_code]\nSOURCE_KEY = EventID\nREGEX = (.+)\nFORMAT = EventCode::$1\n")
    return root


def test_the_own_addon_extracts_its_fields(own_addon):
    event = security(0, "C:\\w\\SCRCONS.exe", "scrcons.exe -Embedding", "alice", 4688)
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.process_name Processes.user"
    rows = run_search(spl, {}, [event], knowledge=load_knowledge([own_addon])).rows
    assert rows == [{"Processes.process_name": "scrcons.exe", "Processes.user": "alice", "count": "1"}]


def test_an_untraceable_field_gets_no_prefilter(own_addon):
    knowledge = load_knowledge([own_addon])
    verbatim, _ = traceable_fields(knowledge, knowledge.datasets["Endpoint.Processes"])
    assert "process_name" not in verbatim and "process" not in verbatim and "user" in verbatim


@pytest.fixture(scope="module")
def chained_addon(own_addon, tmp_path_factory) -> Path:
    """The own add-on whose Processes lists ``tag`` (as the CIM's model does) and has
    calculations reading earlier ones: a field made by tags.conf and a value a
    calculation rebuilt are not raw text."""
    root = tmp_path_factory.mktemp("addons") / "TA_chain"
    shutil.copytree(own_addon, root)
    path = root / "default" / "data" / "models" / "Endpoint.json"
    model = json.loads(path.read_text())
    processes = next(o for o in model["objects"] if o["objectName"] == "Processes")
    processes["fields"].append({"fieldName": "tag", "type": "string", "multivalue": True})
    processes["calculations"][:0] = [
        {"calculationType": "Eval", "expression": 'parent_process_path . ";X7Q"',
         "outputFields": [{"fieldName": "parent_process_path"}]},
        {"calculationType": "Eval", "expression": 'mvindex(split(parent_process_path, "\\\\"), -1)',
         "outputFields": [{"fieldName": "parent_process_exec"}]}]
    processes["calculations"].append({"calculationType": "Eval", "expression": 'process_name . "Z"',
                                      "outputFields": [{"fieldName": "process_name"}]})
    path.write_text(json.dumps(model))
    return root


def test_the_cim_process_name_fallback_keeps_its_prefilter_and_its_rows():
    """Without NewProcessName, process_name is the program's file name in the command line
    (the CIM's calculation): still raw text, so still prefiltered, and found."""
    knowledge = load_knowledge()
    verbatim, _ = traceable_fields(knowledge, knowledge.datasets["Endpoint.Processes"])
    assert {"process_name", "parent_process_name"} <= verbatim
    spl = "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=a.exe by Processes.process"
    rows = run_search(spl, {}, [security(0, "", COMMANDS[3], "alice", 4688)], knowledge=knowledge).rows
    assert rows == [{"Processes.process": COMMANDS[3], "count": "1"}]


def test_fields_of_tags_and_of_chained_calculations_are_not_raw_text(chained_addon):
    knowledge = load_knowledge([chained_addon])
    verbatim, _ = traceable_fields(knowledge, knowledge.datasets["Endpoint.Processes"])
    assert not {"tag", "parent_process_exec", "parent_process_path", "process_name"} & verbatim
    assert "user" in verbatim


KNOWLEDGE: dict = {}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(PATHS), st.sampled_from(COMMANDS), st.sampled_from(USERS),
                               st.sampled_from([4688, 4689, 4624])), max_size=5),
       field=st.sampled_from(FIELDS), pattern=st.sampled_from(PATTERNS),
       which=st.sampled_from(["builtin", "own", "chained"]))
@example(rows=[(PATHS[0], COMMANDS[1], "alice", 4688)], field="tag", pattern="report", which="chained")
@example(rows=[(PATHS[0], COMMANDS[1], "alice", 4688)], field="parent_process_exec", pattern="*x7q", which="chained")
@example(rows=[(PATHS[0], COMMANDS[1], "alice", 4688)], field="process_name", pattern="*.exez", which="chained")
@example(rows=[("", COMMANDS[3], "alice", 4688)], field="process_name", pattern="a.exe", which="builtin")
def test_prefilters_never_change_results_with_knowledge(own_addon, chained_addon, rows, field, pattern, which):
    if which not in KNOWLEDGE:
        KNOWLEDGE[which] = load_knowledge({"builtin": [], "own": [own_addon], "chained": [chained_addon]}[which])
    knowledge = KNOWLEDGE[which]
    quoted = pattern.replace('"', '\\"')
    events = [security(i, *row) for i, row in enumerate(rows)]
    spl = (f'| tstats count from datamodel=Endpoint.Processes where Processes.{field}="{quoted}" '
           "by Processes.dest Processes.process Processes.user")
    filtered = run_search(spl, {}, events, knowledge=knowledge)
    unfiltered = run_search(spl, {}, events, knowledge=knowledge, prefilter=False)
    assert filtered.rows == unfiltered.rows
