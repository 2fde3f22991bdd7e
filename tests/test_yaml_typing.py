"""Values read as contentctl reads them: ``load_yaml`` against PyYAML's SafeLoader (``yaml.CSafeLoader``,
as contentctl/input/yml_reader.py loads content).

For any plain scalar, as a value or as a key, ``load_yaml`` gives PyYAML's value, or refuses in one
line where PyYAML fails, and calls it not YAML where PyYAML cannot parse it. Explicit tags other than
``!!str``, ``!!seq`` and ``!!map``, and merge keys, are refused by name rather than read (a choice:
no content uses them)."""
from __future__ import annotations

import datetime
import struct

import pytest
import yaml
from hypothesis import example, given, settings, strategies as st

from detpack.content.source import load_yaml
from detpack.errors import InvalidInput

# Every character the YAML 1.1 types are written with, and a few that make text.
ALPHABET = "0123456789_-+.:eE bBxXoOaAfFtTrRuUlLsSyYnNiIZz\t<=~"
EDGES = ["", "~", "YES", "NO", "ON", "OFF", "0", "-0", "+0", "012", "08", "0x1F", "-0x_1", "0b101", "0b_", "0x_",
         "0o17", "1_000", "1:30", "-1:30:05", "190:20:30.15", "1.5", "1.5e3", "1.5e+3", "-.5", ".5", "._5", "1.", "1._",
         ".inf", "-.Inf", "+.INF", ".NaN", "-.nan", "2024-01-31", "2024-1-31", "2024-02-30", "2024-13-01",
         "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-14 21:59:43 Z", "2001-12-14T1:02:03",
         "2001-12-14 21:59:43 +99", "2001-12-14 21:59:43.1234567", "<<", "=", "==", "<<x", "T1047", "Off-line", "1e5"]


def _keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def pyyaml(text: str):
    """("value", repr) | ("refused",) | ("not yaml",): PyYAML's outcome. A mapping key that PyYAML
    reads as no text names no field: ``load_yaml`` refuses it, by choice."""
    try:
        value = yaml.load(text, Loader=yaml.CSafeLoader)
        return ("value", repr(value)) if all(type(key) is str for key in _keys(value)) else ("refused",)
    except yaml.constructor.ConstructorError:
        return ("refused",)
    except yaml.YAMLError:
        return ("not yaml",)
    except (ValueError, OverflowError):  # SafeConstructor's own int(), float() sums and date() failing:
        return ("refused",)                # contentctl stops with a traceback


def ours(tmp_path, text: str):
    path = tmp_path / "typed.yml"
    path.write_text(text, encoding="utf-8")
    try:
        return "value", repr(load_yaml(path, "typed.yml")[0])
    except InvalidInput as error:
        [finding] = error.findings
        return ("not yaml",) if finding.problem.startswith("not valid YAML") else ("refused",)


plain_text = st.sampled_from(EDGES) | st.text(ALPHABET, max_size=12)


@settings(max_examples=1500, deadline=None)
@given(plain_text)
@example("0b_")
@example("2024-02-30")
def test_a_plain_value_reads_as_pyyaml_reads_it(tmp_path_factory, text):
    tmp_path = tmp_path_factory.mktemp("v")
    # YAML's non-specific tag "!" changes nothing for a plain scalar (PyYAML types it by its text)
    # but for an empty one, which is text
    for document in (f"k: {text}\n", f"- {text}\n", f"k: [{text}]\n", f"{text}\n", f"k: ! {text}\n", f"[! {text}]\n"):
        assert ours(tmp_path, document) == pyyaml(document), document


@settings(max_examples=1000, deadline=None)
@given(plain_text)
def test_a_plain_key_is_text_where_pyyaml_reads_text_and_refused_where_it_does_not(tmp_path_factory, text):
    tmp_path = tmp_path_factory.mktemp("k")
    for document in (f"{text}: v\n", f"k: {{{text}: v}}\n", f"{text}: ! v\n"):  # (a "!" in the text: see source.py)
        assert ours(tmp_path, document) == pyyaml(document), document




