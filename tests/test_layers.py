"""The package's shape: stages import only the stages below them, and a command loads only what it needs."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "detpack"

# What each stage may import (docs: ../shared/docs/architecture.md). ``cli`` sits on top.
GROUND = {"conf", "errors"}
ALLOWED = {
    "errors": set(),
    "conf": {"errors"},
    "spl": GROUND,
    "content": GROUND,
    "knowledge": {"spl"} | GROUND,
    "build": {"content", "spl"} | GROUND,
    "replay": {"build", "content", "knowledge", "spl"} | GROUND,
    "splunk": {"replay", "build", "content", "knowledge", "spl"} | GROUND,
}


def stage_of(module: Path) -> str:
    return module.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imported_stages(module: Path, source: str | None = None) -> set[str]:
    """The detpack stages ``module`` imports, wherever in the module the import is."""
    package_parts = module.relative_to(PACKAGE).parent.parts
    found = set()
    source = module.read_text(encoding="utf-8") if source is None else source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package_parts[: len(package_parts) - (node.level - 1)]
            target = [*base, *(node.module or "").split(".")] if node.module else list(base)
            names = target[:1] or [alias.name for alias in node.names]
            found.update(names)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found.update(n.split(".")[1] for n in names if n and n.startswith("detpack."))
    return {name for name in found if name} - {"__init__"}


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if stage_of(p) not in ("cli", "__init__"))


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_a_stage_imports_only_the_stages_below_it(module):
    stage = stage_of(module)
    wrong = imported_stages(module) - ALLOWED[stage] - {stage}
    assert not wrong, f"{module.relative_to(PACKAGE)} ({stage}) imports {sorted(wrong)}"


def test_the_layer_check_sees_every_form_of_import():
    source = ("from ..cli import main\nfrom ..replay.run import test_command\nfrom .. import knowledge\n"
              "def late():\n    import detpack.splunk.harness\n    from detpack.build import app\n")
    assert imported_stages(PACKAGE / "content" / "model.py", source) == {"cli", "replay", "knowledge", "splunk", "build"}


def modules_loaded_by(argv: list[str], tmp_path: Path) -> set[str]:
    """The top-level modules in ``sys.modules`` after ``build.py ARGV`` ran in a fresh interpreter."""
    script = ("import sys\nfrom detpack.cli import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print('\\n'.join(sorted(sys.modules)), file=sys.__stderr__)\n")
    done = subprocess.run([sys.executable, "-c", script, *argv], cwd=PACKAGE.parent, capture_output=True,
                          text=True, timeout=60)
    return set(done.stderr.split())


HEAVY = {"splunklib", "docker", "requests", "splunk_appinspect", "detpack.spl", "detpack.splunk.client",
         "detpack.replay.events", "jinja2", "yaml"}


@pytest.mark.parametrize("argv, may_load", [
    (["--help"], set()),
    (["validate"], {"yaml"}),
    (["build", "--output", "OUT"], {"yaml", "jinja2", "detpack.spl"}),  # the shipped drilldowns are parsed
])
def test_a_command_loads_only_what_it_needs(argv, may_load, tmp_path):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    loaded = modules_loaded_by(argv, tmp_path)
    assert "detpack.cli" in loaded
    assert (HEAVY - may_load) & loaded == set()
    assert may_load <= loaded
