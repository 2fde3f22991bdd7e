"""The frozen records of the content model and the findings (``errors.record``): what a frozen dataclass gave."""
from __future__ import annotations

import pytest

from detpack.content.model import Deployment, Drilldown, Pack
from detpack.errors import COMPILED_AFTER, Finding, Fresh, FrozenRecord, Location, record, replace


@record(unequal=("note",))
class Sample:
    name: str
    count: int = 0
    note: str = ""
    tags: dict = Fresh(dict)


def test_fields_come_from_the_annotations_with_defaults():
    assert Sample("a", 2) == Sample(name="a", count=2)
    assert repr(Sample("a")) == "Sample(name='a', count=0, note='', tags={})"
    assert Sample.__match_args__ == ("name", "count", "note", "tags")
    assert not hasattr(Sample, "count")  # the default is the constructor's, not a class attribute


def test_a_fresh_default_is_made_for_each_record():
    first, second = Sample("a"), Sample("a")
    assert first.tags == {} and first.tags is not second.tags
    given = {"k": "v"}
    assert Sample("a", tags=given).tags is given


def test_wrong_arguments_are_refused():
    with pytest.raises(TypeError):
        Sample()
    with pytest.raises(TypeError):
        Sample("a", unknown=1)
    with pytest.raises(TypeError):
        Sample("a", 1, "", {}, "one too many")


def test_the_first_record_of_a_class_is_checked_as_every_other():
    @record
    class Fresh1:
        name: str
        count: int = 0

    with pytest.raises(TypeError):  # the first call builds the class's __init__, then runs it
        Fresh1(count=1)
    assert Fresh1("a") == Fresh1(name="a", count=0)


def test_a_record_cannot_change():
    sample = Sample("a")
    with pytest.raises(FrozenRecord):
        sample.count = 1
    with pytest.raises(AttributeError):  # FrozenRecord is one, as dataclasses' FrozenInstanceError
        del sample.name
    with pytest.raises(AttributeError):
        sample.other = 1
    assert sample.count == 0


def test_a_record_made_unfrozen_can_change_and_is_not_hashable():
    @record(frozen=False)
    class Tally:
        name: str
        seen: list = Fresh(list)

    tally = Tally("a")
    tally.seen.append(1)
    tally.name = "b"
    assert tally == Tally("b", [1]) and tally != Tally("a", [1])
    assert repr(tally).endswith("Tally(name='b', seen=[1])")
    with pytest.raises(TypeError):  # as a dataclass that is not frozen: equal by fields that change
        hash(tally)


def test_equality_and_hash_by_type_and_compared_fields():
    assert Sample("a", note="x") == Sample("a", note="y")  # ``unequal`` fields are left out
    assert hash(Sample("a", note="x", tags=None)) == hash(Sample("a", note="y", tags=None))
    assert Sample("a") != Sample("b")
    assert Sample("a") != ("a", 0, {})

    @record
    class Other:
        name: str
        count: int = 0
        note: str = ""
        tags: dict = Fresh(dict)

    assert Sample("a") != Other("a")


def test_order_compares_the_fields_as_a_tuple():
    places = [Location("b.yml", 1, 1), Location("a.yml", 9, 1), Location("a.yml", 2, 5), Location("a.yml")]
    assert sorted(places) == [Location("a.yml"), Location("a.yml", 2, 5), Location("a.yml", 9, 1), Location("b.yml", 1, 1)]
    assert Location("a.yml", 2) <= Location("a.yml", 2) < Location("a.yml", 3)
    with pytest.raises(TypeError):
        Location("a.yml") < Finding(Location("a.yml"), "f", "p")
    with pytest.raises(TypeError):
        Sample("a") < Sample("b")  # not ordered unless asked


def test_replace_copies_with_changes():
    drilldown = Drilldown("d", "search x", "$info_min_time$", "$info_max_time$", Location("d.yml", 3, 1))
    changed = replace(drilldown, search="search y")
    assert changed == Drilldown("d", "search y", "$info_min_time$", "$info_max_time$", Location("d.yml", 3, 1))
    assert drilldown.search == "search x"
    with pytest.raises(TypeError):
        replace(drilldown, unknown=1)


