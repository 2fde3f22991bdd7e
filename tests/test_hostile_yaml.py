"""Content from pull requests: alias bombs, deep nesting and huge files are refused in one line, nothing written."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from detpack.build.app import build_app
from detpack.content.source import MAX_DEPTH, MAX_FILE_BYTES, MAX_TEXT_CHARS, MAX_VALUES, load_yaml
from detpack.content.validate import load_valid_pack
from detpack.errors import InvalidInput

from conftest import PROJECT_ROOT

DETECTION = "detections/endpoint/script_execution_via_wmi.yml"
# Nine anchored lines, each ten references to the line before: 10^8 values once expanded.
BILLION_LAUGHS = "".join(
    ['a0: &a0 ["lol"]\n'] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9)]
) + "search: *a8\n"


def refusal(path: Path) -> str:
    with pytest.raises(InvalidInput) as error:
        load_yaml(path, "file.yml")
    assert len(error.value.findings) == 1
    return str(error.value.findings[0])


def test_an_alias_bomb_is_refused_at_the_key_that_expands(tmp_path):
    (tmp_path / "bomb.yml").write_text(BILLION_LAUGHS)
    assert BILLION_LAUGHS.count("\n") == 10
    # a4 alone already stands for more than 10^4 values
    assert refusal(tmp_path / "bomb.yml") == (f"file.yml:5:1: (yaml): a4: expands to more than {MAX_VALUES} "
                                              "values (aliases?) (expected a file without alias bombs)")


def test_a_few_aliases_are_fine(tmp_path):
    (tmp_path / "ok.yml").write_text("a: &x [1, 2]\nb: *x\nc: *x\n")
    assert load_yaml(tmp_path / "ok.yml")[0] == {"a": [1, 2], "b": [1, 2], "c": [1, 2]}


def test_nesting_beyond_any_detection_is_refused_where_it_gets_too_deep(tmp_path):
    text = "a:\n" + "".join("  " * i + "- \n" for i in range(1, MAX_DEPTH + 3))
    (tmp_path / "deep.yml").write_text("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n")
    found = refusal(tmp_path / "deep.yml")
    assert found == f"file.yml:1:{MAX_DEPTH + 4}: (yaml): nests deeper than {MAX_DEPTH} levels (expected a shallower document)"
    (tmp_path / "block.yml").write_text(text)
    assert f"nests deeper than {MAX_DEPTH} levels" in refusal(tmp_path / "block.yml")


def test_nesting_libyaml_itself_refuses_is_one_line_too(tmp_path):
    (tmp_path / "deeper.yml").write_text("a: " + "[" * 5000)
    assert "(yaml): not valid YAML" in refusal(tmp_path / "deeper.yml")


def test_an_alias_used_as_a_key_is_refused(tmp_path):
    (tmp_path / "key.yml").write_text("a: &x [1]\n? *x\n: 2\n")
    assert refusal(tmp_path / "key.yml") == "file.yml:1:4: (yaml): a key is not text (expected text keys)"


def test_an_oversized_file_is_refused_without_reading_it_whole(tmp_path):
    line = "# " + "x" * 98 + "\n"
    (tmp_path / "big.yml").write_text(line * (MAX_FILE_BYTES // len(line) + 10))
    whole_lines = MAX_FILE_BYTES // len(line)
    assert refusal(tmp_path / "big.yml") == (
        f"file.yml:{whole_lines + 1}:{MAX_FILE_BYTES - whole_lines * len(line) + 1}: (file): "
        f"is larger than {MAX_FILE_BYTES} bytes (expected a content file under 1 MiB)")


@pytest.mark.parametrize("hostile", ["bomb", "deep", "big"])
def test_a_hostile_detection_fails_the_build_and_nothing_is_written(pack_copy, tmp_path, hostile):
    text = {"bomb": BILLION_LAUGHS, "deep": "a: " + "[" * 40 + "]" * 40 + "\n",
            "big": "#" * (MAX_FILE_BYTES + 1)}[hostile]
    (pack_copy / "detections/endpoint/hostile.yml").write_text(text)
    with pytest.raises(InvalidInput) as error:
        build_app(pack_copy, tmp_path / "out")
    assert [f.location.file for f in error.value.findings] == ["detections/endpoint/hostile.yml"]
    assert not (tmp_path / "out").exists()
    assert not (pack_copy / "default").exists()


def test_validate_refuses_an_alias_bomb_within_a_memory_limit(pack_copy):
    """Without the bound, expanding the aliases needs gigabytes: here the process may use 300 MiB."""
    (pack_copy / "detections/endpoint/bomb.yml").write_text(BILLION_LAUGHS)
    script = textwrap.dedent("""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))
        sys.path.insert(0, sys.argv[1])
        from detpack.cli import main
        sys.exit(main(["validate", "--content", "."]))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(PROJECT_ROOT)], cwd=pack_copy,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "detections/endpoint/bomb.yml:" in done.stderr and "(aliases?)" in done.stderr


