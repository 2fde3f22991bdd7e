"""Command line: the only module that knows argparse.

It parses the arguments and hands plain values to the stage that does the
work. Each handler imports its stage (and even the shared ``errors``) when it runs,
so a command loads only what it needs: ``validate`` never loads Jinja, ``build``
never loads splunklib or AppInspect, and ``--help`` loads argparse alone.

Exit codes everywhere: 0 ok, 1 checks failed (the app could not be built included:
``build.app.report_build_failed``), 2 invalid input or usage, 130 interrupted.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from importlib import import_module

# A string: argparse passes a string default through the argument's type (``path``).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))


def path(text: str):
    """The type of every path argument: pathlib loads only once a command's arguments are built."""
    from pathlib import Path

    return Path(text)


def add_content_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=path, default=PROJECT_ROOT,
                        help="content directory in the security_content layout (default: this project)")


def add_strict_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true",
                        help="treat warnings (checks contentctl does not make) as errors")


def default_output(args: argparse.Namespace) -> Path:
    return args.output if args.output else args.content / "dist"


def report_invalid(error, as_json: bool) -> int:
    """Print the findings of an InvalidInput; exit code 2."""
    import json

    from .errors import EXIT_INVALID_INPUT

    if as_json:
        print(json.dumps({"ok": False, "findings": [f.as_dict() for f in error.findings]}, indent=2))
    else:
        for finding in error.findings:
            print(finding, file=sys.stderr)
        print(f"{len(error.findings)} problem(s) found; nothing was written", file=sys.stderr)
    return EXIT_INVALID_INPUT


def report_warnings(warnings, as_json: bool) -> None:
    """Warnings go to stderr, one per line, and never change the exit code (``--strict`` makes them errors)."""
    if as_json:
        return
    for finding in warnings:
        print(f"warning: {finding}", file=sys.stderr)
    if warnings:
        print(f"{len(warnings)} warning(s); --strict makes them errors", file=sys.stderr)


def report_notes(notes, as_json: bool) -> None:
    """Drilldowns the offline parser cannot check: one line per construct, with a count and the first
    place it occurs (``--json`` lists every one); never an error, not even with ``--strict``."""
    if as_json or not notes:
        return
    by_problem: dict[str, list] = {}
    for note in notes:
        by_problem.setdefault(note.problem, []).append(note)
    for problem, found in sorted(by_problem.items(), key=lambda item: -len(item[1])):
        print(f"note: {len(found)} drilldown(s) {problem} (first: {found[0].location})", file=sys.stderr)


# --- handlers: each imports its stage when it runs ----------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    from .beside import WORTH_A_PROCESS, Beside, stream_beside_if_large
    from .build.drilldowns import check_loaded_with_drilldowns
    from .content.load import load_pack
    from .errors import EXIT_OK, InvalidInput

    # A large pack's detection files are read half by a second process; with --spl, another then
    # checks most searches while this one validates the pack (its answers used once it is valid).
    loaded = args.made = load_pack(args.content, stream_beside_if_large)  # left to the end of the process (run)
    large = loaded[0] is not None and len(loaded[0].detections) >= WORTH_A_PROCESS
    if args.spl and large:  # imported once, before the fork, rather than by both processes
        from .replay import knowledge_choice  # noqa: F401
        from .spl import check  # noqa: F401
    checker = SearchChecker(loaded[0])
    with Beside(checker.second_share, fork=args.spl and large) as second:
        try:
            checked = check_loaded_with_drilldowns(loaded, args.strict)
        except InvalidInput as error:
            return report_invalid(error, args.json)
        pack = checked.pack
        report_warnings(checked.warnings, args.json)
        report_notes(checked.notes, args.json)
        if args.spl:
            return validate_spl(checker, args.json, second if second.forked else None)
    summary = {"ok": True, "detections": len(pack.detections), "stories": len(pack.stories), "macros": len(pack.macros)}
    if args.json:
        import json

        print(json.dumps(summary | {"findings": [], "warnings": [f.as_dict() for f in checked.warnings],
                                    "notes": [f.as_dict() for f in checked.notes]}))
    else:
        print(f"valid: {summary['detections']} detection(s), {summary['stories']} story(ies), {summary['macros']} macro(s)")
    return EXIT_OK


