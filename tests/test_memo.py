"""detpack.memo: a repeated build or validate is answered from memory only while nothing it depends on changed."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detpack.cli import main
from detpack.memo import Memo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DETECTION = Path("detections/endpoint/script_execution_via_wmi.yml")


def run(argv: list[str], capsys) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().out


def build(pack: Path, capsys) -> tuple[int, str]:
    return run(["build", "--content", str(pack), "--output", str(pack / "out")], capsys)


def remembered(pack: Path, memo_folder: Path, command: str = "build", **options: str) -> bool:
    """Whether the next run would be answered from the memo."""
    defaults = {"json": "False"} | ({"output": str((pack / "out").resolve())} if command == "build" else {})
    return Memo(command, pack, defaults | options).answer() is not None


def backdate(path: Path, seconds: float = 60) -> None:
    """Move a file's time out of the memo's racy window (as if edited well before the run)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def settle(pack: Path) -> None:
    for path in pack.rglob("*"):
        if path.is_file():
            backdate(path)


def test_a_second_validate_is_answered_without_loading_yaml(pack_copy, memo_folder):
    settle(pack_copy)
    script = ("import sys\nfrom detpack.cli import main\ncode = main(['validate', '--content', sys.argv[1]])\n"
              "print('yaml' in sys.modules, code, file=sys.stderr)")
    runs = [subprocess.run([sys.executable, "-c", script, str(pack_copy)], cwd=PROJECT_ROOT, capture_output=True,
                           text=True, timeout=60) for _ in range(2)]
    assert [r.stderr.split() for r in runs] == [["True", "0"], ["False", "0"]]
    assert runs[0].stdout == runs[1].stdout == "valid: 1 detection(s), 1 story(ies), 6 macro(s)\n"


def test_an_edited_input_means_a_real_run(pack_copy, memo_folder, capsys):
    settle(pack_copy)
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 0
    detection = pack_copy / DETECTION
    detection.write_text(detection.read_text().replace("type: TTP", "type: NotAType"))
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 2