def test_an_alias_of_one_long_text_is_refused_by_the_characters_it_expands_to(tmp_path):
    long_text = "x" * 400_000
    (tmp_path / "wide.yml").write_text(f"name: n\ntags:\n  product:\n  - &big {long_text}\n" + "  - *big\n" * 1500)
    assert refusal(tmp_path / "wide.yml") == (f"file.yml:2:1: (yaml): tags.product: expands to more than {MAX_TEXT_CHARS} "
                                              "characters of text (aliases?) (expected a file without alias bombs)")


@pytest.mark.parametrize("number", ["9" * 5000, "0x" + "f" * 5000])
def test_an_integer_too_long_for_python_to_write_is_one_line_at_its_place(pack_copy, tmp_path, number):
    """PyYAML stops at the first (int() refuses it); the second it reads, and nothing could write it."""
    path = pack_copy / DETECTION
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^version: \d+", "version: " + number, text))
    with pytest.raises(InvalidInput) as error:
        build_app(pack_copy, tmp_path / "out")
    assert [(f.location.line, f.field, f.problem) for f in error.value.findings] == [
        (text[:text.index("\nversion:") + 1].count("\n") + 1, "version", f"{number[:20]!r}... ({len(number)} characters) "
         "is an integer of more than 4300 decimal digits, which Python neither reads nor writes")]
    assert not (tmp_path / "out").exists()


def test_utf16_text_is_one_line_naming_its_position(tmp_path):
    (tmp_path / "wide.yml").write_bytes("name: x\nid: y\n".encode("utf-16-le"))
    assert refusal(tmp_path / "wide.yml") == ("file.yml:1:2: (file): character #x0000 is not allowed in YAML "
                                              "(expected UTF-8 text (UTF-16 or binary?))")


def test_invalid_utf8_is_one_line_naming_its_line_and_column(tmp_path):
    (tmp_path / "latin1.yml").write_bytes("name: x\ndescription: caf\u00e9 au lait\n".encode("latin-1"))
    assert refusal(tmp_path / "latin1.yml") == ("file.yml:2:17: (file): not UTF-8 text: invalid continuation byte "
                                                "(expected UTF-8)")


def test_locations_hold_on_a_line_as_long_as_a_file_may_be(tmp_path):
    """A value's line and column come back exactly, however far along its line it stands."""
    filler = f"pad: {'x' * (MAX_FILE_BYTES - 100)}, "
    (tmp_path / "wide.yml").write_text(f"first: x\nwide: {{{filler}last: [one, two]}}\n")
    _, locations = load_yaml(tmp_path / "wide.yml", "file.yml")
    column = len("wide: {") + len(filler) + 1
    assert str(locations["wide.last#key"]) == f"file.yml:2:{column}"
    assert str(locations["wide.last[1]"]) == f"file.yml:2:{column + len('last: [one, ')}"
    assert str(locations["first"]) == "file.yml:1:8"


def test_a_plain_scalar_of_a_point_and_underscores_is_text_not_a_crash(tmp_path):
    """Points and underscores without a digit between have no float's form to PyYAML 6.0.4: text."""
    (tmp_path / "point.yml").write_text("a: ._\nb: [+.__, -._e5]\nc: ._5\nd: 1._\n")
    value, _ = load_yaml(tmp_path / "point.yml", "point.yml")
    assert value == {"a": "._", "b": ["+.__", "-._e5"], "c": "._5", "d": 1.0}


def test_a_version_of_a_point_and_an_underscore_is_a_finding(pack_copy):
    path = pack_copy / DETECTION
    text = path.read_text()
    path.write_text(re.sub(r"(?m)^version: \d+", "version: ._", text))
    with pytest.raises(InvalidInput) as error:
        load_valid_pack(pack_copy)
    assert [(f.location.line, f.field, f.problem) for f in error.value.findings] == [
        (text[:text.index("\nversion:") + 1].count("\n") + 1, "version", "is text")]
