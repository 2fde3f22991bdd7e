"""Run Splunk AppInspect on a package, once per tag set, and summarise the results.

AppInspect is the ``splunk-appinspect`` command of this interpreter's
environment (pinned in requirements.txt). Each run uses:

    splunk-appinspect inspect PKG --mode precert --included-tags TAG --ci
        --skip-trusted-libraries-update --max-messages all
        --data-format json --output-file F

``--skip-trusted-libraries-update`` keeps the run offline (without it AppInspect
tries to download its trusted-libraries list first); ``--max-messages all``
puts every message in the report (the default keeps 25). AppInspect writes one
report format per run, so the JUnit report is written here from the JSON one:
one run per tag set, and one source of truth. In it warnings and future
failures are ``<failure>`` elements, because they fail this project's gate too.

Reports go next to the package unless ``report_dir`` is given:
``<package stem>.appinspect.<tag set>.json`` and ``.junit.xml``.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from ..errors import EXIT_CHECKS_FAILED, EXIT_INVALID_INPUT, EXIT_OK, BuildFailed, InvalidInput
from .write import hidden_name, remove_if_there, write_atomically

TAG_SETS = ("cloud", "private_app")
# Check results that fail the gate; AppInspect's other results are success,
# not_applicable and skipped.
FAILING_RESULTS = ("failure", "error", "warning", "future_failure")
PACKAGE_SUFFIXES = (".tar.gz", ".tgz", ".spl")
RUN_TIMEOUT_SECONDS = 600
# AppInspect repeats the location at the end of the message text.
LOCATION_SUFFIX = re.compile(r"\s*File: \S+(?: Line Number: \d+)?\s*$")


class InspectError(Exception):
    """AppInspect could not inspect the package: missing, unreadable, or no report."""


@dataclass(frozen=True)
class CheckMessage:
    tag_set: str
    check: str
    result: str
    message: str
    file: str | None
    line: int | None

    @property
    def text(self) -> str:
        where = f", {self.file}:{self.line}" if self.file and self.line else f", {self.file}" if self.file else ""
        return f"{self.result}: {self.message}{where}"

    def __str__(self) -> str:
        return f"{self.tag_set}: {self.check}: {self.text}"


@dataclass(frozen=True)
class TagSetResult:
    tag_set: str
    counts: dict[str, int]  # AppInspect's summary: result -> number of checks
    messages: tuple[CheckMessage, ...]  # the messages of failing results only
    json_report: Path
    junit_report: Path
    exit_code: int  # AppInspect's own

    @property
    def failures(self) -> int:
        return self.counts.get("failure", 0)

    @property
    def errors(self) -> int:
        return self.counts.get("error", 0)

    @property
    def warnings(self) -> int:
        return self.counts.get("warning", 0)

    @property
    def future_failures(self) -> int:
        return self.counts.get("future_failure", 0)

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not any(self.counts.get(r, 0) for r in FAILING_RESULTS)

    def summary_line(self) -> str:
        c = self.counts
        return (f"{self.tag_set}: {'passed' if self.passed else 'FAILED'}: {self.failures} failure(s), "
                f"{self.errors} error(s), {self.warnings} warning(s), {self.future_failures} future failure(s); "
                f"{c.get('success', 0)} passed, {c.get('skipped', 0)} skipped, "
                f"{c.get('not_applicable', 0)} not applicable; report {self.json_report}")


@dataclass(frozen=True)
class InspectResult:
    package: Path
    tag_sets: tuple[TagSetResult, ...]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.tag_sets)

    def summary(self) -> list[str]:
        lines = [t.summary_line() for t in self.tag_sets]
        return lines + [str(m) for t in self.tag_sets for m in t.messages]


def appinspect_command() -> list[str]:
    """The ``splunk-appinspect`` entry point installed beside this interpreter."""
    script = Path(sys.executable).parent / "splunk-appinspect"
    if not script.is_file():
        raise InspectError(f"{script}: splunk-appinspect is not installed in this environment "
                           "(install requirements.txt, e.g. with ./dev test)")
    return [str(script)]


def check_package(package: Path) -> None:
    """The package must be a readable gzip tar; AppInspect's own errors for one that is not are opaque."""
    if not package.is_file():
        raise InspectError(f"{package}: package does not exist or is not a file")
    try:
        with tarfile.open(package, "r:gz") as tar:
            tar.getmembers()
    except (OSError, tarfile.TarError, EOFError) as error:
        raise InspectError(f"{package}: cannot read the package as a gzip tar: {error}") from None


def report_stem(package: Path) -> str:
    name = package.name
    for suffix in PACKAGE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return package.stem