def test_an_edit_that_keeps_size_and_time_is_seen_inside_the_racy_window(pack_copy, memo_folder, capsys):
    detection = pack_copy / DETECTION
    detection.write_text(detection.read_text())  # written just before the run: inside the racy window
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 0
    stat = detection.stat()
    detection.write_text(detection.read_text().replace("type: TTP", "type: XYZ"))
    os.utime(detection, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert detection.stat().st_size == stat.st_size
    assert not remembered(pack_copy, memo_folder, "validate")


def test_a_new_or_removed_input_file_means_a_real_run(pack_copy, memo_folder, capsys):
    settle(pack_copy)
    assert build(pack_copy, capsys)[0] == 0
    settle(pack_copy)
    assert build(pack_copy, capsys)[0] == 0
    assert remembered(pack_copy, memo_folder)
    extra = pack_copy / "stories" / "extra.txt"
    extra.write_text("not content\n")
    assert not remembered(pack_copy, memo_folder)
    extra.unlink()
    (pack_copy / "macros" / "security_content_ctime.yml").unlink()
    assert not remembered(pack_copy, memo_folder)


@pytest.mark.parametrize("damage", ["delete the package", "edit a committed file", "add a file to the app folder"])
def test_damaged_outputs_are_rebuilt(pack_copy, memo_folder, capsys, damage):
    settle(pack_copy)
    assert build(pack_copy, capsys)[0] == 0
    package = pack_copy / "out" / "DA-ESS-DetPack-1.0.0.spl"
    committed = pack_copy / "default" / "savedsearches.conf"
    original_package, original_committed = package.read_bytes(), committed.read_text()
    if damage == "delete the package":
        package.unlink()
    elif damage == "edit a committed file":
        committed.write_text(original_committed + "\n# edited by hand\n")
    else:
        (pack_copy / "out" / "DA-ESS-DetPack" / "default" / "extra.conf").write_text("[x]\n")
    assert not remembered(pack_copy, memo_folder)
    assert build(pack_copy, capsys)[0] == 0
    assert package.read_bytes() == original_package and committed.read_text() == original_committed
    assert not (pack_copy / "out" / "DA-ESS-DetPack" / "default" / "extra.conf").exists()


def test_the_environment_the_build_reads_is_part_of_the_memo(pack_copy, memo_folder, capsys, monkeypatch):
    settle(pack_copy)
    assert build(pack_copy, capsys)[0] == 0
    assert remembered(pack_copy, memo_folder)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert not remembered(pack_copy, memo_folder)


def test_options_are_part_of_the_key(pack_copy, memo_folder, capsys):
    settle(pack_copy)
    assert build(pack_copy, capsys)[0] == 0
    assert not remembered(pack_copy, memo_folder, json="True")
    assert not remembered(pack_copy, memo_folder, output=str(pack_copy / "elsewhere"))


def test_an_input_changed_during_the_run_is_not_remembered(pack_copy, memo_folder):
    settle(pack_copy)
    memo = Memo("validate", pack_copy, {"json": "False"})
    assert memo.answer() is None
    detection = pack_copy / DETECTION
    detection.write_text(detection.read_text() + "\n")
    memo.remember("valid\n", 0)
    assert list(memo_folder.iterdir()) == []


@pytest.mark.parametrize("memo_text", ["{not json", '{"stdout": 1}', "[]"])
def test_a_broken_memo_means_a_real_run(pack_copy, memo_folder, capsys, memo_text):
    settle(pack_copy)
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 0
    [memo_file] = memo_folder.iterdir()
    memo_file.write_text(memo_text)
    assert not remembered(pack_copy, memo_folder, "validate")
    assert run(["validate", "--content", str(pack_copy)], capsys) == (0, "valid: 1 detection(s), 1 story(ies), 6 macro(s)\n")


def test_turned_off_or_unwritable_the_memo_stays_out_of_the_way(pack_copy, memo_folder, capsys, monkeypatch):
    monkeypatch.setenv("DETPACK_NO_CACHE", "1")
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 0
    assert list(memo_folder.iterdir()) == []
    monkeypatch.delenv("DETPACK_NO_CACHE")
    blocker = memo_folder / "file"
    blocker.write_text("")
    monkeypatch.setenv("DETPACK_CACHE_DIR", str(blocker / "memo"))  # a folder that cannot be made
    assert run(["validate", "--content", str(pack_copy)], capsys) == (0, "valid: 1 detection(s), 1 story(ies), 6 macro(s)\n")


def test_a_failed_run_is_not_remembered(pack_copy, memo_folder, capsys):
    detection = pack_copy / DETECTION
    detection.write_text(detection.read_text().replace("type: TTP", "type: NotAType"))
    settle(pack_copy)
    assert run(["validate", "--content", str(pack_copy)], capsys)[0] == 2
    assert list(memo_folder.iterdir()) == []


def test_compiled_templates_are_kept_and_render_the_same(pack_copy, memo_folder, capsys, monkeypatch):
    assert build(pack_copy, capsys)[0] == 0
    first = (pack_copy / "out" / "DA-ESS-DetPack-1.0.0.spl").read_bytes()
    compiled = sorted((memo_folder / "templates").iterdir())
    assert compiled, "no compiled template was kept"
    monkeypatch.setenv("DETPACK_NO_CACHE", "1")  # a real build, which reads no compiled template
    assert build(pack_copy, capsys)[0] == 0
    assert (pack_copy / "out" / "DA-ESS-DetPack-1.0.0.spl").read_bytes() == first
    monkeypatch.delenv("DETPACK_NO_CACHE")
    (pack_copy / "out" / "DA-ESS-DetPack-1.0.0.spl").unlink()
    assert build(pack_copy, capsys)[0] == 0  # a real build from the compiled templates
    assert (pack_copy / "out" / "DA-ESS-DetPack-1.0.0.spl").read_bytes() == first
    assert sorted((memo_folder / "templates").iterdir()) == compiled