@settings(max_examples=300, deadline=None)
@given(plain_text)
def test_a_str_tag_or_quotes_keep_any_scalar_text(tmp_path_factory, text):
    tmp_path = tmp_path_factory.mktemp("s")
    for document in (f"k: !!str {text}\n", f"k: '{text}'\n", f'k: "{text}"\n'):
        theirs = pyyaml(document)
        assert ours(tmp_path, document) == theirs, document
        assert theirs[0] != "value" or isinstance(yaml.load(document, Loader=yaml.CSafeLoader)["k"], str)


def refusal(tmp_path, text: str) -> str:
    path = tmp_path / "typed.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as error:
        load_yaml(path, "typed.yml")
    [finding] = error.value.findings
    return str(finding)


@pytest.mark.parametrize("text, expected", [
    ("a:\n  b: 0b_\n", "typed.yml:2:6: a.b: '0b_' is an integer without digits, which YAML loaders cannot read "
                       "(expected quoted text, or a value of the type meant)"),
    ("date: 2024-02-30\n", "typed.yml:1:7: date: '2024-02-30' has the form of a date but is none: day is out of "
                           "range for month (expected quoted text, or a value of the type meant)"),
    ("k: =\n", "typed.yml:1:4: k: '=' is YAML 1.1's value key (=), which YAML loaders cannot read as a value "
               "(expected quoted text, or a value of the type meant)"),
    ("tags:\n  - <<\n", "typed.yml:2:5: tags: '<<' is a merge key (<<) where a value belongs, which YAML loaders "
                        "cannot read as a value (expected quoted text, or a value of the type meant)"),
    ("tags:\n  yes: 1\n", "typed.yml:2:3: tags: the key yes reads as true/false, not text (expected text keys (quote it))"),
    ("1: x\n", "typed.yml:1:1: (document): the key 1 reads as a number, not text (expected text keys (quote it))"),
    ("a: &x {b: 1}\nc:\n  <<: *x\n", "typed.yml:3:3: c: merge keys (<<) are not supported (expected the keys written out)"),
    ("version: !!int 5\n", "typed.yml:1:10: version: the tag !!int is not supported (expected a value without a tag)"),
    ("tags: !!set {a: null}\n", "typed.yml:1:7: tags: the tag !!set is not supported (expected a value without a tag)"),
    ("search: !Ref x\n", "typed.yml:1:9: search: the tag !Ref is not supported (expected a value without a tag)"),
    # PyYAML types a quoted scalar tagged "!" by its text, with patterns that also take a final line break
    ('version: ! "5"\n', "typed.yml:1:10: version: the tag ! is not supported (expected a value without a tag)"),
    ("k: [! '1:30']\n", "typed.yml:1:5: k: the tag ! is not supported (expected a value without a tag)"),
    ("k: ! |\n  5\n", "typed.yml:1:4: k: the tag ! is not supported (expected a value without a tag)"),
    ("! 'yes': x\n", "typed.yml:1:1: (document): the tag ! is not supported (expected a value without a tag)"),
    ("!!int 1: x\n", "typed.yml:1:1: (document): the tag !!int is not supported (expected a value without a tag)"),
])
def test_what_yaml_loaders_cannot_read_or_this_one_does_not_support_is_one_line_at_its_place(tmp_path, text, expected):
    assert refusal(tmp_path, text) == expected


LONG = [
    "1" * 4300, "-" + "9" * 4300, "1_" * 4300, "1" * 4301, "+1" + "_0" * 4300,  # Python's decimal bound: 4300 digits
    "1" + ":0" * 2418, "1" * 4301 + ":0", "0x" + "f" * 3571, "0b" + "1" * 14284, "0" + "7" * 4761,
    "0:" * 173 + "0.5", "-" + "1:" * 174 + "0.", "0:" * 400_000 + "0.0",  # a float's sum of base-60 places overflows
]