def run_tag_set(package: Path, tag_set: str, report_dir: Path) -> TagSetResult:
    stem = report_stem(package)
    json_report = report_dir / f"{stem}.appinspect.{tag_set}.json"
    junit_report = report_dir / f"{stem}.appinspect.{tag_set}.junit.xml"
    temporary = hidden_name(json_report, ".tmp")  # AppInspect makes it; named first, see hidden_name
    try:
        done = _run_appinspect(package, tag_set, temporary)
        report = _load_report(temporary, done)
        os.chmod(temporary, 0o644)
        os.replace(temporary, json_report)
    finally:
        remove_if_there(temporary)
    write_atomically(junit_report, junit_xml(report, tag_set))
    return TagSetResult(tag_set, dict(report.get("summary", {})), tuple(failing_messages(report, tag_set)),
                        json_report, junit_report, done.returncode)


def _run_appinspect(package: Path, tag_set: str, output: Path) -> subprocess.CompletedProcess:
    command = appinspect_command() + [
        "inspect", str(package), "--mode", "precert", "--included-tags", tag_set, "--ci",
        "--skip-trusted-libraries-update", "--max-messages", "all",
        "--data-format", "json", "--output-file", str(output)]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL, cwd=output.parent)
    except subprocess.TimeoutExpired:
        raise InspectError(f"{package}: splunk-appinspect ({tag_set}) did not finish in {RUN_TIMEOUT_SECONDS} s") from None


def _load_report(path: Path, done: subprocess.CompletedProcess) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:]
        raise InspectError(f"splunk-appinspect exited {done.returncode} without a report"
                           + (f": {tail[0]}" if tail else "")) from None


def _checks(report: dict):
    for app in report.get("reports", []):
        for group in app.get("groups", []):
            for check in group.get("checks", []):
                yield group.get("name", ""), check


def failing_messages(report: dict, tag_set: str) -> list[CheckMessage]:
    return [m for _, check in _checks(report) for m in _check_messages(check, tag_set)]


def _check_messages(check: dict, tag_set: str) -> list[CheckMessage]:
    """The messages that fail a check; its description when a failing check gave none."""
    result = check.get("result")
    if result not in FAILING_RESULTS:
        return []
    failing = [m for m in check.get("messages") or [] if m.get("result") in FAILING_RESULTS]
    failing = failing or [{"result": result, "message": check.get("description") or "(no message)"}]
    return [CheckMessage(tag_set, check.get("name", "?"), m["result"], _one_line(m.get("message", "")),
                         _file(m.get("message_filename")), m.get("message_line")) for m in failing]


def _one_line(message: str) -> str:
    return LOCATION_SUFFIX.sub("", " ".join(message.split()))


def _file(name: str | None) -> str | None:
    return None if name in (None, "", "None") else name


def junit_xml(report: dict, tag_set: str) -> str:
    checks = list(_checks(report))
    counts = report.get("summary", {})
    suite = ET.Element("testsuite", {
        "name": f"AppInspect {tag_set}", "tests": str(len(checks)),
        "failures": str(sum(counts.get(r, 0) for r in ("failure", "warning", "future_failure"))),
        "errors": str(counts.get("error", 0)),
        "skipped": str(counts.get("skipped", 0) + counts.get("not_applicable", 0))})
    for group, check in checks:
        case = ET.SubElement(suite, "testcase", {"classname": f"{tag_set}.{group}", "name": check.get("name", "?")})
        result = check.get("result", "")
        if result in FAILING_RESULTS:
            lines = [m.text for m in _check_messages(check, tag_set)]
            element = ET.SubElement(case, "error" if result == "error" else "failure", {"type": result, "message": lines[0]})
            element.text = "\n".join(lines)
        elif result in ("skipped", "not_applicable"):
            ET.SubElement(case, "skipped", {"message": result})
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def run_appinspect(package: Path, *, report_dir: Path | None = None) -> InspectResult:
    """Inspect ``package`` with each of ``TAG_SETS``; raise InspectError when it cannot be inspected."""
    package = Path(package)
    check_package(package)
    report_dir = Path(report_dir) if report_dir is not None else package.parent
    report_dir.mkdir(parents=True, exist_ok=True)
    return InspectResult(package, tuple(run_tag_set(package.resolve(), t, report_dir) for t in TAG_SETS))


# --- command -----------------------------------------------------------------


def inspect_command(package: Path | None, content: Path, output: Path) -> int:
    """``inspect``: AppInspect ``package`` (or build ``content`` into ``output`` first)."""
    try:
        package = package if package is not None else _build(content, output)
        result = run_appinspect(package)
    except InvalidInput as error:
        for finding in error.findings:
            print(finding, file=sys.stderr)
        return EXIT_INVALID_INPUT
    except InspectError as error:
        print(f"inspect: {error}", file=sys.stderr)
        return EXIT_INVALID_INPUT
    except BuildFailed as error:  # raised by _build alone, which loaded the build
        from .app import report_build_failed

        return report_build_failed(error)
    print("\n".join(result.summary()))
    return EXIT_OK if result.passed else EXIT_CHECKS_FAILED


def _build(content: Path, output: Path) -> Path:
    # Imported here: only ``inspect`` without a package builds, and inspecting one needs no Jinja.
    from .app import build_app

    return build_app(content, output).package
