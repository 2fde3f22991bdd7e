"""The CI workflow template users copy: valid YAML whose build.py command lines the real parser accepts."""
from __future__ import annotations

import shlex
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
    assert service["volumes"] == [f"{SERVER_APP_DIR}:{SERVER_APP_DIR}"]
    splunk_test = build_commands()[-1]
    assert splunk_test[splunk_test.index("--stage-dir") + 1] == SERVER_APP_DIR
    assert "secrets.SPLUNK_TEST_PASSWORD" in service["env"]["SPLUNK_PASSWORD"]
