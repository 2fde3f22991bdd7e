"""Field inference used by validation: each construct on its own."""
from __future__ import annotations

import pytest

from detpack.content.fields import returned_fields, split_pipeline


def test_pipes_inside_quotes_backticks_and_subsearches_do_not_split():
    search = '| tstats count where a="x|y" by b | `m(a|b)` | search [| inputlookup x | fields a] | table a'
    assert split_pipeline(search) == ['tstats count where a="x|y" by b', "`m(a|b)`",
                                      "search [| inputlookup x | fields a]", "table a"]


def test_escaped_quote_does_not_end_the_string():
    assert split_pipeline(r'search a="x\"|y" | table a') == [r'search a="x\"|y"', "table a"]


@pytest.mark.parametrize("search, fields", [
    ("| tstats count from datamodel=X where X.a=1 by X.a X.b", {"count", "X.a", "X.b"}),
    ("| tstats summariesonly=true count(X.a) dc(X.b) as hosts from datamodel=X by X.c", {"count(X.a)", "hosts", "X.c"}),
    ("| tstats count from datamodel=X by X.a | `drop_dm_object_name(X)`", {"count", "a"}),
    ("| tstats count from datamodel=X by X.a | rename X.* as src_*", {"count", "src_a"}),
    ("| tstats count from datamodel=X by X.a | rename count as hits", {"hits", "X.a"}),
    ("| tstats count from datamodel=X by X.a | eval b=1, c=if(a==1,2,3)", {"count", "X.a", "b", "c"}),
    ("| tstats count from datamodel=X by X.a X.b | table X.a", {"X.a"}),
    ("| tstats count from datamodel=X by X.a X.b | fields - X.a", {"count", "X.a", "X.b"}),
    ("search index=main | stats count min(_time) as firstTime by host", {"count", "firstTime", "host"}),
])
def test_returned_fields(search, fields):
    assert returned_fields(search) == fields


def test_raw_event_searches_have_unknown_fields():
    assert returned_fields("search index=main EventCode=1 | table host") is None
