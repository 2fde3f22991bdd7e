"""Replay: run_search over RawEvents and files, the pass rules of a detection test,
and the `test` / `replay` commands. Events here are written by these tests."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detpack.build.app import build_app
from detpack.replay.events import EventReadError, RawEvent
from detpack.cli import main as cli_main
from detpack.errors import replace
from detpack.replay.judge import judge
from detpack.replay.run import run_detection_test
from detpack.replay.search import DatasetFile, SearchResult, run_search
from detpack.spl import MacroDef, SplError

SYSMON = "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

MACROS = {
    "ctime(1)": MacroDef("ctime(1)", ("field",), 'convert timeformat="%Y-%m-%dT%H:%M:%S" ctime($field$)'),
}
SEARCH = ("| tstats fillnull_value=null count min(_time) as firstTime from datamodel=Endpoint.Processes "
          "where Processes.process_name=scrcons.exe by Processes.dest Processes.process_name "
          "| rename Processes.* as * | `ctime(firstTime)`")


def sysmon(event_id: int, image: str, computer: str = "HOST-1.lab", when: str = "2026-01-02T03:04:05.5Z") -> str:
    name = image.rpartition("\\")[2]
    return ("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
            "<Provider Name='Microsoft-Windows-Sysmon'/>"
            f"<EventID>{event_id}</EventID><TimeCreated SystemTime='{when}'/>"
            f"<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>{computer}</Computer></System>"
            f"<EventData><Data Name='Image'>{image}</Data><Data Name='CommandLine'>{name} -x</Data>"
            "<Data Name='User'>LAB\\svc</Data></EventData></Event>")


def raw(text: str, line: int = 1) -> RawEvent:
    return RawEvent(text, SYSMON, "XmlWinEventLog", f"mem:{line}")


def test_run_search_over_raw_events_counts_everything_read():
    events = [
        raw(sysmon(1, r"C:\Windows\System32\wbem\scrcons.exe"), 1),
        raw(sysmon(7, r"C:\Windows\System32\wbem\scrcons.exe"), 2),  # image load: not a process
        raw(sysmon(1, r"C:\Windows\System32\cmd.exe"), 3),           # rejected by the prefilter
    ]
    result = run_search(SEARCH, MACROS, events)
    assert result.rows == [{"dest": "HOST-1.lab", "process_name": "scrcons.exe", "count": "1",
                            "firstTime": "2026-01-02T03:04:05"}]
    assert result.columns == ["dest", "process_name", "count", "firstTime"]
    assert (result.events_read, result.events_skipped, result.problems) == (3, 0, [])


def test_malformed_events_are_skipped_and_reported_with_their_origin():
    broken = raw(sysmon(1, r"C:\x\scrcons.exe").replace("</System>", ""), 7)
    result = run_search(SEARCH, MACROS, [broken])
    assert result.events_skipped == 1
    assert result.problems[0].startswith("mem:7: malformed XML")


def test_out_of_range_time_is_a_bad_event_not_a_crash(tmp_path: Path):
    data = tmp_path / "y.xml.log"
    data.write_text(sysmon(1, r"C:\x\scrcons.exe", when="0000-03-10T10:00:01Z") + "\n")
    result = run_search(SEARCH, MACROS, [data])
    assert (result.rows, result.events_skipped) == ([], 1)
    assert result.problems == [f"{data}:1: TimeCreated SystemTime '0000-03-10T10:00:01Z' is not a valid time"]


def test_run_search_over_files_plain_and_gzip(tmp_path: Path):
    plain = tmp_path / "a.xml.log"
    plain.write_text(sysmon(1, r"C:\w\scrcons.exe", "A") + "\n", encoding="utf-8")
    zipped = tmp_path / "b.xml.log.gz"
    zipped.write_bytes(gzip.compress((sysmon(1, r"C:\w\SCRCONS.EXE", "B") + "\n").encode()))
    result = run_search(SEARCH, MACROS, [plain, DatasetFile(zipped, SYSMON, "XmlWinEventLog")])
    assert [(r["dest"], r["process_name"]) for r in result.rows] == [("A", "scrcons.exe"), ("B", "SCRCONS.EXE")]
    assert result.events_read == 2


def test_missing_file_raises(tmp_path: Path):
    with pytest.raises(EventReadError):
        run_search(SEARCH, MACROS, [tmp_path / "nope.log"])


def test_unsupported_spl_raises_before_reading():
    with pytest.raises(SplError, match="unknown lookup 'x'"):
        run_search("| tstats count from datamodel=Endpoint.Processes | lookup x y", {}, [Path("/nonexistent")])


def test_macros_can_be_conf_stanzas():
    from detpack.conf import parse_conf

    stanzas = parse_conf("[f]\ndefinition = search *\n", "macros.conf")
    result = run_search("| tstats count from datamodel=Endpoint.Processes | `f`", stanzas, [])
    assert result.rows == [{"count": "0"}]


def test_search_without_a_datamodel_sees_event_fields():
    result = run_search("| search EventCode=1 Image=*scrcons.exe | table Computer", {},
                        [raw(sysmon(1, r"C:\w\scrcons.exe", "A")), raw(sysmon(7, r"C:\w\scrcons.exe", "B"))])
    assert result.rows == [{"Computer": "A"}]

# --- pass rules ------------------------------------------------------------------------


def detection(message="Process $process_name$ on $dest$", drilldown="search dest=$dest$"):
    return SimpleNamespace(
        risk_message=message,
        risk_objects=[SimpleNamespace(field="dest"), SimpleNamespace(field="user")],
        drilldowns=[SimpleNamespace(name="View $dest$", search=drilldown, earliest_offset="$info_min_time$")],
    )


def result_of(rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return SearchResult(rows, columns, len(rows), 0, [])


GOOD = [{"dest": "h", "user": "u", "process_name": "p"}]


def test_positive_test_passes_with_complete_rows():
    assert judge(detection(), SimpleNamespace(expected_count=None, positive=True), result_of(GOOD)) == []


def test_positive_test_needs_results():
    assert judge(detection(), SimpleNamespace(expected_count=None, positive=True), result_of([])) == ["no results"]


def test_risk_object_null_or_missing_fails():
    rows = [GOOD[0], {"dest": "h", "user": "null", "process_name": "p"}, {"dest": "h", "process_name": "p"}]
    reasons = judge(detection(), SimpleNamespace(expected_count=None, positive=True), result_of(rows))
    assert reasons == ["risk object field 'user' is missing or null in result(s) 2, 3"]


def test_tokens_must_be_result_fields():
    reasons = judge(detection("On $host$ by $dest$", "x $nope$"),
                    SimpleNamespace(expected_count=None, positive=True), result_of(GOOD))
    assert reasons == ["risk message: token(s) $host$ are not result fields",
                       "drilldown 'View $dest$': token(s) $nope$ are not result fields"]


def test_expected_count_is_exact():
    negative = SimpleNamespace(expected_count=0, positive=False)
    assert judge(detection(), negative, result_of([])) == []
    assert judge(detection(), negative, result_of(GOOD)) == ["expected 0 result(s), got 1"]
    two = SimpleNamespace(expected_count=2, positive=True)
    assert judge(detection(), two, result_of(GOOD)) == ["expected 2 result(s), got 1"]

# --- against the built app -----------------------------------------------------------------


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return build_app(PROJECT_ROOT, tmp_path_factory.mktemp("built"), sync_committed=False)


def test_every_shipped_detection_test_passes(build):
    for d in build.pack.detections:
        for t in d.tests:
            outcome = run_detection_test(build, d, t)
            assert outcome.passed, (d.name, t.name, outcome.reasons)


def test_the_search_that_runs_is_the_built_stanza(build, tmp_path):
    import shutil

    app = tmp_path / "app"
    shutil.copytree(build.app_dir, app)
    conf = app / "default" / "savedsearches.conf"
    conf.write_text(conf.read_text().replace("process_name=scrcons.exe", "process_name=nothing.exe"))
    d = build.pack.detections[0]
    positive = next(t for t in d.tests if t.positive)
    outcome = run_detection_test(replace(build, app_dir=app), d, positive)
    assert not outcome.passed and "no results" in outcome.reasons


def test_macros_come_from_the_built_macros_conf(build, tmp_path):
    import shutil

    app = tmp_path / "app"
    shutil.copytree(build.app_dir, app)
    (app / "default" / "macros.conf").write_text("")
    d = build.pack.detections[0]
    outcome = run_detection_test(replace(build, app_dir=app), d, d.tests[0])
    assert not outcome.passed and "undefined macro" in outcome.reasons[0]

# --- commands ----------------------------------------------------------------------------------


def command(argv: list[str]) -> int:
    return cli_main(argv)


@pytest.fixture
def content(build, pack_copy):
    return pack_copy


def test_test_command_passes_and_writes_junit(content, tmp_path, capsys):
    junit = tmp_path / "out" / "junit.xml"
    assert command(["test", "--content", str(content), "--junit", str(junit)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("PASS ") for line in lines)
    assert 'failures="0"' in junit.read_text()


def test_test_command_fails_with_reasons(content, capsys):
    for data in (content / "attack_data").rglob("positive_*.log"):
        data.write_text(sysmon(1, r"C:\w\cmd.exe") + "\n")
    assert command(["test", "--content", str(content)]) == 1
    assert ("FAIL Script Execution via WMI / True Positive Test - Sysmon EventID 1: expected 3 result(s), got 0; no results"
            in capsys.readouterr().out)


def test_test_command_says_how_many_problems_were_not_listed(content, capsys, monkeypatch):
    from detpack.replay import events

    monkeypatch.setattr(events, "MAX_STORED_PROBLEMS", 1)
    for data in (content / "attack_data").rglob("positive_sysmon.xml.log"):
        with data.open("a", encoding="utf-8") as handle:
            handle.write("<Event>a\n<Event>b\n<Event>c\n")
    assert command(["test", "--content", str(content)]) == 1
    out = capsys.readouterr().out
    assert "unterminated <Event> (a new event starts at line" in out and "; ... and 2 more bad event(s)" in out


def test_test_command_missing_data_is_invalid_input(content, capsys):
    for data in (content / "attack_data").rglob("positive_sysmon.xml.log"):
        data.unlink()
    assert command(["test", "--content", str(content)]) == 2
    assert "positive_sysmon.xml.log" in capsys.readouterr().err


def test_a_junit_report_that_cannot_be_written_is_one_line_and_exit_2(content, tmp_path, capsys):
    """``--junit`` under a file: the command line's problem, said on one line after the verdicts, not a traceback."""
    (tmp_path / "file").write_text("")
    junit = tmp_path / "file" / "junit.xml"
    assert command(["test", "--content", str(content), "--junit", str(junit)]) == 2
    said = capsys.readouterr()
    assert said.err.splitlines() == [f"error: --junit {junit}: cannot be written: File exists: {tmp_path / 'file'}"], said.err
    assert said.out.startswith("PASS ")


