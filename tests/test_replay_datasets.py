"""The shipped detection over real third-party recordings (read from ../shared/datasets;
skipped visibly when absent). Needs the real build of this project's content."""
from __future__ import annotations

from pathlib import Path

import pytest

from detpack.build.app import build_app
from detpack.build.render import search_stanza_name
from detpack.replay.run import shipped_macros, shipped_search
from detpack.replay.search import DatasetFile, run_search

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LABELS = {  # how a forwarder labels the files (datasets/README.md)
    "sysmon": "XmlWinEventLog:Microsoft-Windows-Sysmon/Operational",
    "security": "XmlWinEventLog:Security",
}
COVENANT = "otrf_covenant_wmi_asec"
SCRCONS = r"C:\windows\system32\wbem\scrcons.exe -Embedding"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    build = build_app(PROJECT_ROOT, tmp_path_factory.mktemp("built"), sync_committed=False)
    detection = build.pack.detection("Script Execution via WMI")
    spl = shipped_search(build.app_dir, search_stanza_name(build.pack.app, detection))
    return spl, shipped_macros(build.app_dir)


def files(folder: Path, kind: str | None = None) -> list[DatasetFile]:
    found = sorted(p for p in folder.glob("*.xml.log*") if kind is None or p.name.startswith(kind))
    return [DatasetFile(p, LABELS[p.name.split(".")[0]], "XmlWinEventLog") for p in found]


def test_covenant_recording_yields_scrcons_on_workstation6_from_both_sources(shipped, shared_datasets):
    spl, macros = shipped
    result = run_search(spl, macros, files(shared_datasets / COVENANT))
    assert result.events_read == 3693 and result.events_skipped == 0
    assert [(r["dest"], r["process_name"], r["process"], r["firstTime"]) for r in result.rows] == [
        ("WORKSTATION6.theshire.local", "scrcons.exe", SCRCONS, "2020-09-02T01:44:10"),
        ("WORKSTATION6.theshire.local", "scrcons.exe", SCRCONS, "2020-09-02T01:44:11"),
    ]


@pytest.mark.parametrize("kind, parent", [
    ("sysmon", r"C:\windows\system32\svchost.exe -k DcomLaunch -p"),
    ("security", r"C:\Windows\System32\svchost.exe"),  # 4688: the Windows add-on's ParentProcessName
])
def test_covenant_each_source_gives_one_row(shipped, shared_datasets, kind, parent):
    spl, macros = shipped
    (row,) = run_search(spl, macros, files(shared_datasets / COVENANT, kind)).rows
    assert (row["dest"], row["parent_process"], row["count"]) == ("WORKSTATION6.theshire.local", parent, "1")


@pytest.mark.parametrize("folder", ["splunk_attack_data_art", "otrf_atomic_host"])
def test_other_recordings_yield_nothing(shipped, shared_datasets, folder):
    spl, macros = shipped
    if not (shared_datasets / folder).is_dir():
        pytest.skip(f"dataset {folder} not present")
    result = run_search(spl, macros, files(shared_datasets / folder))
    assert result.rows == [] and result.events_read > 20000
