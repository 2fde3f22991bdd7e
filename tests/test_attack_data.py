"""The project's own attack data: manifest shape, files present and clean, expectations consistent."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from detpack.build.app import build_app
from detpack.replay.events import ReadStats, parse_event, read_events
from detpack.build.render import search_stanza_name
from detpack.replay.run import shipped_macros, shipped_search
from detpack.replay.search import DatasetFile, run_search

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ROOT = PROJECT_ROOT / "attack_data"
MANIFEST = ROOT / "manifest.yml"
ENTRY_KEYS = {"file", "detection", "source", "sourcetype", "events", "covers", "expected_count", "expected_rows"}
BY = ("dest", "user", "parent_process", "process_name", "process", "process_id", "parent_process_id")
ROW_KEYS = set(BY) | {"count", "firstTime", "lastTime"}


def entries() -> list[dict]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))["datasets"]


ENTRIES = entries()
IDS = [e["file"] for e in ENTRIES]


def test_manifest_shape():
    assert ENTRIES, "manifest lists no datasets"
    for entry in ENTRIES:
        assert set(entry) == ENTRY_KEYS, entry["file"]
        assert isinstance(entry["events"], int) and entry["events"] > 0
        assert entry["expected_count"] == len(entry["expected_rows"])
        for row in entry["expected_rows"]:
            assert set(row) == ROW_KEYS and all(isinstance(row[k], str) for k in ROW_KEYS - {"count"})
            assert isinstance(row["count"], int) and row["count"] > 0


def test_every_data_file_is_listed_once():
    on_disk = sorted(str(p.relative_to(ROOT)) for p in ROOT.rglob("*.xml.log*"))
    assert sorted(IDS) == on_disk


def read_entry(entry: dict) -> tuple[list[dict], ReadStats]:
    stats = ReadStats()
    parsed = [parse_event(e, stats=stats) for e in read_events(ROOT / entry["file"], stats=stats)]
    return parsed, stats


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_file_reads_and_parses_without_bad_events(entry):
    parsed, stats = read_entry(entry)
    assert (stats.events_read, stats.events_skipped, stats.problems) == (entry["events"], 0, [])
    assert {f["source"] for f in parsed} == {entry["source"]}
    assert {f["sourcetype"] for f in parsed} == {entry["sourcetype"]}
    assert all(f["Computer"].endswith(".example.local") for f in parsed)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_app(PROJECT_ROOT, tmp_path_factory.mktemp("built"), sync_committed=False)


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_expected_rows_are_what_the_shipped_search_returns(built, entry):
    """The engine over the file alone, with the BUILT app's search and macros."""
    detection = built.pack.detection(entry["detection"])
    spl = shipped_search(built.app_dir, search_stanza_name(built.pack.app, detection))
    dataset = DatasetFile(ROOT / entry["file"], entry["source"], entry["sourcetype"])
    result = run_search(spl, shipped_macros(built.app_dir), [dataset])
    assert (result.events_read, result.events_skipped) == (entry["events"], 0)
    expected = [{k: str(v) for k, v in row.items()} for row in entry["expected_rows"]]
    assert len(result.rows) == len(expected) == entry["expected_count"]
    for number, (got, wanted) in enumerate(zip(result.rows, expected), 1):
        assert list(got.items()) == list(wanted.items()), f"row {number}"


def test_positives_cover_the_required_shapes():
    positives = [e for e in ENTRIES if e["expected_count"] > 0]
    raw = {e["file"]: (ROOT / e["file"]).read_bytes() for e in positives}
    assert any(b"\r\n" in data for data in raw.values()), "no CRLF file among the positives"
    multi_line = [ev for e in positives for ev in read_events(ROOT / e["file"], stats=ReadStats()) if "\n" in ev.raw]
    assert multi_line, "no multi-line event among the positives"
    rows = [r for e in positives for r in e["expected_rows"]]
    assert {r["process_name"] for r in rows} >= {"scrcons.exe", "SCRCONS.EXE", "ScrCons.exe"}
    assert any(r["count"] > 1 for r in rows)
    assert any("SysWOW64" in r["process"] for r in rows)
    sources = {e["source"] for e in positives}
    assert sources == {"XmlWinEventLog:Microsoft-Windows-Sysmon/Operational", "XmlWinEventLog:Security"}


def test_committed_files_are_what_the_generator_writes():
    script = ROOT / "script_execution_via_wmi" / "generate.py"
    spec = importlib.util.spec_from_file_location("generate_attack_data", script)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    for name, data in generator.contents().items():
        assert (script.parent / name).read_bytes() == data, name
