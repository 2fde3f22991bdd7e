"""The raw-text prefilter stays sound with knowledge: built-in, and an add-on's own."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from detpack.knowledge import BUILTIN, Knowledge, load_knowledge
from detpack.knowledge.addons import load_addon
from detpack.knowledge.verbatim import Tracer, traceable_fields
from detpack.replay.events import RawEvent
from detpack.replay.search import run_search
from detpack.spl.plan import RawPieces

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
    assert "process_name" not in verbatim and "user" in verbatim
    # process: raw pieces the Security calculation joins with a blank or quotes
    assert not verbatim["process"].allow(("a b",)) and not verbatim["process"].allow(('"a',))


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
    assert {"process_name", "parent_process_name"} <= verbatim.keys()
    spl = "| tstats count from datamodel=Endpoint.Processes where Processes.process_name=a.exe by Processes.process"
    rows = run_search(spl, {}, [security(0, "", COMMANDS[3], "alice", 4688)], knowledge=knowledge).rows
    assert rows == [{"Processes.process": COMMANDS[3], "count": "1"}]


def test_fields_of_tags_and_of_chained_calculations_are_not_raw_text(chained_addon):
    """``tag`` is not raw text at all; the text a calculation appended is not raw text, so
    no literal holding one of its characters is looked for in the raw text."""
    knowledge = load_knowledge([chained_addon])
    verbatim, _ = traceable_fields(knowledge, knowledge.datasets["Endpoint.Processes"])
    assert "tag" not in verbatim and "user" in verbatim
    for field, added in [("parent_process_exec", "x7q"), ("parent_process_path", ";x7q"), ("process_name", "z"),
                         ("process_name", ".exez")]:
        assert field not in verbatim or not verbatim[field].allow((added,)), field


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


# --- tracing an add-on's own conf files -------------------------------------------------


def tracer_of(tmp_path: Path, props: str, transforms: str = "") -> Tracer:
    root = tmp_path / "TA_traced" / "default"
    root.mkdir(parents=True)
    (root / "props.conf").write_text("[XmlWinEventLog]\n" + props)
    (root / "transforms.conf").write_text(transforms)
    return Tracer(load_knowledge([root.parent]))


def test_a_concatenation_is_raw_pieces_set_apart_by_its_literal_text(tmp_path):
    tracer = tracer_of(tmp_path, 'EVAL-quoted = "\\"" . NewProcessName . "\\" -" . CommandLine\n'
                                 "EVAL-glued = NewProcessName . CommandLine\n"
                                 'EVAL-with_constant = NewProcessName . " " . if(isnull(User), "nobody", User)\n')
    quoted = tracer.field("quoted")
    assert quoted.verbatim and quoted.pieces == RawPieces(frozenset('" -'))
    assert not tracer.field("glued").verbatim
    assert not tracer.field("with_constant").verbatim


def test_a_plus_that_may_add_numbers_may_be_a_number(tmp_path):
    tracer = tracer_of(tmp_path, 'EVAL-sum = NewProcessName + " " + CommandLine\n'
                                 'EVAL-text = "\\"" + NewProcessName + "\\""\n'
                                 'EVAL-glued = CommandLine . (" " + NewProcessName + " " + ProcessId)\n')
    assert tracer.field("sum").pieces.numbers and not tracer.field("text").pieces.numbers
    # " 1" + " " + "2" is the number 3, glued to the command line without a separator
    assert not tracer.field("glued").verbatim


def test_an_eval_reading_the_field_it_sets_reads_the_extracted_value(tmp_path):
    tracer = tracer_of(tmp_path, "EVAL-process = coalesce(process, NewProcessName)\n"
                                 "EVAL-renamed = lower(renamed)\n")
    assert tracer.field("process").verbatim
    assert not tracer.field("renamed").verbatim


@pytest.mark.parametrize("pattern, traced", [
    ("(?:.*\\\\\\\\)?(.*)", True),  # the Windows add-on's file name of a path
    ("^(\\\\S+).*", True),
    ("^(a)|c|b.*", False),  # c anywhere: "acXb" becomes "aX"
    ("^a\\\\K(?:x)(b).*", False),  # "axb" becomes "ab"
    ("(?:.*\\\\s)?(.*)", False),  # \s matches a line break
    ("(?:[^x]*)?(.*)", False),
    ("(?:.*\\\\\\\\)?(.+)", False),
    ("\\\\\\\\", False),
])
def test_a_replace_keeping_one_group_to_each_line_end_keeps_raw_pieces(tmp_path, pattern, traced):
    tracer = tracer_of(tmp_path, f'EVAL-name = replace(NewProcessName, "{pattern}", "\\1")\n')
    trace = tracer.field("name")
    assert trace.verbatim == traced
    assert not traced or "\n" in trace.pieces.separators


def test_format_text_is_a_constant_and_format_with_text_and_groups_is_not_traced(tmp_path):
    tracer = tracer_of(tmp_path, "REPORT-a = kind_made, kind_joined, kind_captured\n",
                       "[kind_made]\nREGEX = x\nFORMAT = kind::\"made\"\n"
                       "[kind_joined]\nREGEX = (a)(b)\nFORMAT = joined::$1-$2\n"
                       "[kind_captured]\nREGEX = (a)\nFORMAT = captured::$1\n")
    assert tracer.field("kind").constants == {"made"}
    assert not tracer.field("joined").verbatim
    assert tracer.field("captured") == tracer.field("anything")


def test_delims_pieces_are_raw_text_apart_from_quotes(tmp_path):
    tracer = tracer_of(tmp_path, "REPORT-a = split_pairs\n", '[split_pairs]\nDELIMS = "|", "="\n')
    assert tracer.field("anything").pieces.separators == {'"'}


def test_a_lookup_without_its_table_makes_nothing_and_labels_are_not_raw_text(tmp_path):
    tracer = tracer_of(tmp_path, "LOOKUP-gone = no_such_table code\nEVAL-kind = sourcetype\n")
    assert not tracer.any_field_opaque and tracer.field("process").verbatim
    assert not tracer.field("kind").verbatim and not tracer.field("source").verbatim


# --- the property, with add-on knowledge generated -------------------------------------

VALUES = ["C:\\w\\scrcons.exe", "1", "2", " 12", "ab", "c d", "c d\ne f", "x\ny", "e&amp;f", "-", "\"C:\\P f\\a.exe\" b", ""]
ATOMS = ["NewProcessName", "CommandLine", "TargetUserName", "ProcessId", "process", "process_name", "cmd_piece",
         "cmd_rest", "c",
         '" "', '"\\""', '"-"', '"1"', '"q"']
UNARY = ["lower({})", "trim({})", 'mvindex(split({}, "\\\\"), -1)', 'replace({}, "(?:.*\\\\\\\\)?(.*)", "\\1")',
         'replace({}, "^\\\\S+\\\\s*", "")', 'mvindex(split({}, " "), 1)',
         'replace({}, "^(\\\\S+).*", "\\1")', 'replace({}, "\\\\\\\\", "")']
BINARY = ["{} . {}", "{} + {}", "coalesce({}, {})", "if(isnull({}), {}, {})", 'case(match({}, "1"), {}, 1==1, {})']
GENERATED_PATTERNS = ["scrcons.exe", "*scrcons*", "3", "12", "*1 2*", "1x", "x", "-", "a", "*b*", "x1", "*y", "13",
                      "unknown", "*", "c:\\w\\scrcons.exe", "\"c:\\p", "f\\a.exe", "a&amp;b", "*amp*"]
expressions = st.recursive(
    st.sampled_from(ATOMS),
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(UNARY), inner).map(lambda t: t[0].format(t[1])),
        st.tuples(st.sampled_from(BINARY), inner, inner, inner).map(lambda t: "(" + t[0].format(*t[1:]) + ")")),
    max_leaves=6)
GENERATED: dict = {}


# What a transform of the command line may make: captures, a constant, groups joined, pieces, names.
TRANSFORMS = ["REGEX = (\\S*) ?(.*)\nFORMAT = cmd_piece::$1 cmd_rest::$2",
              'REGEX = (\\S*) ?(.*)\nFORMAT = cmd_piece::"qq" cmd_rest::$2',
              "REGEX = (\\S*) ?(.*)\nFORMAT = cmd_piece::$1$2 cmd_rest::$2",
              'DELIMS = " "\nFIELDS = cmd_piece,cmd_rest',
              "REGEX = (\\S+) (\\S+)\nFORMAT = $1::$2"]


def generated_addon(base: Path, tmp: Path, process_name: str, process: str, transform: str) -> Knowledge:
    """The own add-on whose Security stanza computes process_name and process as generated,
    after a transform of the command line."""
    key = (process_name, process, transform)
    if key not in GENERATED:
        root = tmp / f"TA_generated_{len(GENERATED)}"
        shutil.copytree(base, root)
        with (root / "local" / "props.conf").open("a") as props:
            props.write(f"REPORT-zzgen = gen_piece\nEVAL-process_name = {process_name}\nEVAL-process = {process}\n")
        with (root / "local" / "transforms.conf").open("a") as transforms:
            transforms.write(f"[gen_piece]\nSOURCE_KEY = CommandLine\n{transform}\n")
        GENERATED[key] = load_knowledge([root])
    return GENERATED[key]


def generated_event(i: int, values: tuple) -> RawEvent:
    names = ["NewProcessName", "CommandLine", "TargetUserName", "ProcessId"]
    body = "".join(f"<Data Name='{n}'>{v}</Data>" for n, v in zip(names, values) if v)
    text = (f"<Event xmlns='x'><System><EventID>4688</EventID><TimeCreated SystemTime='2026-01-02T03:04:05Z'/>"
            f"<Channel>Security</Channel><Computer>H{i}</Computer></System><EventData>{body}</EventData></Event>")
    return RawEvent(text, SECURITY, "XmlWinEventLog", f"mem:{i}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(process_name=expressions, process=expressions, transform=st.sampled_from(TRANSFORMS),
       rows=st.lists(st.tuples(*[st.sampled_from(VALUES)] * 4), min_size=1, max_size=4),
       field=st.sampled_from(["process_name", "process"]), data=st.data())
@example(process_name='(CommandLine . (" " + NewProcessName + " " + ProcessId))', process="process", transform=TRANSFORMS[0],
         rows=[("1", "x", "", "2")], field="process_name", data=["x3"])
@example(process_name='(NewProcessName + " " + ProcessId)', process="process", transform=TRANSFORMS[0],
         rows=[("1", "", "", "2")], field="process_name", data=["3"])
@example(process_name='replace(CommandLine, "^(\\\\S+).*", "\\1")', process="process", transform=TRANSFORMS[0],
         rows=[("", "c d\ne f", "", "")], field="process_name", data=["c\ne f"])
@example(process_name='(NewProcessName . "-" . coalesce(TargetUserName, "q"))', process="process", transform=TRANSFORMS[0],
         rows=[("ab", "", "", "")], field="process_name", data=["*a*q*"])
@example(process_name="cmd_piece", process="process", transform=TRANSFORMS[2], rows=[("", "c d", "", "")],
         field="process_name", data=["cd"])
def test_prefilters_never_change_results_with_generated_addon_knowledge(
        own_addon, tmp_path_factory, process_name, process, transform, rows, field, data):
    """The pattern is drawn from the values the knowledge gives (a piece of one, often
    across what a concatenation joined), or from a fixed list."""
    knowledge = generated_addon(own_addon, tmp_path_factory.mktemp("generated"), process_name, process, transform)
    events = [generated_event(i, row) for i, row in enumerate(rows)]
    everything = f"| tstats count from datamodel=Endpoint.Processes by Processes.{field}"
    values = [r[f"Processes.{field}"] for r in run_search(everything, {}, events, knowledge=knowledge).rows]
    pattern = draw_pattern(data, values)
    quoted = pattern.replace("\\", "\\\\").replace('"', '\\"')
    spl = (f'| tstats count from datamodel=Endpoint.Processes where Processes.{field}="{quoted}" '
           "by Processes.process_name Processes.process")
    filtered = run_search(spl, {}, events, knowledge=knowledge)
    unfiltered = run_search(spl, {}, events, knowledge=knowledge, prefilter=False)
    assert filtered.rows == unfiltered.rows


def draw_pattern(data, values: list[str]) -> str:
    if isinstance(data, list):  # an explicit example's pattern
        return data[0]
    texts = [v for v in values if isinstance(v, str) and v]
    if not texts or data.draw(st.booleans()):
        return data.draw(st.sampled_from(GENERATED_PATTERNS))
    text = data.draw(st.sampled_from(texts))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), min_size=2, max_size=4)))
    pieces = [text[a:b] for a, b in zip(cuts[0::2], cuts[1::2]) if a < b] or [text]
    if len(pieces) == 1 and data.draw(st.booleans()):
        return pieces[0]
    return "*" + "*".join(pieces) + "*"


def test_the_data_set_filter_keeps_events_whose_required_tags_come_from_two_event_types(tmp_path):
    """process from one event type and report from another: the event is in the data set."""
    from detpack.replay.search import dataset_filter

    root = tmp_path / "builtin_split"
    shutil.copytree(BUILTIN, root)
    tags = root / "default" / "tags.conf"
    tags.write_text(tags.read_text().replace("[eventtype=detpack_windows_security_process]\nprocess = enabled\n"
                                             "report = enabled", "[eventtype=detpack_windows_security_process]\n"
                                             "process = enabled\n[eventtype=security_report]\nreport = enabled"))
    with (root / "default" / "eventtypes.conf").open("a") as eventtypes:
        eventtypes.write('\n[security_report]\nsearch = source="XmlWinEventLog:Security" EventCode IN (4688, 4624)\n')
    knowledge = Knowledge(load_addon(root), reader_fields=True)
    event = security(0, PATHS[0], COMMANDS[1], "alice", 4688)
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.process_name"
    unfiltered = run_search(spl, {}, [event], knowledge=knowledge, prefilter=False).rows
    assert unfiltered == [{"Processes.process_name": "scrcons.exe", "count": "1"}]
    assert run_search(spl, {}, [event], knowledge=knowledge).rows == unfiltered
    assert dataset_filter("Endpoint.Processes", knowledge)(event.raw)


@pytest.fixture(scope="module")
def sourcetyped_addon(own_addon, tmp_path_factory) -> Path:
    """The own add-on with an event type of another sourcetype giving the data set's tags
    (and Sysmon's process event type off: code 1 is in every raw text), and an extraction
    that adds every System element as a value (a <sourcetype> too)."""
    root = tmp_path_factory.mktemp("addons") / "TA_sourcetyped"
    shutil.copytree(own_addon, root)
    (root / "local" / "eventtypes.conf").write_text("[other_process]\nsearch = sourcetype=Other:Process\n"
                                                   "[detpack_sysmon_process_start]\ndisabled = true\n")
    (root / "local" / "tags.conf").write_text("[eventtype=other_process]\nprocess = enabled\nreport = enabled\n")
    props = (root / "local" / "props.conf").read_text()
    (root / "local" / "props.conf").write_text(props.replace("REPORT-zcode = own_event_code\n",
                                                             "REPORT-zcode = own_event_code\nREPORT-zmore = own_more\n"))
    with (root / "local" / "transforms.conf").open("a") as transforms:
        transforms.write("[own_more]\nSOURCE_KEY = System_Xml\nREGEX = <(\\w+)>([^<]*)</\\1>\nFORMAT = $1::$2\n"
                         "MV_ADD = true\n")
    return root


def test_under_an_addon_the_data_set_filter_keeps_the_event_codes_of_the_sourcetype(sourcetyped_addon):
    from detpack.knowledge.verbatim import addon_event_codes
    from detpack.replay.search import dataset_filter

    knowledge = load_knowledge([sourcetyped_addon])
    processes = knowledge.datasets["Endpoint.Processes"]
    # the built-in Security process event type's codes
    assert addon_event_codes(knowledge, processes, "XmlWinEventLog") == {
        "4688", "4689", "4696", "4673", "4674", "sourcetype"}
    xml = dataset_filter("Endpoint.Processes", knowledge, "XmlWinEventLog")
    assert xml("<Event><EventID>4688</EventID></Event>") and not xml("<Event><EventID>4624</EventID></Event>")
    assert dataset_filter("Endpoint.Processes", knowledge, "Other:Process") is None  # its event type tests no code
    assert dataset_filter("Endpoint.Processes", knowledge) is None


def test_an_event_of_another_sourcetype_or_naming_its_own_sourcetype_is_not_dropped(sourcetyped_addon):
    """An event type of its sourcetype gives a 4624 its tags (no XmlWinEventLog knowledge
    applies to it: no dest); an extraction adds a <sourcetype> element's text to another's
    sourcetype, whatever the engine then makes of it."""
    knowledge = load_knowledge([sourcetyped_addon])
    other = security(0, PATHS[0], COMMANDS[1], "alice", 4624)
    other = RawEvent(other.raw, other.source, "Other:Process", other.origin)
    named = security(1, PATHS[0], COMMANDS[1], "alice", 4624)
    named = RawEvent(named.raw.replace("<Channel>", "<sourcetype>Other:Process</sourcetype><Channel>"),
                     named.source, named.sourcetype, named.origin)
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.dest"
    unfiltered = run_search(spl, {}, [other, named], knowledge=knowledge, prefilter=False).rows
    assert {"Processes.dest": "unknown", "count": "1"} in unfiltered
    assert run_search(spl, {}, [other, named], knowledge=knowledge).rows == unfiltered


# --- divergences found by building knowledge against the tracer -------------------------


def addon_with(own_addon: Path, tmp: Path, props: str, transforms: str = "", file_name_calculation: str | None = None) -> Knowledge:
    """The own add-on with more Security knowledge, and optionally another calculation
    of original_file_name."""
    root = tmp / "TA_more"
    shutil.copytree(own_addon, root)
    with (root / "local" / "props.conf").open("a") as conf:
        conf.write(props)
    with (root / "local" / "transforms.conf").open("a") as conf:
        conf.write(transforms)
    if file_name_calculation:
        path = root / "default" / "data" / "models" / "Endpoint.json"
        model = json.loads(path.read_text())
        processes = next(o for o in model["objects"] if o["objectName"] == "Processes")
        calculation = next(c for c in processes["calculations"] if c["outputFields"][0]["fieldName"] == "original_file_name")
        calculation["expression"] = file_name_calculation
        path.write_text(json.dumps(model))
    return load_knowledge([root])


def assert_found_both_ways(knowledge: Knowledge, events: list[RawEvent], field: str, value: str) -> None:
    spl = f'| tstats count from datamodel=Endpoint.Processes where Processes.{field}="{value}" by Processes.{field}'
    unfiltered = run_search(spl, {}, events, knowledge=knowledge, prefilter=False).rows
    assert unfiltered == [{f"Processes.{field}": value, "count": "1"}]
    assert run_search(spl, {}, events, knowledge=knowledge).rows == unfiltered


def test_quoted_alias_names_are_traced_as_the_engine_reads_them(own_addon, tmp_path):
    knowledge = addon_with(own_addon, tmp_path, '[source::XmlWinEventLog:Security]\nREPORT-kind = kind_made\n'
                                                'FIELDALIAS-file = "kind" AS "original_file_name"\n',
                           "[kind_made]\nREGEX = Embedding\nFORMAT = kind::\"madeup\"\n")
    assert_found_both_ways(knowledge, [security(0, *(PATHS[0], COMMANDS[1], "alice", 4688))],
                           "original_file_name", "madeup")


FALLBACK = 'EVAL-other = if(isnull(XX), YY, replace(ZZ, "a", "b"))\n'
FILL = 'if(isnull(original_file_name) OR original_file_name="",other,original_file_name)'


@pytest.mark.parametrize("props, transforms, calculation, xx", [
    # trim of blanks is empty, though its input is not
    ("EVAL-original_file_name = trim(XX)\n", "", FILL, "  "),
    # an index past the last value is null, though the input is not
    ('EVAL-original_file_name = mvindex(split(XX, "\\\\"), 3)\n', "", FILL, "a\\b"),
    # an empty value kept by the extraction is not a null one
    ("REPORT-empty = empty_xx\nFIELDALIAS-file = XX AS original_file_name\n",
     "[empty_xx]\nREGEX = <Data Name='XX'>([^<]*)<\nFORMAT = XX::$1\nKEEP_EMPTY_VALS = true\n", FILL, ""),
    # the second alias removes the field its first set: the first's source is set
    ("FIELDALIAS-file = XX AS original_file_name YY AS original_file_name\n", "", FILL, "q"),
    # the fallback is taken for another value than an empty one
    ("EVAL-original_file_name = XX\n", "",
     'if(isnull(original_file_name) OR original_file_name="-",other,original_file_name)', "-"),
    ("EVAL-original_file_name = XX\n", "",
     'case(isnotnull(original_file_name) AND original_file_name!="-", original_file_name, true(), other)', "-"),
])
def test_a_fallback_is_traced_where_its_field_is_empty_or_set_too(own_addon, tmp_path, props, transforms,
                                                                   calculation, xx):
    """The data model's fallback for a missing field runs where the field is null or
    empty: an input of the field's EVAL may then be set, and ``other`` not raw text."""
    knowledge = addon_with(own_addon, tmp_path, "[source::XmlWinEventLog:Security]\n" + props + FALLBACK,
                           transforms, calculation)
    event = generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))
    event = RawEvent(event.raw.replace("</EventData>", f"<Data Name='XX'>{xx}</Data><Data Name='ZZ'>aaa</Data>"
                                                       "</EventData>"), event.source, event.sourcetype, event.origin)
    assert_found_both_ways(knowledge, [event], "original_file_name", "bbb")


