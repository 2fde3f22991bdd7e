"""The CI workflow template users copy: valid YAML whose build.py command lines the real parser accepts."""
from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from detpack.cli import make_parser
from detpack.splunk.container import SERVER_APP_DIR, SPLUNK_IMAGE

TEMPLATE = Path(__file__).resolve().parent.parent / "ci-templates" / "github-actions" / "detections.yml"


def workflow() -> dict:
    return yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))


def build_commands() -> list[list[str]]:
    commands = []
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            for line in step.get("run", "").splitlines():
                if line.strip().startswith("python build.py"):
                    commands.append([w for w in shlex.split(line)[2:] if not w.startswith("${")])
    return commands


def test_every_stage_is_there():
    names = [c[0] for c in build_commands()]
    assert names == ["validate", "build", "build", "inspect", "test", "splunk-test"]


@pytest.mark.parametrize("argv", build_commands(), ids=lambda a: " ".join(a[:2]))
def test_each_command_line_parses(argv):
    make_parser().parse_args(argv)


def test_splunk_runs_as_a_pinned_service_bound_to_loopback_with_the_staging_mount():
    service = workflow()["jobs"]["splunk"]["services"]["splunk"]
    assert service["image"] == SPLUNK_IMAGE
    assert service["env"]["SPLUNK_START_ARGS"] == "--accept-license"
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    assert service["volumes"] == [f"{SERVER_APP_DIR}:{SERVER_APP_DIR}:ro"]
    splunk_test = build_commands()[-1]
    assert splunk_test[splunk_test.index("--stage-dir") + 1] == SERVER_APP_DIR
    assert "secrets.SPLUNK_TEST_PASSWORD" in service["env"]["SPLUNK_PASSWORD"]


def step_script(job: str, name: str) -> str:
    return next(step["run"] for step in workflow()["jobs"][job]["steps"] if step.get("name") == name)


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env={"PATH": os.environ["PATH"], **env},
                          capture_output=True, text=True)


@pytest.mark.parametrize("password, runs", [("", "false"), ("S3cret-pw", "true")])
def test_the_splunk_job_runs_only_with_the_password_secret_and_says_so_when_skipped(tmp_path, password, runs):
    assert workflow()["jobs"]["splunk"]["if"] == "needs.splunk-gate.outputs.has_password == 'true'"
    output = tmp_path / "github_output"
    done = bash(step_script("splunk-gate", "Is the Splunk password secret available?"), tmp_path,
                {"SPLUNK_PASSWORD": password, "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0 and output.read_text() == f"has_password={runs}\n"
    assert ("::notice title=Splunk replay skipped::" in done.stdout) == (runs == "false")


def test_the_splunk_job_stops_at_once_without_add_ons(tmp_path):
    script = step_script("splunk", "Replay the tests in Splunk")
    (tmp_path / "addons").mkdir()
    done = bash(script.split("python build.py", 1)[0], tmp_path, {})
    assert done.returncode == 1
    assert "::error::no add-on packages (.tgz or .spl) in addons/" in done.stdout


def test_packages_are_installed_after_refreshing_the_package_lists():
    script = step_script("offline", "Install the pinned tools")
    assert script.index("apt-get update") < script.index("apt-get install")


@pytest.mark.parametrize("statuses, code", [(["starting", "starting", "healthy"], 0), (["starting"] * 200, 1)],
                         ids=["becomes-healthy", "never-healthy"])
def test_the_splunk_job_waits_until_docker_reports_the_service_healthy(tmp_path, statuses, code):
    """The image answers REST before its provisioning is done; splunk-test gives an existing server 30 s."""
    script = step_script("splunk", "Wait until Splunk is healthy").replace("${{ job.services.splunk.id }}", "svc1")
    script = script.replace("sleep 5", "true")
    answers = tmp_path / "answers"
    answers.write_text("\n".join(statuses) + "\n")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "docker").write_text(f'#!/bin/bash\n[ "$4" = svc1 ] || exit 2\nhead -1 {answers}\n'
                                 f'tail -n +2 {answers} > {answers}.rest; mv {answers}.rest {answers}\n')
    (fake / "docker").chmod(0o755)
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": f"{fake}:{os.environ['PATH']}"})
    assert done.returncode == code, done.stdout + done.stderr
    assert done.stdout.count("splunk container: starting") == (2 if code == 0 else 120)