def validate_spl(checker: SearchChecker, as_json: bool, second=None) -> int:
    """Each detection's search expanded, parsed and planned: 0 when all can run offline.
    ``second``: a ``Beside`` checking the second share of the searches (``SearchChecker.all``)."""
    import json

    from .errors import EXIT_CHECKS_FAILED, EXIT_OK
    from .spl.check import OK, summary

    pack = checker.pack
    checks = checker.all(second)
    places = [d.where("search") for d in pack.detections]
    if as_json:
        print(json.dumps({"ok": all(c.outcome == OK for c in checks), "summary": summary(checks),
                          "searches": [c.as_dict() | {"file": p.file, "line": p.line}
                                       for c, p in zip(checks, places)]}, indent=2))
    else:
        for check, place in zip(checks, places):
            print(f"{place}: {check}")
        print(summary(checks))
    return EXIT_OK if all(c.outcome == OK for c in checks) else EXIT_CHECKS_FAILED


def spl_checks(pack) -> list:
    """Each detection's search checked as it ships (``spl.check``); the coverage benchmark
    measures through this too."""
    return SearchChecker(pack).all()


class SearchChecker:
    """Checks a pack's searches (``spl.check``). Macros: the pack's, each detection's filter macro
    as the build writes it, and the CIM app's (which the pack expects installed) where the pack
    has none, as the build's drilldown check reads them; knowledge: the pack's add-ons'.

    Made before a second process forks, so that both share it: each builds its tables when it
    first checks a search, and this process prints the knowledge's problems then, once."""

    def __init__(self, pack):
        self.pack, self._check = pack, None

    def check(self, name: str, search: str):
        if self._check is None:
            self._check = _search_checker(self.pack)
        return self._check(name, search)

    def all(self, second=None) -> list:
        """Every search's check, in the pack's order. ``second``: a ``Beside`` computing
        ``second_share()``; this process then checks only the first share."""
        from .spl.check import SearchCheck

        detections = self.pack.detections
        if second is None:
            return [self.check(d.name, d.search) for d in detections]
        first = {i: self.check(d.name, d.search) for i, d in enumerate(detections) if _first_share(i)}
        others = iter(second.result())
        return [first[i] if _first_share(i) else SearchCheck(*next(others)) for i in range(len(detections))]

    def second_share(self) -> list[tuple]:
        """The checks of the searches ``_first_share`` leaves out, as plain tuples of their fields."""
        from .spl.check import SearchCheck

        return [tuple(getattr(c, f) for f in SearchCheck.__match_args__)
                for c in (self.check(d.name, d.search) for i, d in enumerate(self.pack.detections) if not _first_share(i))]


def _first_share(index: int) -> bool:
    """Every third search stays in the first process, which also validates the pack meanwhile."""
    return index % 3 == 0


def _search_checker(pack):
    from .content.mappings import CIM_MACRO_DEFINITIONS
    from .replay.knowledge_choice import knowledge_for, known_lookups
    from .spl import MacroDef
    from .spl.check import check_search

    macros = {name: MacroDef(name, args, definition) for name, (args, definition) in CIM_MACRO_DEFINITIONS.items()}
    macros |= {m.stanza: MacroDef(m.stanza, m.arguments, m.definition) for m in pack.macros}
    for d in pack.detections:  # as the build writes them
        macros.setdefault(d.filter_macro, MacroDef(d.filter_macro, (), "search *"))
    knowledge = knowledge_for((), pack.app.addons)
    datasets, lookups = knowledge.datasets.keys(), known_lookups(pack, knowledge)
    return lambda name, search: check_search(name, search, macros, datasets, lookups)


