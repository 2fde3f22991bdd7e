"""Findings and exit codes shared by every command, and the frozen records they and the content model are."""
from __future__ import annotations

import os
from operator import attrgetter
from pathlib import Path

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_INVALID_INPUT = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a process Ctrl-C stopped


class FrozenRecord(AttributeError):
    """A record's field was assigned: records do not change once made."""


class Fresh:
    """A record field's default made anew for each record, as ``dataclasses.field(default_factory=make)``."""

    __slots__ = ("make",)

    def __init__(self, make):
        self.make = make


def record(cls: type | None = None, /, *, order: bool = False, unequal: tuple[str, ...] = (), frozen: bool = True,
           hidden: tuple[str, ...] = ()):
    """A frozen record, as ``dataclasses.dataclass(frozen=True)`` makes one: fields from the
    annotations, class attributes as defaults (``Fresh(dict)`` for one made per record), equality
    and hashing by type and fields (but those in ``unequal``), and with ``order`` the comparisons of
    those fields as a tuple; ``repr`` shows all fields but those in ``hidden``. With ``frozen=False``, as ``dataclasses.dataclass()``: fields can be
    assigned, and the record is unhashable.

    Only ``__init__`` is generated, and only once the class has made ``COMPILED_AFTER`` records, so
    a record is made as fast as a dataclass instance (the content model and its locations are made by
    the ten thousand for a large pack) while a class is defined in a fraction of a dataclass's time:
    as dataclasses, the model's classes and the SPL syntax tree's were most of the start-up of
    ``validate``."""
    if cls is None:
        return lambda cls: record(cls, order=order, unequal=unequal, frozen=frozen, hidden=hidden)
    names = tuple(cls.__annotations__)
    defaults = {name: cls.__dict__[name] for name in names if name in cls.__dict__}
    _check_defaults(cls, names, defaults)
    compared = tuple(name for name in names if name not in unequal)
    key = attrgetter(*compared) if compared else (lambda self: ())
    shown = tuple(name for name in names if name not in hidden)

    def __eq__(self, other):
        return key(self) == key(other) if other.__class__ is self.__class__ else NotImplemented

    def __hash__(self):
        return hash(key(self))

    def __repr__(self):
        return f"{self.__class__.__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    def __setattr__(self, name, value):
        raise FrozenRecord(f"cannot assign to field '{name}'")

    def __delattr__(self, name):
        raise FrozenRecord(f"cannot delete field '{name}'")

    methods = [_first_init(cls, names, defaults), __eq__, __repr__]
    if frozen:
        methods += [__hash__, __setattr__, __delattr__]
    else:
        cls.__hash__ = None  # equal by fields that can change
    if order:
        methods += _comparisons(key)
    for name in defaults:
        delattr(cls, name)
    for method in methods:
        setattr(cls, method.__name__, method)
    cls.__match_args__ = names
    return cls


def _check_defaults(cls: type, names: tuple[str, ...], defaults: dict) -> None:
    """What dataclasses refuse when the class is defined, so that ``__init__``, compiled later,
    cannot fail on it: a default every record would share though it can change (as dataclasses,
    an unhashable one), and a field without a default after one with."""
    for name, value in defaults.items():
        if not isinstance(value, Fresh) and type(value).__hash__ is None:
            raise ValueError(f"{cls.__qualname__}.{name}: mutable default {type(value).__name__} "
                             f"would be shared by every record: use Fresh({type(value).__name__})")
    for before, name in zip(names, names[1:]):
        if before in defaults and name not in defaults:
            raise TypeError(f"{cls.__qualname__}: field '{name}' without a default follows a field with one")


# Compiling a class's ``__init__`` takes about as long as making a hundred records without it: a class
# compiles its own once it has made this many, so a small pack's run (which makes a few records of each
# of some thirty classes) compiles none, and a large pack's hot classes make the rest compiled.
COMPILED_AFTER = 64
_NO_DEFAULT = object()


def _first_init(cls: type, names: tuple[str, ...], defaults: dict):
    """The ``__init__`` of the class's first records: it binds the arguments as the compiled one's
    parameters do (``_bound``), and at the ``COMPILED_AFTER``-th record compiles that one (``_init``)
    and hands over to it."""
    made = 0

    def __init__(self, *args, **kwargs):
        nonlocal made
        made += 1
        if made >= COMPILED_AFTER:
            cls.__init__ = _init(cls, names, defaults)
            cls.__init__(self, *args, **kwargs)
            return
        for name, value in _bound(cls, names, defaults, args, kwargs):
            object.__setattr__(self, name, value)

    return __init__