@pytest.mark.parametrize("text", LONG, ids=lambda text: f"{text[:6]}...{len(text)}")
def test_a_long_number_reads_as_pyyaml_reads_it_or_is_refused_where_pyyaml_stops(tmp_path, text):
    assert ours(tmp_path, f"k: {text}\n") == pyyaml(f"k: {text}\n")


@pytest.mark.parametrize("text", ["0x" + "f" * 3600, "-0b1" + "0" * 14290, "0" + "7" * 5000, "1" + ":0" * 2419,
                                  "1" + ":0" * 400_000])
def test_an_integer_pyyaml_reads_but_no_one_can_write_in_decimal_is_refused(tmp_path, text):
    if len(text) < 10_000:  # (PyYAML takes minutes to sum 400,000 places)
        with pytest.raises(ValueError, match="Exceeds the limit"):  # a value to PyYAML that str() cannot write
            str(yaml.load(f"k: {text}\n", Loader=yaml.CSafeLoader)["k"])
    assert refusal(tmp_path, f"k: {text}\n") == (f"typed.yml:1:4: k: {text[:20]!r}... ({len(text)} characters) is an "
                                                 "integer of more than 4300 decimal digits, which Python neither reads "
                                                 "nor writes (expected quoted text, or a value of the type meant)")


@pytest.mark.parametrize("text", [".nan", ".NaN", "-0.0", "-.inf", "190:20:30.15", "1_0.0_1", "2.5e-324"])
def test_a_float_is_pyyamls_bit_for_bit(tmp_path, text):
    path = tmp_path / "float.yml"
    path.write_text(f"k: {text}\n")
    theirs = yaml.load(f"k: {text}\n", Loader=yaml.CSafeLoader)["k"]
    assert struct.pack(">d", load_yaml(path)[0]["k"]) == struct.pack(">d", theirs)


def test_the_tags_of_the_kinds_nodes_have_anyway_change_nothing(tmp_path):
    text = "a: !!str 5\nb: !!seq [1, x]\nc: !!map {d: 2024-01-31}\n"
    assert ours(tmp_path, text) == pyyaml(text) == ("value", repr({"a": "5", "b": [1, "x"],
                                                                   "c": {"d": datetime.date(2024, 1, 31)}}))


def test_every_file_of_splunks_security_content_reads_as_contentctl_reads_it(security_content):
    checked = 0
    for path in sorted(security_content.rglob("*.yml")):
        theirs = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        assert load_yaml(path)[0] == theirs, path
        checked += 1
    assert checked > 2500  # 2,564 in 4.42


def test_an_unquoted_date_builds_the_app_a_quoted_one_builds(pack_copy, tmp_path):
    """PyYAML reads ``date: 2020-03-16`` as a date; contentctl takes it as the quoted text's date."""
    from detpack.build.app import build_app

    quoted = build_app(pack_copy, tmp_path / "quoted", sync_committed=False).files
    for path in (pack_copy / "detections/endpoint/script_execution_via_wmi.yml", pack_copy / "stories/suspicious_wmi_use.yml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("date: '2020-03-16'", "date: 2020-03-16").replace("date: '2018-10-23'", "date: 2018-10-23"),
                        encoding="utf-8")
        assert path.read_text(encoding="utf-8") != text
    assert build_app(pack_copy, tmp_path / "unquoted", sync_committed=False).files == quoted


def test_a_date_where_text_belongs_is_named_a_date(pack_copy):
    from detpack.content.validate import load_valid_pack

    path = pack_copy / "detections/endpoint/script_execution_via_wmi.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("name: Script Execution via WMI", "name: 2020-03-16"), encoding="utf-8")
    with pytest.raises(InvalidInput) as error:
        load_valid_pack(pack_copy)
    assert [(f.location.line, f.field, f.problem) for f in error.value.findings] == [(1, "name", "is a date")]