def test_the_cim_process_name_of_a_path_ending_with_its_separator_is_found_prefiltered():
    """NewProcessName ending with a backslash gives an empty process_name: the CIM takes it
    from process, where the built-in knowledge joined NewProcessName and the arguments."""
    event = generated_event(0, ('"C:\\w\\', 'x\tb"c', "", ""))
    assert_found_both_ways(load_knowledge(), [event], "process_name", " b")


def test_a_piece_of_a_constant_is_not_taken_for_raw_text(own_addon, tmp_path):
    knowledge = addon_with(own_addon, tmp_path, "[source::XmlWinEventLog:Security]\n"
                                                'EVAL-original_file_name = mvindex(split("made-qup", "-"), 1)\n'
                                                'EVAL-loaded_file = trim(if(isnull(XX), "  qup", XX))\n')
    event = generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))
    assert_found_both_ways(knowledge, [event], "original_file_name", "qup")
    assert_found_both_ways(knowledge, [event], "loaded_file", "qup")


@pytest.mark.parametrize("pattern, traced", [
    ("^\\\\S+\\\\s*", True),
    ('^(\\"[^\\"]+\\"|\\\\s*\\\\S+)\\\\s*', True),  # the built-in process's arguments
    ("^a|b", False),  # b anywhere
    ("^(?m)a", False),
    ("^a\\\\Kb", False),
    ("a", False),
    ("^[\\\\][]|b", False),  # a class of ']' and '[', then b anywhere
    ("^[\\\\]|]x", True),  # a class of ']' and '|'
    ("^[]|]x", True),
])
def test_a_replace_removing_a_prefix_keeps_a_substring(tmp_path, pattern, traced):
    tracer = tracer_of(tmp_path, f'EVAL-rest = replace(CommandLine, "{pattern}", "")\n')
    assert tracer.field("rest").verbatim == traced