def _bound(cls: type, names: tuple[str, ...], defaults: dict, args: tuple, kwargs: dict) -> list[tuple]:
    """``(field, value)`` of each field, as Python binds the parameters of the compiled ``__init__``
    (a field's default, and a new one for a ``Fresh`` default), and the TypeError it raises, in its
    words, for arguments that do not fit."""
    function = f"{cls.__qualname__}.__init__()"
    values = dict(zip(names, args))
    for name, value in kwargs.items():
        if name not in names:
            raise TypeError(f"{function} got an unexpected keyword argument '{name}'")
        if name in values:
            raise TypeError(f"{function} got multiple values for argument '{name}'")
        values[name] = value
    if len(args) > len(names):
        takes = f"from {len(names) - len(defaults) + 1} to {len(names) + 1}" if defaults else str(len(names) + 1)
        raise TypeError(f"{function} takes {takes} positional argument{'s' * (takes != '1')} "
                        f"but {len(args) + 1} were given")
    if missing := [repr(name) for name in names if name not in values and name not in defaults]:
        listed = (missing[0] if len(missing) == 1 else f"{missing[0]} and {missing[1]}" if len(missing) == 2
                  else f"{', '.join(missing[:-1])}, and {missing[-1]}")
        raise TypeError(f"{function} missing {len(missing)} required positional "
                        f"argument{'s' * (len(missing) > 1)}: {listed}")
    bound = []
    for name in names:
        default = defaults.get(name, _NO_DEFAULT)
        value = values.get(name, default)
        bound.append((name, value.make() if value is default and isinstance(default, Fresh) else value))
    return bound


def _init(cls: type, names: tuple[str, ...], defaults: dict):
    """``__init__(self, <fields>)`` compiled for ``cls``: a generic one would make each record slower."""
    scope = {"_set": object.__setattr__} | {f"_default_{name}": value for name, value in defaults.items()}
    parameters = ", ".join(f"{name}=_default_{name}" if name in defaults else name for name in names)
    lines = [f"    if {name} is _default_{name}: {name} = {name}.make()"
             for name, value in defaults.items() if isinstance(value, Fresh)]
    lines += [f"    _set(self, {name!r}, {name})" for name in names]
    exec(f"def __init__(self, {parameters}):\n" + "\n".join(lines or ["    pass"]), scope)
    init = scope["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def _comparisons(key):
    def __lt__(self, other):
        return key(self) < key(other) if other.__class__ is self.__class__ else NotImplemented

    def __le__(self, other):
        return key(self) <= key(other) if other.__class__ is self.__class__ else NotImplemented

    def __gt__(self, other):
        return key(self) > key(other) if other.__class__ is self.__class__ else NotImplemented

    def __ge__(self, other):
        return key(self) >= key(other) if other.__class__ is self.__class__ else NotImplemented

    return [__lt__, __le__, __gt__, __ge__]


def replace(value, /, **changes):
    """A copy of the record ``value`` with ``changes``, as ``dataclasses.replace``."""
    return value.__class__(**{name: getattr(value, name) for name in value.__match_args__} | changes)


def display_path(path: Path | str) -> str:
    """A path as the user can open it: relative to the working directory when inside it."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return os.fspath(path)


@record(order=True)
class Location:
    """Where a value came from: 1-based line and column in a file."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if not self.line:
            return self.file
        return f"{self.file}:{self.line}:{self.column}"


@record(order=True)
class Finding:
    """One problem in the input, printed on one line."""

    location: Location
    field: str
    problem: str
    expected: str = ""

    def __str__(self) -> str:
        text = f"{self.location}: {self.field}: {self.problem}"
        return f"{text} (expected {self.expected})" if self.expected else text

    def as_dict(self) -> dict:
        return {
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "field": self.field,
            "problem": self.problem,
            "expected": self.expected,
        }


class BuildFailed(Exception):
    """A valid pack whose app cannot be rendered or packaged (a value no conf file can hold included):
    every command that builds exits 1 (``build.app.report_build_failed``). The command line
    catches this rather than each stage's own error, so that it need not import those stages
    (Jinja, tarfile) before a large pack's second process starts reading."""


class InvalidInput(Exception):
    """Input that cannot be used; carries every finding at once."""

    def __init__(self, findings: list[Finding]):
        self.findings = sorted(findings)
        super().__init__("\n".join(str(f) for f in self.findings))
