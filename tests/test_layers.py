"""The package's shape: stages import only the stages below them, and a command loads only what it needs."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "detpack"

# What each stage may import: the arrows of README's layout, downward only. ``cli`` sits on top.
GROUND = {"beside", "conf", "errors"}
ALLOWED = {
    "errors": set(),
    "beside": set(),
    "conf": {"errors"},
    "spl": GROUND,
    "content": GROUND,
    "knowledge": {"spl"} | GROUND,
    "build": {"content", "spl"} | GROUND,  # the shipped drilldowns are parsed before they ship
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
        elif isinstance(node, ast.ImportFrom) and node.module == "detpack":
            found.update(alias.name for alias in node.names)
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
              "def late():\n    import detpack.splunk.harness\n    from detpack.build import app\n"
              "    from detpack import spl, errors\n")
    assert imported_stages(PACKAGE / "content" / "model.py", source) == {
        "cli", "replay", "knowledge", "splunk", "build", "spl", "errors"}


def modules_loaded_by(argv: list[str]) -> set[str]:
    """The modules in ``sys.modules`` after ``build.py ARGV`` ran in a fresh interpreter."""
    script = ("import sys\nfrom detpack.cli import main\n"
              "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
              "print('\\n'.join(sorted(sys.modules)), file=sys.__stderr__)\n")
    done = subprocess.run([sys.executable, "-c", script, *argv], cwd=PACKAGE.parent, capture_output=True,
                          text=True, timeout=120)
    return set(done.stderr.split())


# Modules that some command needs and others must not pay for.
HEAVY = {"splunklib", "docker", "requests", "jinja2", "yaml", "detpack.spl", "detpack.replay.events",
         "detpack.build.inspect", "detpack.splunk.harness",
         "detpack.spl.plan", "detpack.spl.evaluate"}  # parsing the drilldowns needs neither


# What the SPL engine loads beyond its parser: eval's functions and their libraries; and the PCRE
# translation, which the parser loads for the first rex or regex (the shipped drilldowns have none).
NOT_FOR_PARSING = {"detpack.spl.functions", "detpack.spl.timefmt", "decimal", "detpack.spl.pcre"}
# What only rendering, packaging or printing JSON needs; what only annotations name (``typing``: Jinja
# loads it for ``build``); what only a pack with lookups needs (``csv``); and ``shutil``, which argparse
# loads to size its help unless told the width (``cli.help_formatter``).
NOT_FOR_VALIDATE = {"detpack.build.render", "detpack.build.package", "json", "tempfile", "tarfile", "xml.sax",
                    "urllib.request", "hashlib", "typing", "csv", "shutil"}


@pytest.mark.parametrize("argv, needs, spares", [
    (["validate", "--content", "PACK"], {"yaml", "detpack.spl"},  # the drilldowns are parsed, as in build
     HEAVY - {"yaml", "detpack.spl"} | NOT_FOR_PARSING | NOT_FOR_VALIDATE),
    (["build", "--content", "PACK", "--output", "OUT"], {"yaml", "jinja2", "detpack.spl"},  # the drilldowns are parsed
     HEAVY - {"yaml", "jinja2", "detpack.spl"} | NOT_FOR_PARSING),
    (["validate", "--spl", "--content", "PACK"],  # the searches are planned with the knowledge, nothing built
     {"yaml", "detpack.spl.plan", "detpack.knowledge"},
     {"jinja2", "detpack.build.app", "detpack.build.render", "detpack.replay.run", "detpack.replay.events",
      "splunklib", "docker", "requests", "detpack.build.inspect", "detpack.splunk.harness"}),
    (["test", "--content", "PACK"], {"yaml", "jinja2", "detpack.spl", "detpack.replay.events", "detpack.spl.evaluate"},
     {"splunklib", "docker", "requests", "detpack.build.inspect", "detpack.splunk.harness",
      "xml.etree.ElementTree"}),  # only --junit writes XML
    (["inspect", "OUT/missing.spl"], {"detpack.build.inspect"}, HEAVY - {"detpack.build.inspect"}),
    (["splunk-test", "--content", "PACK", "--splunk-url", "not a url"], {"splunklib", "detpack.splunk.harness"},
     {"docker", "requests", "detpack.build.inspect"}),
])
def test_a_command_loads_only_what_it_needs(argv, needs, spares, pack_copy, tmp_path):
    argv = [a.replace("PACK", str(pack_copy)).replace("OUT", str(tmp_path / "out")) for a in argv]
    loaded = modules_loaded_by(argv)
    assert needs <= loaded
    assert spares & loaded == set()


def test_help_loads_the_command_line_alone():
    loaded = modules_loaded_by(["--help"])
    assert {m for m in loaded if m.startswith("detpack")} == {"detpack", "detpack.cli"}
    assert (HEAVY | {"pathlib", "dataclasses", "json", "shutil", "typing"}) & loaded == set()


# Modules that every validate, build and replay loads make their records with ``errors.record``:
# a dataclass takes about a millisecond to define, paid at every start.
WITHOUT_DATACLASSES = ["errors.py", "content/model.py", "content/schema.py", "build/app.py", "build/drilldowns.py",
                       "spl/ast.py", "spl/macros.py", "spl/datasets.py", "spl/lookup.py",
                       # and those every replay loads before it reads an event
                       "spl/check.py", "spl/expressions.py", "replay/run.py", "knowledge/datamodels.py",
                       "knowledge/eventtypes.py", "knowledge/transforms.py", "knowledge/verbatim.py",
                       "build/package.py", "build/render.py", "content/validate.py", "spl/plan.py",
                       "replay/search.py", "replay/judge.py", "knowledge/addons.py", "knowledge/props.py",
                       "knowledge/lookups.py", "conf.py", "content/load.py"]


@pytest.mark.parametrize("name", WITHOUT_DATACLASSES)
def test_modules_on_the_start_up_path_define_no_dataclasses(name):
    tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "dataclasses" not in imported
