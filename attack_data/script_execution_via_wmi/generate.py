"""Writes this folder's synthetic XmlWinEventLog files (run from anywhere; output is committed).

Every event is invented here: hosts in example.local, made-up GUIDs, hashes and
record ids. The layout follows what a Splunk forwarder indexes for
renderXml=true inputs: one <Event> per line, single-quoted attributes.
"""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSMON_PROVIDER = "<Provider Name='Microsoft-Windows-Sysmon' Guid='{5770385f-c22a-43e0-bf4c-06f5698ffbd9}'/>"
SECURITY_PROVIDER = ("<Provider Name='Microsoft-Windows-Security-Auditing' "
                     "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>")
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
WBEM64 = "C:\\Windows\\System32\\wbem\\"
WBEM32 = "C:\\Windows\\SysWOW64\\wbem\\"
SVCHOST = "C:\\Windows\\System32\\svchost.exe"
DCOM = "C:\\Windows\\system32\\svchost.exe -k DcomLaunch -p"
SYSTEM = "NT AUTHORITY\\SYSTEM"

_record = iter(range(70001, 80000))


def guid(seed: str) -> str:
    return "{" + str(uuid.uuid5(uuid.NAMESPACE_DNS, seed + ".example.local")) + "}"


def hashes(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest().upper()
    return f"SHA256={digest},IMPHASH={digest[:32]}"


def event(provider: str, code: int, task: int, keywords: str, when: str, channel: str,
          computer: str, security: str, data: dict[str, str]) -> str:
    body = "".join(f"<Data Name='{k}'>{v}</Data>" for k, v in data.items())
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        f"{provider}<EventID>{code}</EventID><Version>5</Version><Level>4</Level>"
        f"<Task>{task}</Task><Opcode>0</Opcode><Keywords>{keywords}</Keywords>"
        f"<TimeCreated SystemTime='{when}'/><EventRecordID>{next(_record)}</EventRecordID>"
        "<Correlation/><Execution ProcessID='2980' ThreadID='3312'/>"
        f"<Channel>{channel}</Channel><Computer>{computer}</Computer>{security}</System>"
        f"<EventData>{body}</EventData></Event>"
    )


def sysmon(code: int, when: str, computer: str, data: dict[str, str]) -> str:
    return event(SYSMON_PROVIDER, code, code, "0x8000000000000000", when, SYSMON_CHANNEL,
                 computer, "<Security UserID='S-1-5-18'/>", data)


def sysmon_start(when, computer, image, command, pid, parent_image, parent_command, ppid,
                 user=SYSTEM, original="ScrCons.exe") -> str:
    return sysmon(1, when, computer, {
        "RuleName": "-", "UtcTime": when[:23].replace("T", " "),
        "ProcessGuid": guid(f"{computer}/{pid}/{when}"), "ProcessId": pid, "Image": image,
        "FileVersion": "10.0.19041.1 (WinBuild.160101.0800)",
        "Description": "WMI Standard Event Consumer - scripting", "Product": "Microsoft® Windows® Operating System",
        "Company": "Microsoft Corporation", "OriginalFileName": original, "CommandLine": command,
        "CurrentDirectory": "C:\\Windows\\system32\\", "User": user,
        "LogonGuid": guid(f"{computer}/logon"), "LogonId": "0x3e7", "TerminalSessionId": "0",
        "IntegrityLevel": "System", "Hashes": hashes(image.lower()),
        "ParentProcessGuid": guid(f"{computer}/{ppid}"), "ParentProcessId": ppid,
        "ParentImage": parent_image, "ParentCommandLine": parent_command,
    })


def security_4688(when, computer, image, command, pid_hex, parent_image, ppid_hex, user, sid="S-1-5-18") -> str:
    return event(SECURITY_PROVIDER, 4688, 13312, "0x8020000000000000", when, "Security", computer,
                 "<Security/>", {
                     "SubjectUserSid": sid, "SubjectUserName": user, "SubjectDomainName": "EXAMPLE",
                     "SubjectLogonId": "0x3e7", "NewProcessId": pid_hex, "NewProcessName": image,
                     "TokenElevationType": "%%1936", "ProcessId": ppid_hex, "CommandLine": command,
                     "TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-",
                     "TargetLogonId": "0x0", "ParentProcessName": parent_image,
                     "MandatoryLabel": "S-1-16-16384",
                 })


def pretty(line: str) -> str:
    """The same event spread over several lines, as some exporters write it."""
    return (line.replace("<System>", "\n<System>\n").replace("</System>", "\n</System>")
            .replace("<EventData>", "\n<EventData>\n").replace("</Data><Data", "</Data>\n<Data")
            .replace("</EventData>", "\n</EventData>\n"))