def test_the_model_leaves_locations_out_of_equality():
    one = Deployment("TTP", {"cron_schedule": "0 * * * *"}, None, True, {"": Location("a.yml")})
    assert one == Deployment("TTP", {"cron_schedule": "0 * * * *"}, None, True, None)
    first, second = Pack("a", None, (), (), ()), Pack("a", None, (), (), ())
    assert first == second and first.deployments == {} and first.deployments is not second.deployments


@pytest.mark.parametrize("default", [[], {}, set()])
def test_a_mutable_default_is_refused_when_the_class_is_defined(default):
    """One list or dict shared by every record, as dataclasses refuse it: Fresh makes one per record."""
    with pytest.raises(ValueError, match="Fresh"):
        @record
        class Shared:
            items: object = default


def test_a_field_without_default_after_one_with_is_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match="'second' without a default follows a field with one"):
        @record
        class Misordered:
            first: int = 0
            second: int


def test_hidden_fields_are_left_out_of_repr():
    @record(frozen=False, hidden=("cache",))
    class Cached:
        name: str
        cache: dict = Fresh(dict)

    cached = Cached("a")
    cached.cache["k"] = 1
    assert repr(cached).endswith("Cached(name='a')")


def sample_class(compiled: bool) -> type:
    """A new record class; ``compiled``: once it has made enough records to compile its own ``__init__``."""
    @record
    class Sample:
        name: str
        count: int = 0
        note: str = ""
        tags: dict = Fresh(dict)

    for _ in range(COMPILED_AFTER if compiled else 0):
        Sample("a")
    assert (Sample.__init__.__code__.co_argcount == 5) == compiled  # self and the fields: each path is the one meant
    return Sample


def test_records_are_made_alike_before_and_after_the_class_compiles_its_init():
    """The first records of a class bind their arguments without the compiled ``__init__`` (compiling
    it costs as much as making a hundred); the records are the same either way."""
    calls = [(("a",), {}), (("a", 2), {"tags": {"k": "v"}}), ((), {"name": "a", "note": "n"}), (("a", 1, "n", {}), {})]
    for compiled in (False, True):
        Sample = sample_class(compiled)
        made = [Sample(*args, **kwargs) for args, kwargs in calls]
        assert [(r.name, r.count, r.note, r.tags) for r in made] == [
            ("a", 0, "", {}), ("a", 2, "", {"k": "v"}), ("a", 0, "n", {}), ("a", 1, "n", {})]
        assert made[0].tags is not made[2].tags  # a Fresh default made for each record
        given = {}
        assert Sample("a", tags=given).tags is given


@pytest.mark.parametrize("args, kwargs", [
    ((), {}), ((), {"count": 1}), (("a",), {"unknown": 1}), (("a",), {"name": "b"}),
    (("a", 1, "", {}, "one too many"), {}), (("a", 1, "", {}, 5, 6), {"unknown": 1}),
])
def test_wrong_arguments_are_refused_in_the_same_words_before_and_after_the_class_compiles_its_init(args, kwargs):
    messages = []
    for compiled in (False, True):
        with pytest.raises(TypeError) as refused:
            sample_class(compiled)(*args, **kwargs)
        messages.append(str(refused.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize("fields", [(), ("a",), ("a", "b", "c")])
@pytest.mark.parametrize("args, kwargs", [((), {}), ((1,), {}), ((1, 2, 3, 4), {}), ((1,), {"a": 2}), ((), {"b": 1})])
def test_classes_without_defaults_refuse_wrong_arguments_alike_before_and_after_compiling(fields, args, kwargs):
    messages = []
    for compiled in (False, True):
        cls = record(type("Plain", (), {"__annotations__": dict.fromkeys(fields, "int")}))
        for _ in range(COMPILED_AFTER if compiled else 0):
            cls(*range(len(fields)))
        try:
            cls(*args, **kwargs)
            messages.append("made")
        except TypeError as refused:
            messages.append(str(refused))
    assert messages[0] == messages[1]
