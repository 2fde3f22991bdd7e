"""detpack.cli: a parser built for one command parses that command exactly as the whole parser does."""
from __future__ import annotations

import pytest

from detpack.cli import COMMANDS, make_parser


def options_of(parser, command: str) -> list[tuple]:
    [subparsers] = [a for a in parser._actions if a.dest == "command"]
    return [(tuple(a.option_strings), a.dest, a.default, a.nargs) for a in subparsers.choices[command]._actions]


@pytest.mark.parametrize("command", COMMANDS)
def test_the_parser_for_one_command_has_all_its_options(command):
    whole, only = make_parser(), make_parser(only=command)
    assert options_of(only, command) == options_of(whole, command)
    assert len(options_of(whole, command)) > 1  # more than --help


def test_the_parser_for_one_command_leaves_the_others_bare():
    only = make_parser(only="validate")
    assert [o for o, *_ in options_of(only, "build")] == [("-h", "--help")]
