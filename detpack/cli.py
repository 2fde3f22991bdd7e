"""Command line: parses arguments and calls into the package.

Exit codes everywhere: 0 ok, 1 checks failed, 2 invalid input or usage.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import inspect, replay
from .build import build_app, stale_files
from .conf import ConfValueError
from .errors import EXIT_CHECKS_FAILED, EXIT_INVALID_INPUT, EXIT_OK, InvalidInput
from .package import PackageError
from .render import RenderError
from .splunk import harness
from .validate import load_valid_pack

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def add_content_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--content", type=Path, default=PROJECT_ROOT,
                        help="content directory in the security_content layout (default: this project)")


def default_output(args: argparse.Namespace) -> Path:
    return args.output if args.output else args.content / "dist"


def report_invalid(error: InvalidInput, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"ok": False, "findings": [f.as_dict() for f in error.findings]}, indent=2))
    else:
        for finding in error.findings:
            print(finding, file=sys.stderr)
        print(f"{len(error.findings)} problem(s) found; nothing was written", file=sys.stderr)
    return EXIT_INVALID_INPUT


def cmd_validate(args: argparse.Namespace) -> int:
    try:
        pack = load_valid_pack(args.content)
    except InvalidInput as error:
        return report_invalid(error, args.json)
    summary = {"ok": True, "detections": len(pack.detections), "stories": len(pack.stories), "macros": len(pack.macros)}
    print(json.dumps(summary | {"findings": []}) if args.json else
          f"valid: {summary['detections']} detection(s), {summary['stories']} story(ies), {summary['macros']} macro(s)")
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    try:
        if args.check:
            return _check(args)
        result = build_app(args.content, default_output(args))
    except InvalidInput as error:
        return report_invalid(error, args.json)
    except (RenderError, ConfValueError, PackageError) as error:
        print(f"build failed: {error}", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    if args.json:
        print(json.dumps({"ok": True, "app_dir": str(result.app_dir), "package": str(result.package)}))
    else:
        print(f"built {len(result.pack.detections)} detection(s) into {result.app_dir}")
        print(f"package {result.package}")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    stale = stale_files(args.content)
    for path in stale:
        print(f"stale: {path}", file=sys.stderr)
    if stale:
        print("the committed app files are out of date: run `python build.py build` and commit", file=sys.stderr)
        return EXIT_CHECKS_FAILED
    print("committed app files are up to date")
    return EXIT_OK


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="build.py", description="Build, validate, inspect and replay-test a Splunk detection pack.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    build = commands.add_parser("build", help="validate, render and package the app (the default)")
    add_content_argument(build)
    build.add_argument("--output", type=Path, help="where the app folder and .spl go (default: CONTENT/dist)")
    build.add_argument("--check", action="store_true", help="fail when the committed default/, metadata/ and app.manifest are stale")
    build.add_argument("--json", action="store_true", help="print findings as JSON")
    build.set_defaults(handler=cmd_build)
    validate = commands.add_parser("validate", help="check the content and report every problem")
    add_content_argument(validate)
    validate.add_argument("--json", action="store_true", help="print findings as JSON")
    validate.set_defaults(handler=cmd_validate)
    for module in (inspect, replay, harness):
        module.add_commands(commands)
    return parser




def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "build")
    args = make_parser().parse_args(argv)
    return args.handler(args)