def test_a_data_set_requiring_a_tag_pattern_gets_no_event_code_filter(own_addon, tmp_path):
    """``tag=proc*`` matches the tag ``process`` that no event type gives by that name."""
    from detpack.replay.search import dataset_filter

    for base, reader_fields in [(BUILTIN, True), (own_addon, False)]:
        root = tmp_path / f"TA_pattern_{reader_fields}"
        shutil.copytree(base, root)
        path = root / "default" / "data" / "models" / "Endpoint.json"
        model = json.loads(path.read_text())
        next(o for o in model["objects"] if o["objectName"] == "Processes")["constraints"] = [
            {"search": "tag=proc* tag=report"}]
        path.write_text(json.dumps(model))
        knowledge = load_knowledge([root]) if not reader_fields else Knowledge(load_addon(root), reader_fields=True)
        assert dataset_filter("Endpoint.Processes", knowledge, "XmlWinEventLog") is None
        assert_found_both_ways(knowledge, [security(0, PATHS[0], COMMANDS[1], "alice", 4688)],
                               "process_name", "scrcons.exe")


def test_a_replace_with_an_alternative_outside_its_anchor_is_not_raw_text(own_addon, tmp_path):
    knowledge = addon_with(own_addon, tmp_path, "[source::XmlWinEventLog:Security]\n"
                                                'EVAL-original_file_name = replace(XX, "^(a)|c|b.*", "\\1")\n')
    event = generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))
    event = RawEvent(event.raw.replace("</EventData>", "<Data Name='XX'>acXb</Data></EventData>"),
                     event.source, event.sourcetype, event.origin)
    assert_found_both_ways(knowledge, [event], "original_file_name", "aX")