def positive_sysmon() -> list[str]:
    fin, hr, app = "WS-FIN-01.example.local", "WS-HR-02.example.local", "SRV-APP-03.example.local"
    scrcons = WBEM64 + "scrcons.exe"
    return [
        sysmon_start("2026-03-10T10:00:01.250000000Z", fin, scrcons, "C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding",
                     "4312", SVCHOST, DCOM, "812"),
        sysmon_start("2026-03-10T10:05:44.100000000Z", fin, "C:\\Windows\\System32\\notepad.exe",
                     "\"C:\\Windows\\System32\\notepad.exe\" C:\\Users\\amartin\\todo.txt", "6120",
                     "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", "3384",
                     user="EXAMPLE\\amartin", original="NOTEPAD.EXE"),
        # Same process id reused by a later run: same BY values, one row with count 2.
        sysmon_start("2026-03-10T10:30:05.500000000Z", fin, scrcons, "C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding",
                     "4312", SVCHOST, DCOM, "812"),
        sysmon_start("2026-03-10T11:12:13.000000000Z", hr, WBEM32 + "SCRCONS.EXE",
                     "C:\\Windows\\SysWOW64\\wbem\\SCRCONS.EXE -Embedding", "2208", SVCHOST, DCOM, "764"),
        pretty(sysmon_start("2026-03-10T12:00:00.750000000Z", app, WBEM64 + "ScrCons.exe",
                            "C:\\Windows\\System32\\wbem\\ScrCons.exe -Embedding", "5120", SVCHOST, DCOM, "900")),
    ]


def positive_security() -> list[str]:
    fin, hr = "WS-FIN-04.example.local", "WS-HR-05.example.local"
    scrcons = WBEM64 + "scrcons.exe"
    command = "C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding"
    return [
        security_4688("2026-03-11T08:15:00.125000000Z", fin, scrcons, command, "0x10d8", SVCHOST, "0x32c", "WS-FIN-04$"),
        security_4688("2026-03-11T08:20:30.000000000Z", fin, "C:\\Windows\\System32\\cmd.exe",
                      "cmd.exe /c whoami", "0x1a2c", "C:\\Windows\\explorer.exe", "0xd38", "bnguyen",
                      sid="S-1-5-21-1111111111-2222222222-3333333333-1107"),
        security_4688("2026-03-11T09:45:10.500000000Z", fin, scrcons, command, "0x10d8", SVCHOST, "0x32c", "WS-FIN-04$"),
        # Command-line auditing off on this host: empty CommandLine -> process "unknown".
        security_4688("2026-03-11T10:00:00.000000000Z", hr, WBEM32 + "ScrCons.exe", "", "0x8a0", SVCHOST, "0x2fc",
                      "WS-HR-05$"),
    ]


def negative_lookalikes() -> list[str]:
    host = "WS-DEV-07.example.local"
    when = iter(f"2026-03-12T14:0{i}:00.000000000Z" for i in range(10))
    cmd = "C:\\Windows\\System32\\cmd.exe"
    return [
        # scrcons.exe only in the command line
        sysmon_start(next(when), host, cmd, "cmd.exe /c copy C:\\Windows\\System32\\wbem\\scrcons.exe C:\\Users\\Public\\",
                     "7001", "C:\\Windows\\explorer.exe", "C:\\Windows\\Explorer.EXE", "3384",
                     user="EXAMPLE\\jlee", original="Cmd.Exe"),
        # scrcons.exe only as the parent (what a WMI script consumer's payload looks like)
        sysmon_start(next(when), host, "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                     "powershell.exe -nop -w hidden -c Get-Date", "7002", WBEM64 + "scrcons.exe",
                     "C:\\Windows\\system32\\wbem\\scrcons.exe -Embedding", "4312", original="PowerShell.EXE"),
        # look-alike file names
        sysmon_start(next(when), host, "C:\\Users\\Public\\scrcons.exe.bak", "C:\\Users\\Public\\scrcons.exe.bak",
                     "7003", cmd, "cmd.exe", "7100", user="EXAMPLE\\jlee", original="scrcons.exe"),
        sysmon_start(next(when), host, "C:\\Temp\\xscrcons.exe", "C:\\Temp\\xscrcons.exe -Embedding",
                     "7004", cmd, "cmd.exe", "7100", user="EXAMPLE\\jlee"),
        # scrcons.exe as a folder name, not the file name
        sysmon_start(next(when), host, "C:\\ProgramData\\scrcons.exe\\updater.exe",
                     "C:\\ProgramData\\scrcons.exe\\updater.exe /quiet", "7005", cmd, "cmd.exe", "7100",
                     user="EXAMPLE\\jlee", original="updater.exe"),
        # "scrcons.exe " first in the command line of another image: the name comes from Image
        sysmon_start(next(when), host, WBEM64 + "WmiPrvSE.exe", "scrcons.exe -Embedding", "7006",
                     SVCHOST, DCOM, "812", original="Wmiprvse.exe"),
    ]


