"""Field inference used by validation: each construct on its own."""
from __future__ import annotations

import pytest

from detpack.content.fields import returned_fields, split_pipeline


def test_pipes_inside_quotes_backticks_and_subsearches_do_not_split():
    search = '| tstats count where a="x|y" by b | `m(a|b)` | search [| inputlookup x | fields a] | table a'
    assert split_pipeline(search) == ('tstats count where a="x|y" by b', "`m(a|b)`",
                                      "search [| inputlookup x | fields a]", "table a")


def test_escaped_quote_does_not_end_the_string():
    assert split_pipeline(r'search a="x\"|y" | table a') == (r'search a="x\"|y"', "table a")


@pytest.mark.parametrize("search, fields", [
    ("| tstats count from datamodel=X where X.a=1 by X.a X.b", {"count", "X.a", "X.b"}),
    ("| tstats summariesonly=true count(X.a) dc(X.b) as hosts from datamodel=X by X.c", {"count(X.a)", "hosts", "X.c"}),
    ("| tstats count from datamodel=X by X.a | `drop_dm_object_name(X)`", {"count", "a"}),
    ("| tstats count from datamodel=X by X.a | rename X.* as src_*", {"count", "src_a"}),
    ("| tstats count from datamodel=X by X.a | rename count as hits", {"hits", "X.a"}),
    ("| tstats count from datamodel=X by X.a | eval b=1, c=if(a==1,2,3)", {"count", "X.a", "b", "c"}),
    ("| tstats count from datamodel=X by X.a X.b | table X.a", {"X.a"}),
    ("| tstats count from datamodel=X by X.a X.b | fields - X.a", {"count", "X.b"}),
    ("search index=main | stats count min(_time) as firstTime by host", {"count", "firstTime", "host"}),
])
def test_returned_fields(search, fields):
    assert returned_fields(search) == fields


# False alarms once raised on Splunk's security_content 4.42: each shape, reduced to its point.
@pytest.mark.parametrize("search, fields", [
    ("| stats count by src,user,action", {"count", "src", "user", "action"}),
    ("| stats min(_time) as firstTime, max(time) as lastTime by user", {"firstTime", "lastTime", "user"}),
    ("| stats count(eval(op==\"a b\")) as hits values(eval(if(x>1,y,null))) as ys by src",
     {"hits", "ys", "src"}),
    ("| tstats count from datamodel=X by X.a _time span=1h | `drop_dm_object_name(\"X\")`", {"count", "a", "_time"}),
    ("| stats count by a | eventstats avg(count) as mean by a", {"count", "a", "mean"}),
    ("| stats count by dest | lookup hosts ip as dest OUTPUT owner, site AS location",
     {"count", "dest", "owner", "location"}),
    ("| stats values(x) as x by url | rex field=url \"(?<domain>[^/]+)/(?P<path>.*)\"", {"x", "url", "domain", "path"}),
    ("| stats count by src_ip | iplocation src_ip", {"count", "src_ip", "City", "Country", "Region", "lat", "lon"}),
    ("| stats count by a, b | rename a as x, b as \"y z\"", {"count", "x", "y z"}),
    ("| stats count by a | top limit=5 a", {"a", "count", "percent"}),
    ("| stats count by a | eval 'odd name'=1, b = a.\"=\"", {"count", "a", "odd name", "b"}),
])
def test_false_alarms_found_in_security_content(search, fields):
    assert returned_fields(search) == fields


@pytest.mark.parametrize("search", [
    "| stats values(*) as * by user",
    "| stats count by a | lookup hosts ip as a",  # every field of the table comes back
    "| stats count by a | join a [search index=x]",
    "| stats count by a | spath input=a",
])
def test_fields_that_cannot_be_known_are_not_guessed(search):
    assert returned_fields(search) is None


def test_raw_event_searches_have_unknown_fields():
    assert returned_fields("search index=main EventCode=1 | eval host=lower(host)") is None
    assert returned_fields("search index=main | table host*") is None
    assert returned_fields("search index=main | fields - _raw") is None


# Real problems once missed because the field set was unknown, or a command's new field not seen.
@pytest.mark.parametrize("search, fields", [
    ("search index=main | table host user", {"host", "user"}),
    ("search index=main | fields + host, user", {"host", "user"}),
    ("| stats values(*) as * by user | table user dest", {"user", "dest"}),
    ("| stats values(*) as * by user | top limit=5 user", {"user", "count", "percent"}),
    ("| stats count by dest | table dest", {"dest"}),
    ("| stats count by dest | fillnull value=unknown user", {"count", "dest", "user"}),
    ("| stats count by dest | fillnull value=0", {"count", "dest"}),
    ("| stats min(_time) as t by dest | convert timeformat=\"%Y\" ctime(t) as firstTime", {"t", "dest", "firstTime"}),
    ("| stats min(_time) as t by dest | convert ctime(t)", {"t", "dest"}),
])
def test_the_field_set_is_known_again_or_grows(search, fields):
    assert returned_fields(search) == fields


def test_appendpipe_makes_the_fields_unknown():
    assert returned_fields("| stats count by a | appendpipe [stats count as total]") is None


@pytest.mark.parametrize("text, separators, items", [
    ("a, b c", " ,", ["a", "b", "c"]),
    ('values(x, y) as z, "q, r"', " ,", ["values(x, y)", "as", "z", '"q, r"']),
    ('a "b, c', " ,", ["a", '"b, c']),  # a quote never closed runs to the end
    ("a) b, c", " ,", ["a) b, c"]),  # a parenthesis closed first: no split until it is balanced
    ("x='a(b' , y", ",", ["x='a(b'", "y"]),  # a parenthesis inside quotes does not count
    ("a\tb\nc", " ,", ["a\tb\nc"]),  # only the given separators split
    ("f(a, (b, c)), d", ",", ["f(a, (b, c))", "d"]),
    ("", " ,", []),
])
def test_items_split_at_separators_outside_quotes_and_parentheses(text, separators, items):
    from detpack.content.fields import _items

    assert _items(text, separators) == items