def test_an_event_code_from_a_data_element_passes_the_data_set_filter(tmp_path):
    """Without a System EventID the reader takes EventCode from a data element of that
    name: the built-in data-set filter keeps such an event, read from memory or a file."""
    event = generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))
    raw = event.raw.replace("<EventID>4688</EventID>", "").replace(
        "</EventData>", "<Data Name='EventCode'>4688</Data></EventData>")
    other = generated_event(1, ("C:\\w\\scrcons.exe", "", "", "")).raw.replace("4688", "4624")
    path = tmp_path / "events.xml"
    path.write_text("\n".join([other] * 3 + [raw] + [other] * 3) + "\n")
    spl = "| tstats count from datamodel=Endpoint.Processes by Processes.process_name"
    for events in ([RawEvent(raw, event.source, event.sourcetype, event.origin)], [str(path)]):
        unfiltered = run_search(spl, {}, events, knowledge=load_knowledge(), prefilter=False).rows
        assert unfiltered == [{"Processes.process_name": "scrcons.exe", "count": "1"}]
        assert run_search(spl, {}, events, knowledge=load_knowledge()).rows == unfiltered


def test_a_fallback_is_traced_where_the_reader_gave_an_empty_system_element(tmp_path):
    """The reader's own fields include empty System elements (<Keywords></Keywords>)."""
    root = tmp_path / "builtin_empty"
    shutil.copytree(BUILTIN, root)
    with (root / "default" / "props.conf").open("a") as props:
        props.write("\n[source::XmlWinEventLog:Security]\nFIELDALIAS-file = Keywords AS loaded_file\n"
                    'EVAL-other = if(isnull(Keywords), NewProcessName, replace(ZZ, "a", "b"))\n')
    path = root / "default" / "data" / "models" / "Endpoint.json"
    model = json.loads(path.read_text())
    processes = next(o for o in model["objects"] if o["objectName"] == "Processes")
    next(c for c in processes["calculations"]
         if c["outputFields"][0]["fieldName"] == "loaded_file")["expression"] = FILL.replace(
             "original_file_name", "loaded_file")
    path.write_text(json.dumps(model))
    event = generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))
    event = RawEvent(event.raw.replace("<Channel>", "<Keywords></Keywords><Channel>").replace(
        "</EventData>", "<Data Name='ZZ'>aaa</Data></EventData>"), event.source, event.sourcetype, event.origin)
    assert_found_both_ways(Knowledge(load_addon(root), reader_fields=True), [event], "loaded_file", "bbb")


@pytest.mark.parametrize("literal, text", [("1E3", "1000"), ("1e20", "100000000000000000000")])
def test_a_number_literal_is_the_constant_eval_writes(own_addon, tmp_path, literal, text):
    knowledge = addon_with(own_addon, tmp_path, "[source::XmlWinEventLog:Security]\n"
                                                f"EVAL-original_file_name = {literal}\n")
    assert_found_both_ways(knowledge, [generated_event(0, ("C:\\w\\scrcons.exe", "", "", ""))],
                           "original_file_name", text)
