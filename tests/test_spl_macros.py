"""Macro expansion from macros.conf text: arguments, nesting, and every error."""
from __future__ import annotations

import pytest

from detpack.conf import parse_conf
from detpack.spl import MacroDef, SplError, expand, macros_from_stanzas, parse

CONF = """\
[summariesonly_config]
definition = false

[security_content_summariesonly]
definition = summariesonly=`summariesonly_config` fillnull_value=null

[drop_dm_object_name(1)]
args = object
definition = rename "$object$.*" as *

[pair(2)]
args = a, b
definition = eval $a$=$b$, again=$a$

[uses_undefined]
definition = search `nowhere`

[loop_a]
definition = `loop_b`

[loop_b]
definition = `loop_a`
"""


@pytest.fixture
def macros():
    return macros_from_stanzas(parse_conf(CONF, "macros.conf"))


def test_plain_macro(macros):
    assert expand("| x `summariesonly_config`", macros) == "| x false"


def test_nested_macros_expand(macros):
    assert expand("| tstats `security_content_summariesonly` count", macros) == \
        "| tstats summariesonly=false fillnull_value=null count"


def test_argument_substitution(macros):
    assert expand("`drop_dm_object_name(Processes)`", macros) == 'rename "Processes.*" as *'


def test_two_arguments_every_occurrence_and_quoted_commas(macros):
    assert expand('`pair(x, "a,b")`', macros) == 'eval x="a,b", again=x'


def test_argument_count_selects_the_stanza(macros):
    with pytest.raises(SplError, match=r"undefined macro 'drop_dm_object_name' at position 2"):
        expand("| `drop_dm_object_name`", macros)


def test_undefined_macro_is_named(macros):
    with pytest.raises(SplError, match=r"undefined macro 'missing_filter' at position 9"):
        expand("| head | `missing_filter`", macros)


def test_undefined_macro_inside_a_definition_points_at_the_outer_call(macros):
    with pytest.raises(SplError, match=r"undefined macro 'nowhere' at position 0"):
        expand("`uses_undefined`", macros)


def test_recursion_is_refused_with_the_chain(macros):
    with pytest.raises(SplError, match=r"macro 'loop_a' uses itself \(loop_a -> loop_b -> loop_a\)"):
        expand("`loop_a`", macros)


def test_unterminated_backtick(macros):
    with pytest.raises(SplError, match="missing closing backtick"):
        expand("| search `summariesonly_config", macros)


def test_mapping_of_macrodefs_is_accepted():
    assert expand("`m`", {"m": MacroDef("m", (), "head 1")}) == "head 1"


@pytest.mark.parametrize("conf, message", [
    ("[m(1)]\ndefinition = $x$\n", r"macros.conf:1: macro \[m\(1\)\] declares 0 args"),
    ("[m]\nargs = x\n", r"macros.conf:1: macro \[m\] has no definition"),
    ("[m]\ndefinition = 1\niseval = 1\n", "unsupported iseval = 1"),
    ("[bad name]\ndefinition = x\n", r"invalid macro stanza name \[bad name\]"),
])
def test_broken_macro_definitions(conf, message):
    with pytest.raises(SplError, match=message):
        macros_from_stanzas(parse_conf(conf, "macros.conf"))


# --- comments, quoted values, named and quoted arguments -----------------------------


def test_a_comment_becomes_one_space(macros):
    # Search Manual, "Add comments to searches": comments are replaced with a space.
    assert expand("| stats```count them```count", macros) == "| stats count"


def test_a_comment_can_hide_a_macro_call(macros):
    assert expand("a=1 ```no `nowhere` here``` | head", macros) == "a=1   | head"


def test_an_unterminated_comment_is_named_with_its_position(macros):
    with pytest.raises(SplError, match=r"unterminated comment \(missing closing ```\) at position 4"):
        expand("a=1 ```forgot to close", macros)


def test_a_macro_call_inside_a_quoted_value_is_not_expanded(macros):
    # Knowledge Manager Manual, "Use search macros in searches": macros inside quoted
    # values are not expanded.
    assert expand('search x="audit`nowhere`local" | `summariesonly_config`', macros) == \
        'search x="audit`nowhere`local" | false'


def test_a_comment_inside_a_quoted_value_is_text(macros):
    assert expand('search x="a```b```c"', macros) == 'search x="a```b```c"'


def test_named_arguments_bind_by_name(macros):
    assert expand("`pair(b=2, a=x)`", macros) == "eval x=2, again=x"


def test_named_arguments_must_name_every_argument_else_they_are_positional(macros):
    assert expand("`pair(c=2, a=x)`", macros) == "eval c=2=a=x, again=c=2"


def test_a_quoted_argument_keeps_its_quotes_and_the_parser_reads_it_as_one_name(macros):
    expanded = expand('`drop_dm_object_name("Processes")`', macros)
    assert expanded == 'rename ""Processes".*" as *'
    assert parse("| " + expanded).commands[0].pairs == (("Processes.*", "*"),)


def test_an_escaped_quote_outside_quotes_opens_no_quoted_value(macros):
    assert expand('a=*\\"x\\":true* | `summariesonly_config`', macros) == 'a=*\\"x\\":true* | false'


def test_arguments_are_substituted_at_once():
    # The value of a holds "$b$": it stays as written, not replaced by b's value.
    macros = {"m2(2)": MacroDef("m2(2)", ("a", "b"), "$a$ $b$")}
    assert expand('`m2("$b$", z)`', macros) == '"$b$" z'


def test_a_macro_bomb_is_refused_by_size_or_calls():
    macros = {"m0": MacroDef("m0", (), "x" * 100)}
    for level in range(1, 25):
        macros[f"m{level}"] = MacroDef(f"m{level}", (), f"`m{level - 1}` `m{level - 1}`")
    with pytest.raises(SplError, match="macro expansion (is longer than|makes more than)"):
        expand("`m24`", macros)


def test_many_calls_to_an_empty_macro_are_bounded():
    macros = {"m0": MacroDef("m0", (), "")}
    for level in range(1, 25):
        macros[f"m{level}"] = MacroDef(f"m{level}", (), f"`m{level - 1}``m{level - 1}`")
    with pytest.raises(SplError, match="macro expansion makes more than 10000 calls"):
        expand("`m24`", macros)