def negative_security() -> list[str]:
    host = "WS-DEV-08.example.local"
    return [
        security_4688("2026-03-12T15:00:00.000000000Z", host, "C:\\Windows\\System32\\cmd.exe",
                      "cmd.exe /c del C:\\Windows\\System32\\wbem\\scrcons.exe.bak", "0x1b58",
                      "C:\\Windows\\explorer.exe", "0xd38", "jlee",
                      sid="S-1-5-21-1111111111-2222222222-3333333333-1109"),
        security_4688("2026-03-12T15:01:00.000000000Z", host,
                      "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                      "powershell.exe -nop -c Get-Date", "0x1b6c", WBEM64 + "scrcons.exe", "0x10d8", "WS-DEV-08$"),
        security_4688("2026-03-12T15:02:00.000000000Z", host, "C:\\Tools\\scrcons.exe.old",
                      "C:\\Tools\\scrcons.exe.old", "0x1b80", "C:\\Windows\\System32\\cmd.exe", "0x1b58", "jlee",
                      sid="S-1-5-21-1111111111-2222222222-3333333333-1109"),
    ]


def negative_non_process() -> list[str]:
    host = "WS-FIN-01.example.local"
    image = WBEM64 + "scrcons.exe"
    process = {"ProcessGuid": guid(f"{host}/4312"), "ProcessId": "4312", "Image": image}
    return [
        sysmon(3, "2026-03-10T10:00:02.000000000Z", host, {
            "RuleName": "-", "UtcTime": "2026-03-10 10:00:02.000", **process, "User": SYSTEM,
            "Protocol": "tcp", "Initiated": "true", "SourceIsIpv6": "false", "SourceIp": "10.20.1.15",
            "SourceHostname": host, "SourcePort": "50112", "DestinationIsIpv6": "false",
            "DestinationIp": "203.0.113.44", "DestinationHostname": "-", "DestinationPort": "443"}),
        sysmon(7, "2026-03-10T10:00:01.300000000Z", host, {
            "RuleName": "-", "UtcTime": "2026-03-10 10:00:01.300", **process,
            "ImageLoaded": "C:\\Windows\\System32\\vbscript.dll", "FileVersion": "5.812.10240.16384",
            "Description": "Microsoft VBScript", "Product": "Microsoft® Windows® Operating System",
            "Company": "Microsoft Corporation", "OriginalFileName": "vbscript.dll",
            "Hashes": hashes("vbscript.dll"), "Signed": "true", "Signature": "Microsoft Windows",
            "SignatureStatus": "Valid", "User": SYSTEM}),
        sysmon(11, "2026-03-10T10:00:03.000000000Z", host, {
            "RuleName": "-", "UtcTime": "2026-03-10 10:00:03.000", **process,
            "TargetFilename": "C:\\Windows\\Temp\\wmi_payload.txt",
            "CreationUtcTime": "2026-03-10 10:00:03.000", "User": SYSTEM}),
        sysmon(13, "2026-03-10T10:00:04.000000000Z", host, {
            "RuleName": "-", "EventType": "SetValue", "UtcTime": "2026-03-10 10:00:04.000", **process,
            "TargetObject": "HKLM\\SOFTWARE\\Microsoft\\WBEM\\Scripting\\Default Namespace",
            "Details": "root\\cimv2", "User": SYSTEM}),
        sysmon(10, "2026-03-10T10:00:05.000000000Z", host, {
            "RuleName": "-", "UtcTime": "2026-03-10 10:00:05.000",
            "SourceProcessGUID": guid(f"{host}/812"), "SourceProcessId": "812", "SourceThreadId": "900",
            "SourceImage": SVCHOST, "TargetProcessGUID": guid(f"{host}/4312"), "TargetProcessId": "4312",
            "TargetImage": image, "GrantedAccess": "0x1fffff", "CallTrace": "C:\\Windows\\SYSTEM32\\ntdll.dll+9d4c4",
            "SourceUser": SYSTEM, "TargetUser": SYSTEM}),
    ]


FILES = {
    "positive_sysmon.xml.log": (positive_sysmon, "\n"),
    "positive_security.xml.log": (positive_security, "\r\n"),
    "negative_lookalikes.xml.log": (negative_lookalikes, "\n"),
    "negative_security.xml.log": (negative_security, "\n"),
    "negative_non_process.xml.log": (negative_non_process, "\n"),
}


def contents() -> dict[str, bytes]:
    """File name -> bytes; record ids run on across files, so always build all of them in order."""
    files = {}
    for name, (events, line_end) in FILES.items():
        files[name] = "".join(e.replace("\n", line_end) + line_end for e in events()).encode("utf-8")
    return files


def main() -> None:
    for name, data in contents().items():
        (HERE / name).write_bytes(data)


if __name__ == "__main__":
    main()