def test_a_junit_report_where_a_folder_is_names_that_folder_not_a_temporary_file(content, tmp_path, capsys):
    """``--junit`` naming a folder: the line names the path given, not the hidden file written beside it first."""
    junit = tmp_path / "reports"
    junit.mkdir()
    assert command(["test", "--content", str(content), "--junit", str(junit)]) == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --junit {junit}: cannot be written: Is a directory"]
    assert not list(junit.iterdir()) and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_test_command_invalid_content_exits_2(tmp_path, capsys):
    assert command(["test", "--content", str(tmp_path)]) == 2


def write_events(path: Path, *events: str) -> Path:
    path.write_text("".join(e + "\n" for e in events), encoding="utf-8")
    return path


def test_replay_json(content, tmp_path, capsys):
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe", "H"), sysmon(3, r"C:\w\scrcons.exe"))
    assert command(["replay", str(data), "--content", str(content), "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert doc["detection"] == "Script Execution via WMI"
    assert (doc["events_read"], doc["events_skipped"]) == (2, 0)
    assert [r["dest"] for r in doc["results"]] == ["H"]
    assert doc["results"][0]["firstTime"] == "2026-01-02T03:04:05"


def test_replay_table_and_bad_events(content, tmp_path, capsys):
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe", "H"), "<Event>broken")
    assert command(["replay", str(data), "--content", str(content), "--detection", "script_execution_via_wmi"]) == 0
    captured = capsys.readouterr()
    out = captured.out.splitlines()
    assert out[1] == "dest,user,parent_process,process_name,process,process_id,parent_process_id,count,firstTime,lastTime"
    assert out[2].startswith("H,LAB\\svc,unknown,scrcons.exe,scrcons.exe -x,")
    assert f"{data}:2:" in captured.err


def test_replay_strict_exits_2_on_a_bad_event(content, tmp_path, capsys):
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe", "H"), "<Event>broken")
    assert command(["replay", str(data), "--content", str(content), "--strict"]) == 2
    assert capsys.readouterr().out == ""


def test_replay_strict_reports_bad_events_a_prefilter_would_drop(content, tmp_path, capsys):
    broken_other = sysmon(1, r"C:\w\cmd.exe").replace("</System>", "")
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe", "H"), broken_other)
    assert command(["replay", str(data), "--content", str(content)]) == 0
    assert capsys.readouterr().err == ""
    assert command(["replay", str(data), "--content", str(content), "--strict"]) == 2
    assert f"{data}:2: malformed XML" in capsys.readouterr().err


def test_replay_help_says_what_strict_does(capsys):
    with pytest.raises(SystemExit):
        command(["replay", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--strict parse every event (no raw-text prefilters" in help_text


def test_replay_says_how_many_problems_were_not_printed(content, tmp_path, capsys, monkeypatch):
    from detpack.replay import events

    monkeypatch.setattr(events, "MAX_STORED_PROBLEMS", 1)
    data = write_events(tmp_path / "e.xml.log", "<Event>a", "<Event>b", "<Event>c")
    assert command(["replay", str(data), "--content", str(content)]) == 0
    assert capsys.readouterr().err.splitlines() == [
        f"{data}:1: unterminated <Event> (a new event starts at line 2)", "... and 2 more bad event(s)"]


def test_replay_unknown_detection_or_missing_dataset_exits_2(content, tmp_path, capsys):
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe"))
    assert command(["replay", str(data), "--content", str(content), "--detection", "nope"]) == 2
    assert command(["replay", str(tmp_path / "missing.log"), "--content", str(content)]) == 2
    err = capsys.readouterr().err
    assert "no detection named or with id 'nope'" in err and "missing.log: no such file" in err


def test_progress_is_reported_at_least_once_with_the_final_figures():
    seen = []
    run_search(SEARCH, MACROS, [raw(sysmon(1, r"C:\w\scrcons.exe"))], progress=lambda s: seen.append(s.events_read))
    assert seen and seen[-1] == 1

# --- the data-set prefilter ------------------------------------------------------------------


def test_dataset_filter_keeps_tagged_event_codes_only():
    from detpack.replay.search import dataset_filter

    candidate = dataset_filter("Endpoint.Processes")
    assert candidate(sysmon(1, r"C:\w\a.exe"))
    assert not candidate(sysmon(7, r"C:\w\a.exe"))
    assert candidate("<Event><System><EventID Qualifiers='0'>4688</EventID></System></Event>")
    assert candidate("<Event><System><EventID>7</EventID><EventID>1</EventID></System></Event>")
    assert not candidate("<Event><System></System><EventData>1</EventData></Event>")
    assert dataset_filter(None) is None


def test_dataset_filter_never_drops_an_event_of_the_data_set():
    from detpack.replay.events import ReadStats, parse_event, read_events
    from detpack.replay.search import dataset_filter, default_knowledge

    knowledge = default_knowledge()
    dataset = knowledge.datasets["Endpoint.Processes"]
    candidate, checked = dataset_filter("Endpoint.Processes"), 0
    for path in sorted((PROJECT_ROOT / "attack_data").rglob("*.xml.log")):
        for event in read_events(path, stats=ReadStats()):
            fields = parse_event(event)
            if fields is not None and knowledge.row(dataset, fields, None) is not None:
                checked += 1
                assert candidate(event.raw), event.origin
    assert checked > 0


def test_prefilter_rejects_before_parsing():
    broken_other = raw(sysmon(1, r"C:\w\cmd.exe").replace("</System>", ""), 2)
    assert run_search(SEARCH, MACROS, [broken_other]).events_skipped == 0
    everything = SEARCH.replace("process_name=scrcons.exe", "process_name=*")
    assert run_search(everything, MACROS, [broken_other]).events_skipped == 1


def test_entity_decoding_turns_the_raw_text_prefilters_off(monkeypatch):
    from detpack.replay import events

    encoded = raw(sysmon(1, r"C:\w\&#115;crcons.exe").replace("<EventID>1<", "<EventID>&#49;<"))
    assert run_search(SEARCH, MACROS, [encoded]).rows == []
    monkeypatch.setattr(events, "DECODE_ENTITIES", True)
    rows = run_search(SEARCH, MACROS, [encoded]).rows
    assert [(r["dest"], r["process_name"]) for r in rows] == [("HOST-1.lab", "scrcons.exe")]


# Names mixing case, wildcards-adjacent text, entities, the normaliser's constants, and
# letters whose lower-casing depends on context or grows (final sigma, dotted/dotless i, ß).
NAMES = ["scrcons.exe", "SCRCONS.EXE", "ScrCons.exe", "xscrcons.exe", "a&amp;b.exe", "&#115;crcons.exe", "unknown",
         "cmd.exe", "", "ΟΔΟΣ", "ΟΔΟΣ.exe", "οδος.exe", "ıd.exe", "İD.exe", "id.exe", "straße.exe"]
PATTERNS = ["scrcons.exe", "*cons*", "SCR*.EXE", "a&b.exe", "a&amp;b.exe", "unknown", "unk*", "*", "cmd.exe",
            "*Σ", "*Σ.EXE", "ΟΔΟΣ.EXE", "*ος*", "İd.exe", "ID.EXE", "*ı*", "*SS*", "STRASSE.EXE"]


def test_case_insensitive_matching_is_the_same_with_or_without_wildcards():
    """Every name ends in .exe, so a literal ending in .exe and the same literal with its
    last letter made a wildcard must agree: one comparison for both matcher paths."""
    from detpack.spl.evaluate import value_matcher

    names = [n for n in NAMES if n.lower().endswith(".exe")] + ["οδοσ.exe"]
    literals = [p for p in PATTERNS if "*" not in p and p.lower().endswith(".exe")]
    for pattern in literals:
        literal, wildcard = value_matcher(pattern), value_matcher(pattern[:-1] + "*")
        for name in names:
            assert literal(name) == wildcard(name), (pattern, name)
    assert value_matcher("ΟΔΟΣ.EXE")("οδοσ.exe") and value_matcher("ΟΔΟΣ.EXE")("οδος.exe")


def test_prefilter_keeps_a_final_sigma_the_matcher_matches():
    events = [raw(sysmon(1, "C:\\w\\ΟΔΟΣ"))]  # lower() makes this Σ a final ς in _raw
    spl = SEARCH.replace("process_name=scrcons.exe", 'process_name="*Σ"')
    assert [r["process_name"] for r in run_search(spl, MACROS, events).rows] == ["ΟΔΟΣ"]


@settings(max_examples=100, deadline=None)
@given(names=st.lists(st.sampled_from(NAMES), max_size=6), event_ids=st.lists(st.sampled_from([1, 5, 7, 10]), max_size=6),
       pattern=st.sampled_from(PATTERNS), decode=st.booleans())
def test_prefilters_never_change_results(names, event_ids, pattern, decode):
    from detpack.replay import events as events_module

    events = [raw(sysmon(eid, "C:\\w\\" + name if name else "", f"H{i}"), i)
              for i, (name, eid) in enumerate(zip(names, event_ids))]
    spl = SEARCH.replace("process_name=scrcons.exe", f'process_name="{pattern}"')
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events_module, "DECODE_ENTITIES", decode)
        filtered = run_search(spl, MACROS, events)
        unfiltered = run_search(spl, MACROS, events, prefilter=False)
    assert filtered.rows == unfiltered.rows


@pytest.mark.parametrize("events", [
    [sysmon(1, r"C:\w\cmd.exe", "A"), sysmon(1, r"C:\w\notepad.exe", "B")],            # no line holds the needle
    [sysmon(1, r"C:\w\cmd.exe", "A"), sysmon(1, r"C:\w\SCRCONS.EXE", "B").replace("><", ">\n<")],  # multi-line
    [sysmon(1, r"C:\w\ScrCons.exe", "A"), sysmon(1, r"C:\w\cmd.exe", "ΟΔΟΣ")],          # not ASCII
])
def test_whole_block_prefilter_agrees_with_each_event_and_counts_them(tmp_path, events):
    data = write_events(tmp_path / "e.xml.log", *events)
    filtered = run_search(SEARCH, MACROS, [DatasetFile(data, SYSMON, "XmlWinEventLog")])
    unfiltered = run_search(SEARCH, MACROS, [DatasetFile(data, SYSMON, "XmlWinEventLog")], prefilter=False)
    assert filtered.rows == unfiltered.rows and filtered.events_read == unfiltered.events_read == 2


# --- join: the subsearch reads the events again ----------------------------------------


def test_join_subsearch_reads_the_events_again_through_its_own_data_model():
    # The main search's prefilter keeps only scrcons.exe events; the subsearch counts every
    # process per host, so it must see the events the prefilter dropped.
    events = [raw(sysmon(1, r"C:\w\scrcons.exe", "A"), 1), raw(sysmon(1, r"C:\w\cmd.exe", "A"), 2),
              raw(sysmon(1, r"C:\w\cmd.exe", "B"), 3)]
    spl = (SEARCH + " | join type=left dest [| tstats count as n from datamodel=Endpoint.Processes "
           "by Processes.dest | rename Processes.* as *] | table dest process_name n")
    result = run_search(spl, MACROS, iter(events))  # a one-shot iterable, as a caller may give
    assert result.rows == [{"dest": "A", "process_name": "scrcons.exe", "n": "2"}]
    assert result.events_read == 3  # the subsearch's second reading is not counted again


def test_join_subsearch_over_files(tmp_path: Path):
    data = write_events(tmp_path / "e.xml.log", sysmon(1, r"C:\w\scrcons.exe", "A"), sysmon(7, r"C:\w\x.dll", "A"))
    spl = ("| search EventCode=1 | table Computer | join Computer "
           "[| search EventCode=7 | stats count as loads by Computer]")
    assert run_search(spl, {}, [data]).rows == [{"Computer": "A", "loads": "1"}]


def test_a_search_too_deep_to_plan_is_a_one_line_error(monkeypatch):
    from detpack.replay import search as search_module

    def overflow(*args, **kwargs):
        raise RecursionError

    monkeypatch.setattr(search_module, "plan_search", overflow)
    with pytest.raises(SplError, match="search nested too deeply for this engine"):
        run_search("| search x", {}, [])


# The prefilters are sound for any WHERE clause: negations, OR, IN, !=, wildcards and
# characters that need escaping, over several fields, must never change the results.
PREFILTER_FIELDS = ["process_name", "process", "user", "dest", "parent_process_name"]
ODD_PATTERNS = PATTERNS + ['a"b', "x y", "C:\\w\\*", "*\\*", "<b>", "'", "*.EXE*", "LAB\\*"]


def spl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


atoms = st.one_of(
    st.builds(lambda f, op, p: f"Processes.{f}{op}{spl_string(p)}",
              st.sampled_from(PREFILTER_FIELDS), st.sampled_from(["=", "!="]), st.sampled_from(ODD_PATTERNS)),
    st.builds(lambda f, ps: f"Processes.{f} IN ({', '.join(map(spl_string, ps))})",
              st.sampled_from(PREFILTER_FIELDS), st.lists(st.sampled_from(ODD_PATTERNS), min_size=1, max_size=3)),
)
where_clauses = st.recursive(atoms, lambda inner: st.one_of(
    st.builds(lambda a: f"NOT {a}", inner),
    st.builds(lambda a, b: f"({a} OR {b})", inner, inner),
    st.builds(lambda a, b: f"{a} {b}", inner, inner),
), max_leaves=4)


@settings(max_examples=150, deadline=None)
@given(names=st.lists(st.sampled_from(NAMES + ['a"b.exe', "x y.exe", "<b>.exe"]), min_size=1, max_size=5),
       users=st.lists(st.sampled_from(["LAB\\svc", "a\"b", "x y", "LAB\\ΟΔΟΣ"]), min_size=5, max_size=5),
       where=where_clauses, decode=st.booleans())
def test_prefilters_never_change_results_for_any_where_clause(names, users, where, decode):
    from xml.sax.saxutils import escape

    from detpack.replay import events as events_module

    events = [raw(sysmon(1, "C:\\w\\" + name, f"H{i}").replace("LAB\\svc", escape(user, {'"': "&quot;"})), i)
              for i, (name, user) in enumerate(zip(names, users))]
    spl = ("| tstats count from datamodel=Endpoint.Processes where " + where +
           " by Processes.dest Processes.process_name Processes.user")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(events_module, "DECODE_ENTITIES", decode)
        filtered = run_search(spl, {}, events)
        unfiltered = run_search(spl, {}, events, prefilter=False)
    assert filtered.rows == unfiltered.rows