def cmd_build(args: argparse.Namespace) -> int:
    import json

    from .build.app import build_app, report_build_failed
    from .errors import EXIT_OK, BuildFailed, InvalidInput

    try:
        if args.check:
            return _check(args)
        with SigtermAsInterrupt():
            result = build_app(args.content, default_output(args), strict=args.strict)
        args.made = result  # left to the end of the process, which need not free it (run)
    except InvalidInput as error:
        return report_invalid(error, args.json)
    except BuildFailed as error:
        return report_build_failed(error)
    report_warnings(result.warnings, args.json)
    report_notes(result.notes, args.json)
    if args.json:
        print(json.dumps({"ok": True, "app_dir": str(result.app_dir), "package": str(result.package),
                          "warnings": [f.as_dict() for f in result.warnings],
                          "notes": [f.as_dict() for f in result.notes]}))
    else:
        print(f"built {len(result.pack.detections)} detection(s) into {result.app_dir}")
        print(f"package {result.package}")
    return EXIT_OK


class SigtermAsInterrupt:
    """SIGTERM (CI cancelling a job, ``kill``) stops the build as Ctrl-C does: the staged app folder
    and the temporary package are removed and the previous ones stay, where the signal's default
    action would end the process at once and leave them behind."""

    def __enter__(self) -> None:
        import signal

        self.previous = signal.getsignal(signal.SIGTERM)
        # Left alone: SIGTERM ignored by whoever started the build, as Python leaves SIGINT when the
        # parent changed it (docs.python.org/3/library/signal.html, "General rules"), and a handler
        # set outside Python (None), which could not be put back.
        if self.previous is None or self.previous == signal.SIG_IGN:
            self.previous = None
            return
        try:
            signal.signal(signal.SIGTERM, _interrupt)
        except ValueError:  # not the main thread, which alone may set handlers: the default stays
            self.previous = None

    def __exit__(self, *exc_info) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _check(args: argparse.Namespace) -> int:
    from .build.app import stale_files
    from .errors import EXIT_CHECKS_FAILED, EXIT_OK

    stale = stale_files(args.content)
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)
    if stale:
        print("the committed app files are out of date: run `python build.py build` and commit", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    print("committed app files are up to date")
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from .build.inspect import inspect_command

    return inspect_command(args.package, args.content, default_output(args))


def cmd_test(args: argparse.Namespace) -> int:
    from .replay.run import test_command

    return test_command(args.content, args.junit, tuple(args.addon))


def cmd_replay(args: argparse.Namespace) -> int:
    from .replay.run import ReplayOptions, replay_command

    options = ReplayOptions(source=args.source, sourcetype=args.sourcetype, strict=args.strict, as_json=args.json,
                            addons=tuple(args.addon))
    return replay_command(args.datasets, args.content, args.detection, options)


def cmd_splunk_test(args: argparse.Namespace) -> int:
    from .splunk.harness import run_command

    return run_command(splunk_test_arguments(args))


def splunk_test_arguments(args: argparse.Namespace):
    """The parsed ``splunk-test`` arguments as the harness's plain values."""
    from dataclasses import fields

    from .splunk.harness import Arguments

    values = {f.name: getattr(args, f.name) for f in fields(Arguments)}
    return Arguments(**values | {"app": tuple(args.app), "detection": tuple(args.detection)})


# --- the parser -------------------------------------------------------------------------------


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only`` a command's name, the parser of that command alone; with
    ``only`` anything else (``--help``, a wrong command name), every command's name and summary,
    which is all that needs."""
    parser = argparse.ArgumentParser(prog="build.py", description="Build, validate, inspect and replay-test a Splunk detection pack.",
                                     formatter_class=help_formatter)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (summary, add_arguments) in COMMANDS.items():
        if only in COMMANDS and name != only:
            continue
        command = commands.add_parser(name, help=summary, formatter_class=help_formatter)
        if only is None or only == name:
            add_arguments(command)
    return parser


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's own formatter, given the width it would choose itself (the terminal's, less 2): argparse
    makes a formatter for every argument a parser adds, and without a width the first imports shutil (and
    with it bz2 and lzma), about 2 ms of every start, only to ask it the terminal's width."""
    return argparse.HelpFormatter(prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """The columns of ``shutil.get_terminal_size()``: $COLUMNS when a positive number, else the width of
    the terminal of stdout when it has one, else 80."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):  # stdout is None, closed or not a terminal
        return 80


def add_build(build: argparse.ArgumentParser) -> None:
    add_content_argument(build)
    build.add_argument("--output", type=path, help="where the app folder and .spl go (default: CONTENT/dist)")
    build.add_argument("--check", action="store_true", help="fail when the committed default/, metadata/ and app.manifest are stale")
    build.add_argument("--json", action="store_true", help="print findings as JSON")
    add_strict_argument(build)
    build.set_defaults(handler=cmd_build, stage=".build.app")


def add_validate(validate: argparse.ArgumentParser) -> None:
    add_content_argument(validate)
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.add_argument("--spl", action="store_true",
                          help="also parse and plan every detection's search with the pack's macros and say "
                               "whether the offline engine can run it (exit 1 when one cannot)")
    add_strict_argument(validate)
    validate.set_defaults(handler=cmd_validate, stage=".build.drilldowns")


def add_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("package", nargs="?", type=path, metavar="PKG",
                        help="the .spl to inspect (default: build the content and inspect its package)")
    add_content_argument(parser)
    parser.add_argument("--output", type=path, help="where the build writes the package (default: CONTENT/dist)")
    parser.set_defaults(handler=cmd_inspect, stage=".build.inspect")


def add_addon_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--addon", type=path, action="append", default=[], metavar="PATH",
                        help="an add-on folder or .tgz/.tar.gz/.spl whose search-time knowledge replaces the "
                             "built-in set; repeatable (default: $DETPACK_ADDONS, else contentctl.yml addons:)")


def add_test(test: argparse.ArgumentParser) -> None:
    add_content_argument(test)
    test.add_argument("--junit", type=path, help="also write a JUnit XML report here")
    add_addon_argument(test)
    test.set_defaults(handler=cmd_test, stage=".replay.run")


def add_replay(replay: argparse.ArgumentParser) -> None:
    replay.add_argument("datasets", nargs="+", type=path, metavar="DATASET", help="event file (XML, one event per line; .gz ok)")
    add_content_argument(replay)
    replay.add_argument("--detection", help="name, id or file stem of one detection (default: all)")
    replay.add_argument("--source", help="source of every event (default: from each event's <Channel>)")
    replay.add_argument("--sourcetype", help="sourcetype of every event (default: XmlWinEventLog)")
    replay.add_argument("--strict", action="store_true",
                        help="parse every event (no raw-text prefilters, so slower) and exit 2, "
                             "printing no results, when any event is bad")
    replay.add_argument("--json", action="store_true", help="one JSON object per detection")
    add_addon_argument(replay)
    replay.set_defaults(handler=cmd_replay, stage=".replay.run")


def add_splunk_test(parser: argparse.ArgumentParser) -> None:
    from .splunk.container import SPLUNK_IMAGE  # light: the Docker SDK loads only with --container

    parser.description = ("Exit codes: 0 pass, 1 a test failed or the app could not be built, 2 invalid input or usage, "
                          "3 Splunk/Docker unreachable or infrastructure failure, 130 interrupted.")
    add_content_argument(parser)
    parser.add_argument("--detection", action="append", default=[], metavar="NAME",
                        help="only this detection (name, id or file stem); repeatable")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--splunk-url", help="management URL of an existing Splunk, e.g. https://host:8089")
    where.add_argument("--container", action="store_true", help=f"start {SPLUNK_IMAGE} with Docker for this run")
    parser.add_argument("--image", default=SPLUNK_IMAGE, help="image for --container (default: %(default)s)")
    parser.add_argument("--username", default="admin", help="Splunk user (default: admin); password from SPLUNK_PASSWORD or a prompt")
    parser.add_argument("--hec-url", help="HEC URL (default: the Splunk host on port 8088); token from SPLUNK_HEC_TOKEN "
                                          "or created for the run through the REST API")
    parser.add_argument("--app", type=path, action="append", default=[], metavar="PATH",
                        help="an add-on package to install too (CIM, Sysmon, Windows); repeatable")
    parser.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (local self-signed container)")
    parser.add_argument("--ca-file", help="CA bundle to verify Splunk's certificates with")
    parser.add_argument("--keep", action="store_true", help="keep the test indexes (and the --container) after the run")
    parser.add_argument("--junit", type=path, metavar="FILE", help="write a JUnit XML report")
    parser.add_argument("--role", default="admin",
                        help="role of --username made to search the test index by default (restored afterwards)")
    parser.add_argument("--stage-dir", type=path, help="folder the packages are copied to before install (default: temporary)")
    parser.add_argument("--server-app-dir", help="that folder's path as splunkd sees it (shared volume; default: the same path)")
    parser.add_argument("--ready-timeout", type=float, default=300.0,
                        help="seconds to wait for a --container, apps and data models (an existing --splunk-url: at most 30)")
    parser.add_argument("--index-timeout", type=float, default=120.0, help="seconds to wait until every event sent is indexed")
    parser.add_argument("--search-timeout", type=float, default=120.0, help="seconds a search may take, retries included")
    parser.add_argument("--batch-events", type=int, default=500, help="events per HEC request")
    parser.add_argument("--poll-interval", type=float, default=0.5, help="first wait between polls and retries (doubles each time)")
    parser.add_argument("--es", action="store_true",
                        help="Enterprise Security: run the search's risk and notable actions and check their events")
    parser.add_argument("--as-scheduled", action="store_true",
                        help="move the events into the search's own window by the server's clock and dispatch it over that window (consecutive runs when they span more)")
    parser.set_defaults(handler=cmd_splunk_test, stage=".splunk.harness")


COMMANDS = {
    "build": ("validate, render and package the app (the default)", add_build),
    "validate": ("check the content and report every problem", add_validate),
    "inspect": ("run Splunk AppInspect (cloud and private_app tag sets) on the package", add_inspect),
    "test": ("replay every detection's test data offline and check the results", add_test),
    "replay": ("run detections over event files and print their results", add_replay),
    "splunk-test": ("replay the tests in a real Splunk and compare with the offline engine", add_splunk_test),
}


def load_stage(module: str) -> None:
    """Import the module a command's handler imports first (``stage``, given beside the handler) with
    the cyclic garbage collector paused, and leave what it made out of later collections (gc.freeze):
    importing makes tens of thousands of objects that live as long as the process and no garbage, and
    the collections that would scan them again and again were about 3% of ``validate`` and 4% of
    ``build``. The handler's own imports then find the modules loaded; collecting resumes before it runs.
    Once loaded, nothing is frozen again: what a caller running commands in one process left behind
    stays collectable."""
    if __package__ + module in sys.modules:  # a stage is named relative to this package: ".build.app"
        return
    collecting = gc.isenabled()
    gc.disable()
    try:
        import_module(module, __package__)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


def main(argv: list[str] | None = None) -> int:
    return run_command(parse_command(argv))


def run() -> None:
    """The command line of ``build.py``: ``main``, then an exit that frees nothing (``leave``).
    What the command made and left on its arguments (``made``: a build's pack) lives until then."""
    args = parse_command(None)
    leave(run_command(args))


def parse_command(argv: list[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "build")
    return make_parser(only=argv[0]).parse_args(argv)


def run_command(args: argparse.Namespace) -> int:
    try:
        load_stage(args.stage)
        return args.handler(args)
    except KeyboardInterrupt:  # files are written atomically, so an interrupted run leaves none half-written
        from .errors import EXIT_INTERRUPTED

        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def leave(code: int) -> None:
    """End the process with ``code`` as a normal exit would, without its last step: a normal exit
    clears every module and frees every object one by one, 20 ms after the smallest build and 70 ms
    after one of Splunk's 1,711-detection pack, for memory the system takes back at once. The exit
    functions run (``beside`` stops its children there) and the standard streams are flushed, then
    the process ends (``os._exit``), as mypy ends its own (``mypy.util.hard_exit``). A thread still
    running, which a normal exit waits for, or a stream that cannot be flushed (a closed pipe,
    which a normal exit reports) leaves the ordinary way instead."""
    import atexit

    threading = sys.modules.get("threading")  # not imported: no thread was started through it
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()  # and forgets them: an ordinary exit after this does not run them again
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None where the process started with that stream closed (>&-)
                stream.flush()
    except (OSError, ValueError):
        sys.exit(code)
    os._exit(code)
