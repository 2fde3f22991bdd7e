"""Helpers for the splunk-test harness tests (part of the TEST DOUBLE package): a small content pack with
events written here, add-on packages, and a way to run the command against the Splunk test double."""
from __future__ import annotations

import io
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

from detpack.cli import main

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "Pw-double-7f3a9c"
TEST_DIR = "attack_data/script_execution_via_wmi"

SYSMON_PROCESS = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Sysmon' Guid='{{5770385f-c22a-43e0-bf4c-06f5698ffbd9}}'/>"
    "<EventID>{eid}</EventID><Version>5</Version><Level>4</Level><Task>1</Task><Opcode>0</Opcode>"
    "<Keywords>0x8000000000000000</Keywords><TimeCreated SystemTime='2024-05-01T10:{minute:02d}:00.250000000Z'/>"
    "<EventRecordID>{record}</EventRecordID><Correlation/><Execution ProcessID='2100' ThreadID='3100'/>"
    "<Channel>Microsoft-Windows-Sysmon/Operational</Channel><Computer>{host}</Computer><Security UserID='S-1-5-18'/>"
    "</System><EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>2024-05-01 10:{minute:02d}:00.250</Data>"
    "<Data Name='ProcessGuid'>{{11111111-2222-3333-4444-{record:012d}}}</Data><Data Name='ProcessId'>{pid}</Data>"
    "<Data Name='Image'>{image}</Data><Data Name='CommandLine'>{image} -Embedding</Data>"
    "<Data Name='CurrentDirectory'>C:\\Windows\\system32\\</Data><Data Name='User'>EXAMPLE\\{user}</Data>"
    "<Data Name='IntegrityLevel'>System</Data><Data Name='ParentProcessGuid'>{{11111111-2222-3333-4444-000000000001}}</Data>"
    "<Data Name='ParentProcessId'>812</Data><Data Name='ParentImage'>C:\\Windows\\System32\\svchost.exe</Data>"
    "<Data Name='ParentCommandLine'>C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p</Data></EventData></Event>"
)

SECURITY_4688 = (
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
    "<Provider Name='Microsoft-Windows-Security-Auditing' Guid='{{54849625-5478-4994-a5ba-3e3b0328c30d}}'/>"
    "<EventID>4688</EventID><Version>2</Version><Level>0</Level><Task>13312</Task><Opcode>0</Opcode>"
    "<Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2024-05-01T11:{minute:02d}:30.000000000Z'/>"
    "<EventRecordID>{record}</EventRecordID><Correlation/><Execution ProcessID='4' ThreadID='96'/>"
    "<Channel>Security</Channel><Computer>{host}</Computer><Security/></System><EventData>"
    "<Data Name='SubjectUserSid'>S-1-5-18</Data><Data Name='SubjectUserName'>{user}</Data>"
    "<Data Name='SubjectDomainName'>EXAMPLE</Data><Data Name='SubjectLogonId'>0x3e7</Data>"
    "<Data Name='NewProcessId'>0x{pid:x}</Data><Data Name='NewProcessName'>{image}</Data>"
    "<Data Name='TokenElevationType'>%%1936</Data><Data Name='ProcessId'>0x32c</Data>"
    "<Data Name='CommandLine'>{image} -Embedding</Data><Data Name='TargetUserSid'>S-1-0-0</Data>"
    "<Data Name='TargetUserName'>-</Data><Data Name='TargetDomainName'>-</Data><Data Name='TargetLogonId'>0x0</Data>"
    "<Data Name='ParentProcessName'>C:\\Windows\\System32\\svchost.exe</Data>"
    "<Data Name='MandatoryLabel'>S-1-16-16384</Data></EventData></Event>"
)

SCRCONS = "C:\\Windows\\System32\\wbem\\scrcons.exe"
NOTEPAD = "C:\\Windows\\System32\\notepad.exe"


def sysmon(record: int, image: str, eid: int = 1, host: str = "ws01.example.test", user: str = "alice") -> str:
    return SYSMON_PROCESS.format(eid=eid, minute=record % 60, record=record, host=host, pid=4000 + record,
                                 image=image, user=user)


def security(record: int, image: str, host: str = "ws02.example.test", user: str = "WS02$") -> str:
    return SECURITY_4688.format(minute=record % 60, record=record, host=host, pid=5000 + record, image=image, user=user)


HARNESS_TESTS = f"""tests:
- name: True Positive Test - Sysmon EventID 1
  attack_data:
  - data: {TEST_DIR}/positive_sysmon.xml.log
    source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational
    sourcetype: XmlWinEventLog
- name: True Positive Test - Windows Security 4688
  attack_data:
  - data: {TEST_DIR}/positive_security.xml.log
    source: XmlWinEventLog:Security
    sourcetype: XmlWinEventLog
- name: True Negative Test - look-alikes and non-process events
  expected_count: 0
  attack_data:
  - data: {TEST_DIR}/negative_lookalikes.xml.log
    source: XmlWinEventLog:Microsoft-Windows-Sysmon/Operational
    sourcetype: XmlWinEventLog
"""


def write_pack(root: Path, benign_events: int = 3) -> Path:
    """A copy of the project's content whose detection has three tests over this file's own events."""
    for name in ("detections", "stories", "macros"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    shutil.copy(PROJECT_ROOT / "contentctl.yml", root / "contentctl.yml")
    detection = root / "detections" / "endpoint" / "script_execution_via_wmi.yml"
    text = detection.read_text()
    detection.write_text(text[: text.index("\ntests:\n") + 1] + HARNESS_TESTS)
    data = root / TEST_DIR
    data.mkdir(parents=True)
    benign = [sysmon(100 + n, NOTEPAD) for n in range(benign_events)]
    (data / "positive_sysmon.xml.log").write_text("\n".join([sysmon(1, SCRCONS), *benign]) + "\n")
    (data / "positive_security.xml.log").write_text("\n".join([security(2, SCRCONS), security(3, NOTEPAD)]) + "\n")
    (data / "negative_lookalikes.xml.log").write_text(
        "\n".join([sysmon(4, NOTEPAD), sysmon(5, SCRCONS, eid=7), sysmon(6, "C:\\Temp\\scrcons.exe.bak")]) + "\n")
    return root


def app_package(folder: Path, name: str, files: dict[str, str]) -> Path:
    """A gzip tar add-on package holding ``name/<path>`` for each file."""
    path = folder / f"{name}.tgz"
    with tarfile.open(path, "w:gz") as tar:
        for relative, text in {"default/app.conf": f"[package]\nid = {name}\n", **files}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{relative}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def cim_addon(folder: Path) -> Path:
    """Stands in for the CIM add-on: it only declares the Endpoint data model."""
    return app_package(folder, "Splunk_SA_CIM", {"default/data/models/Endpoint.json": '{"modelName": "Endpoint"}'})


@dataclass
class Outcome:
    code: int
    stderr: str


def run_cli(argv: list[str], monkeypatch, capsys, env: dict[str, str] | None = None) -> Outcome:
    """``build.py splunk-test ARGV`` through the command line's own parser."""
    for key in ("SPLUNK_PASSWORD", "SPLUNK_HEC_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = main(["splunk-test", *argv])
    return Outcome(code, capsys.readouterr().err)
