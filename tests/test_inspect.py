"""detpack.build.inspect: real AppInspect runs on a passing and a broken package, report parsing, the command."""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from detpack.build import inspect as detpack_inspect
from detpack.cli import main
from detpack.build.inspect import TAG_SETS, InspectError, run_appinspect
from test_package import APP_ID, VERSION, app_files, build, write_app


def run_command(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["inspect", *argv])
    return code, out.getvalue(), err.getvalue()


def hand_made_package(path: Path, files: dict[str, str]) -> Path:
    """A package built without detpack.build.package, so it can hold what the packager refuses."""
    with tarfile.open(path, "w:gz") as tar:
        for folder in sorted({f"{APP_ID}/{p}".rsplit("/", 1)[0] for p in files} | {APP_ID}):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{APP_ID}/{relative}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def passing(tmp_path_factory):
    root = tmp_path_factory.mktemp("passing")
    package = build(write_app(root / APP_ID), root / "dist")
    return run_appinspect(package)


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A local/ folder smuggled in, and write access for admin only: one failure and one warning per tag set."""
    root = tmp_path_factory.mktemp("broken")
    files = app_files() | {
        "local/macros.conf": "[demo_filter]\ndefinition = search user=x\n",
        "metadata/default.meta": "[]\naccess = read : [ * ], write : [ admin ]\nexport = none\n",
    }
    package = hand_made_package(root / f"{APP_ID}-{VERSION}.spl", files)
    code, out, err = run_command([str(package)])
    return SimpleNamespace(package=package, code=code, out=out, err=err)


# --- real runs ---------------------------------------------------------------

def test_minimal_valid_app_passes_both_tag_sets(passing):
    assert [t.tag_set for t in passing.tag_sets] == list(TAG_SETS)
    for result in passing.tag_sets:
        assert (result.failures, result.errors, result.warnings, result.future_failures) == (0, 0, 0, 0)
        assert result.counts["success"] > 50, result.counts
        assert result.exit_code == 0
        assert result.messages == ()
    assert passing.passed


def test_reports_are_written_next_to_the_package(passing):
    for result in passing.tag_sets:
        stem = passing.package.parent / f"{APP_ID}-{VERSION}.appinspect.{result.tag_set}"
        assert result.json_report == Path(f"{stem}.json")
        assert result.junit_report == Path(f"{stem}.junit.xml")
        report = json.loads(result.json_report.read_text())
        assert report["reports"][0]["run_parameters"]["included_tags"] == [result.tag_set]
        assert report["summary"] == result.counts
        suite = ET.parse(result.junit_report).getroot().find("testsuite")
        assert suite.get("failures") == "0" and suite.get("errors") == "0"
        assert int(suite.get("tests")) == sum(result.counts.values())
    assert not [p for p in passing.package.parent.iterdir() if p.name.startswith(".")]


def test_summary_has_one_line_per_tag_set(passing):
    lines = passing.summary()
    assert len(lines) == 2
    assert lines[0].startswith("cloud: passed: 0 failure(s), 0 error(s), 0 warning(s), 0 future failure(s)")
    assert lines[1].startswith("private_app: passed: ")


def test_broken_package_exits_1_and_names_the_failing_checks(broken):
    assert broken.code == 1, broken.err
    lines = broken.out.splitlines()
    for tag_set in TAG_SETS:
        assert any(line.startswith(f"{tag_set}: FAILED: 1 failure(s), 0 error(s), 1 warning(s)") for line in lines), lines
        assert f"{tag_set}: check_that_local_does_not_exist: failure: A 'local' directory exists in the app." in lines
        assert any(line.startswith(f"{tag_set}: check_kos_are_accessible: warning: In Splunk Cloud")
                   and line.endswith(", metadata/default.meta:2") for line in lines), lines


def test_broken_package_junit_marks_failures_and_warnings(broken):
    report = broken.package.parent / f"{APP_ID}-{VERSION}.appinspect.cloud.junit.xml"
    cases = {c.get("name"): c for c in ET.parse(report).getroot().iter("testcase")}
    assert cases["check_that_local_does_not_exist"].find("failure").get("type") == "failure"
    assert cases["check_kos_are_accessible"].find("failure").get("type") == "warning"
    assert cases["check_package_compression"].find("failure") is None


# --- report parsing (no runs) -------------------------------------------------------

def test_failing_messages_and_junit_from_a_report():
    report = {"reports": [{"groups": [{"name": "g", "checks": [
        {"name": "check_a", "result": "failure", "messages": [
            {"result": "failure", "message": "Bad  id.\n File: default/app.conf Line Number: 15",
             "message_filename": "default/app.conf", "message_line": 15},
            {"result": "skipped", "message": "not relevant", "message_filename": "None", "message_line": None}]},
        {"name": "check_b", "result": "future_failure", "description": "Check B.", "messages": []},
        {"name": "check_d", "result": "warning", "messages": [{"result": "skipped", "message": "only this"}]},
        {"name": "check_c", "result": "success", "messages": []}]}]}]}
    found = [str(m) for m in detpack_inspect.failing_messages(report, "cloud")]
    assert found == ["cloud: check_a: failure: Bad id., default/app.conf:15",
                     "cloud: check_b: future_failure: Check B.", "cloud: check_d: warning: (no message)"]
    suite = ET.fromstring(detpack_inspect.junit_xml(report | {"summary": {"failure": 1}}, "cloud")).find("testsuite")
    assert [c.find("failure").get("type") for c in suite.iter("testcase") if c.find("failure") is not None] == [
        "failure", "future_failure", "warning"]


# --- inputs and the command ----------------------------------------------------------

def test_missing_package_exits_2(tmp_path):
    code, out, err = run_command([str(tmp_path / "nope.spl")])
    assert code == 2
    assert err.strip() == f"inspect: {tmp_path / 'nope.spl'}: package does not exist or is not a file"
    assert out == ""


def test_package_that_is_not_a_gzip_tar_exits_2(tmp_path):
    (tmp_path / "text.spl").write_text("not an archive")
    code, _, err = run_command([str(tmp_path / "text.spl")])
    assert code == 2
    assert "text.spl: cannot read the package as a gzip tar" in err
    assert list(tmp_path.iterdir()) == [tmp_path / "text.spl"]


def test_truncated_package_is_unreadable(passing, tmp_path):
    truncated = tmp_path / "cut.spl"
    truncated.write_bytes(passing.package.read_bytes()[:100])
    with pytest.raises(InspectError, match="cannot read the package"):
        run_appinspect(truncated)


def test_appinspect_missing_from_the_environment(passing, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "bin" / "python"))
    with pytest.raises(InspectError, match="splunk-appinspect is not installed"):
        run_appinspect(passing.package, report_dir=tmp_path / "reports")


def test_appinspect_that_writes_no_report_is_an_error_and_leaves_no_temporary_file(passing, tmp_path, monkeypatch):
    fake = [sys.executable, "-c", "import sys; print('cannot extract', file=sys.stderr); sys.exit(3)"]
    monkeypatch.setattr(detpack_inspect, "appinspect_command", lambda: fake)
    with pytest.raises(InspectError, match="exited 3 without a report: cannot extract"):
        run_appinspect(passing.package, report_dir=tmp_path / "reports")
    assert list((tmp_path / "reports").iterdir()) == []


def test_without_a_package_the_command_builds_and_inspects_the_built_package(passing, tmp_path, monkeypatch):
    calls = []

    def fake_build(content, output):
        calls.append((content, output))
        return SimpleNamespace(package=passing.package)

    monkeypatch.setattr("detpack.build.app.build_app", fake_build)
    monkeypatch.setattr(detpack_inspect, "run_appinspect", lambda package: passing if package == passing.package else None)
    code, out, _ = run_command(["--content", str(tmp_path), "--output", str(tmp_path / "out")])
    assert calls == [(tmp_path, tmp_path / "out")]
    assert code == 0
    assert out.splitlines() == passing.summary()
    assert run_command(["--content", str(tmp_path)])[0] == 0
    assert calls[-1] == (tmp_path, tmp_path / "dist")


def test_without_a_package_invalid_content_exits_2_and_writes_nothing(tmp_path):
    code, out, err = run_command(["--content", str(tmp_path)])
    assert code == 2
    assert "contentctl.yml" in err and "is missing" in err
    assert list(tmp_path.iterdir()) == []
