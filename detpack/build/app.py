"""The build: content directory -> validated model -> rendered app -> .spl package.

Nothing is written unless every check passed. The package is made from the rendered
bytes (written atomically by ``detpack.package``) while the app folder is written to a
temporary folder beside its destination, which goes in together with the package.
The rendered ``default/``, ``metadata/`` and ``app.manifest`` are also kept in the content
directory, where they are committed so that reviews show what ships (rewritten only when they
differ); ``stale_files`` compares them with a fresh rendering.
"""
from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

from .write import FILE_MODE, hidden_name, holds, remove_if_there, write_atomically
from ..content.load import load_pack
from ..content.model import Pack
from ..beside import MOST_JOBS, WORTH_A_PROCESS, Beside, Jobs, interruptions_held, stream_beside_if_large
from ..errors import EXIT_CHECKS_FAILED, BuildFailed, Finding, Fresh, InvalidInput, Location, display_path, record

TYPE_CHECKING = False  # typing.TYPE_CHECKING, as type checkers read it, without loading typing at every start
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Iterator

    from .package import CompressedStart, PackageFile
    from .render import RenderedApp, RenderedConf, RenderedPart, Renderer

SAVEDSEARCHES = "default/savedsearches.conf"

COMMITTED_DIRS = ("default/", "metadata/")
COMMITTED_FILES = ("app.manifest",)
DIR_MODE = 0o755


@record
class CheckedRender:
    pack: Pack
    rendered: RenderedApp
    warnings: list[Finding]
    notes: list[Finding]  # drilldowns the offline parser cannot check
    starts: dict[str, CompressedStart]  # files whose first bytes are already compressed for the package


@record
class BuildResult:
    pack: Pack
    app_dir: Path
    package: Path
    files: dict[str, bytes]
    warnings: list[Finding] = Fresh(list)
    notes: list[Finding] = Fresh(list)


ANALYTICSTORIES = "default/analyticstories.conf"
# Detections per part of a large pack's savedsearches.conf (see checked_render): the process that
# finishes first waits for at most one part of the other's. Rendered in parts of 50, Splunk's
# 1,711 detections take about 30% less time than rendered whole (*unverified* why: a smaller file
# made at a time).
DETECTIONS_PER_PART = 50


def checked_render(content_dir: Path, strict: bool = False) -> CheckedRender:
    """Validate (the shipped drilldowns included, as ``validate`` does) and render.

    For a large pack, a second process reads five content files in nine (``load_pack``), then
    another renders analyticstories.conf, then parts of savedsearches.conf (most of the rendering),
    compressing each for the package, while this one validates and renders the other files; it
    then joins in on the parts left (``Jobs``). The rendering is used only once the pack is valid.
    Without a second process this one renders the same parts, so the package holds the same bytes.
    A small pack's files are rendered whole."""
    loaded = load_pack(Path(content_dir), _reading)
    from .drilldowns import check_loaded_with_drilldowns
    from .render import Renderer, detection_chunks, join_parts, render_app

    pack = loaded[0]
    large = pack is not None and len(pack.detections) >= WORTH_A_PROCESS
    chunks = detection_chunks(pack, _part_size(len(pack.detections))) if large else []
    parts = range(1, 1 + len(chunks))
    with Jobs(1 + len(chunks), functools.partial(_render_job, Renderer(), pack, chunks), fork=large) as jobs:
        checked = check_loaded_with_drilldowns(loaded, strict)
        elsewhere = {ANALYTICSTORIES: lambda: jobs.result(0),
                     SAVEDSEARCHES: lambda: join_parts(checked.pack, SAVEDSEARCHES, (jobs.result(p)[0] for p in parts))}
        rendered = render_app(checked.pack, elsewhere if large else None)
        starts = _compressed_start(rendered, (jobs.result(p) for p in parts))
    return CheckedRender(checked.pack, rendered, checked.warnings, checked.notes, starts)


def _part_size(detections: int) -> int:
    return max(DETECTIONS_PER_PART, -(-detections // (MOST_JOBS - 1)))  # a job for each part, and one more


def _render_job(renderer: Renderer, pack: Pack, chunks: list[Pack], job: int) -> RenderedConf | tuple[RenderedPart, bytes]:
    """Job 0: analyticstories.conf. Job n: the n-th part of savedsearches.conf, and its bytes
    compressed as they lie in the package."""
    from .package import compress_start

    if job == 0:
        return renderer.conf(pack, ANALYTICSTORIES)
    part = renderer.part(chunks[job - 1], SAVEDSEARCHES, first=job == 1)
    return part, compress_start(part[0]) if part[0] is not None else b""


def _compressed_start(rendered: RenderedApp, parts: Iterable[tuple[RenderedPart, bytes]]) -> dict[str, CompressedStart]:
    """The parts of savedsearches.conf as compressed when rendered, where the file begins with them
    (``join_parts`` renders the file whole when they cannot be placed). ``parts`` is taken in order
    and no further than the first that does not fit: in one process, asking for a part renders it."""
    from .package import CompressedStart

    whole, length, deflated = rendered.files[SAVEDSEARCHES], 0, []
    for (text, *_), compressed in parts:
        if text is None or not whole.startswith(text, length):
            return {}
        length += len(text)
        deflated.append(compressed)
    return {SAVEDSEARCHES: CompressedStart(length, b"".join(deflated))} if deflated else {}


def _reading(produce: Callable[[], Iterable[Any]], *, items: int) -> Iterator[Any] | None:
    """``stream_beside_if_large`` for ``load_pack``, then the imports of what validates, renders and
    packages a loaded pack (Jinja, tarfile, the SPL parser...): a tenth of a second, made here once a
    second process reads rather than before it could start. The functions of this module import
    from them where they use them."""
    stream = stream_beside_if_large(produce, items=items)
    from . import drilldowns, package, render  # noqa: F401 - loaded now, used later
    from ..content import validate  # noqa: F401 - loaded now, used later
    return stream


def build_app(content_dir: Path, output_dir: Path, *, sync_committed: bool = True, strict: bool = False) -> BuildResult:
    checked = checked_render(content_dir, strict)
    pack, rendered = checked.pack, checked.rendered
    from .package import PackageFile, build_epoch, file_entries  # loaded by then: see _reading

    output_dir = Path(output_dir)
    app_dir = output_dir / pack.app.app_id
    contents = app_contents(rendered)
    # Checked before anything is written. The app folder is staged while the package is written,
    # and both go in together (swap_in): a build that fails leaves the previous app folder and
    # package. For a large pack a second process writes the package, then the app
    # folder's files but the largest, which this process writes meanwhile.
    try:
        package = PackageFile(file_entries(contents, app_dir), output_dir, app_id=pack.app.app_id,
                              version=pack.app.version, epoch=build_epoch(None), starts=checked.starts)
    except OSError as error:  # the output folder, made once the package passed its checks
        raise _unwritable_output(output_dir, error) from None
    with package:
        staging = hidden_name(app_dir)
        try:
            os.mkdir(staging, 0o700)  # 0700 until staged: nobody sees it sooner
            here, there = _staging_shares(contents)
            with Beside(_package_and_files, package, staging, there,
                        fork=len(pack.detections) >= WORTH_A_PROCESS) as writing:
                write_files(staging, here)
                # Read meanwhile: the committed files the build changes, rewritten once the package is in place.
                stale = stale_committed(pack.root, committed_files(rendered), contents) if sync_committed else []
                writing.result()
            open_up(staging)
            package_path = swap_in(staging, app_dir, package.commit)
        except BaseException:  # the second process, if any, was stopped when its ``with`` block was left
            shutil.rmtree(staging, ignore_errors=True)
            raise
    for path in stale:
        write_atomically(pack.root / path, contents[path])
    return BuildResult(pack, app_dir, package_path, rendered.files, checked.warnings, checked.notes)


def _unwritable_output(folder: Path, error: OSError) -> InvalidInput:
    """An output folder that cannot be made (a file in its path, no permission): the command line's
    problem, named on one line, rather than a traceback."""
    return InvalidInput([Finding(Location(display_path(folder)), "--output", f"cannot be made: {error.strerror}",
                                 "a folder the build can write in")])


def report_build_failed(error: BuildFailed, say: Callable[[str], None] | None = None) -> int:
    """What every command that builds (build, test, replay, inspect, splunk-test) does when its build
    failed: ``build failed: <reason>`` on stderr, a line for each reason (a render that does not read
    back lists each problem on a line of its own), and exit code 1, checks failed. The pack was valid,
    so this is not invalid input (exit 2, found before anything renders): the build's own checks of what
    it rendered and packaged failed (a conf file that does not read back as written, a value the conf
    writer refuses, a SOURCE_DATE_EPOCH that is not a time, a file the package may not hold), as
    ``build`` has always reported them. ``say`` prints a line instead of the default (splunk-test's
    hides its secrets first)."""
    say = say or _to_stderr
    for reason in str(error).splitlines() or [""]:
        say(f"build failed: {reason}")
    return EXIT_CHECKS_FAILED


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def stale_committed(root: Path, committed: dict[str, bytes], contents: dict[str, bytes]) -> list[str]:
    """The committed files under ``root`` that do not hold the build's bytes yet. A folder where one
    belongs, or a file where a folder of them belongs, is refused (``InvalidInput``) while nothing is
    written, rather than failing its write after the package and app folder are in place."""
    stale = [path for path in committed if not holds(root / path, contents[path])]
    if folders := [path for path in stale if (root / path).is_dir() and not (root / path).is_symlink()]:
        raise InvalidInput([Finding(Location(display_path(root / path)), "(file)", "is a folder", "a file the build writes")
                            for path in folders])
    if files := _files_in_the_way(root, stale):
        raise InvalidInput([Finding(Location(display_path(root / path)), "(file)", "is a file",
                                    "a folder the build writes in") for path in files])
    return stale


def _files_in_the_way(root: Path, paths: list[str]) -> list[str]:
    """The folders of ``paths`` (``default``, ``metadata``...) that are there but not folders."""
    folders = dict.fromkeys(str(parent) for path in paths for parent in reversed(Path(path).parents[:-1]))
    return [folder for folder in folders if (root / folder).exists() and not (root / folder).is_dir()]


def app_contents(rendered: RenderedApp) -> dict[str, bytes]:
    """Each file of the app folder (path inside it -> bytes): the rendered ones, then the copied ones."""
    from .package import read_regular

    return rendered.files | {path: read_regular(source) for path, source in rendered.copies.items()}


def committed_files(rendered: RenderedApp) -> dict[str, bytes]:
    return {p: t for p, t in rendered.files.items() if p.startswith(COMMITTED_DIRS) or p in COMMITTED_FILES}


def stale_files(content_dir: Path) -> list[str]:
    """Committed rendered files that differ from a fresh rendering, are missing, or are extra."""
    from .render import render_app
    from ..content.validate import check_pack

    pack = check_pack(content_dir).pack
    wanted = committed_files(render_app(pack))
    stale = [p for p, data in wanted.items() if _read(pack.root / p) != data.decode("utf-8")]
    for folder in COMMITTED_DIRS:
        for path in sorted((pack.root / folder).rglob("*")):
            relative = path.relative_to(pack.root).as_posix()
            if path.is_file() and relative not in wanted:
                stale.append(f"{relative} (not produced by the build)")
    return sorted(stale)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _staging_shares(contents: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The app folder's largest file, which this process writes, and the others (see build_app)."""
    if not contents:
        return {}, {}
    largest = max(contents, key=lambda path: len(contents[path]))
    return {largest: contents[largest]}, {path: data for path, data in contents.items() if path != largest}


def _package_and_files(package: PackageFile, staging: Path, contents: dict[str, bytes]) -> None:
    package.write()
    write_files(staging, contents)


def write_files(staging: Path, contents: dict[str, bytes]) -> None:
    """Write ``contents`` (path inside the folder ``staging`` -> bytes), making the folders they lie in.
    Two processes may write into one folder at once: a folder the other made first is taken as it is.
    ``staging`` itself is never made: a second process still writing once an interrupted build removed
    it (one interrupted before it could stop that process) fails rather than leave it behind."""
    for relative, data in contents.items():
        target = staging / relative
        _make_folders(staging, target.parent)
        target.write_bytes(data)


def _make_folders(staging: Path, folder: Path) -> None:
    """Make ``folder`` and the folders above it up to ``staging``, which must be there already."""
    if folder == staging or folder.is_dir():
        return
    _make_folders(staging, folder.parent)
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not folder.is_dir():  # a file lies there
            raise


def open_up(staging: Path) -> None:
    """Give the staged folder the package's modes, whatever the umask: folders 0755, files 0644."""
    for folder, _, files in os.walk(staging, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), FILE_MODE)
        os.chmod(folder, DIR_MODE)


def swap_in(staging: Path, destination: Path, commit: Callable[[], Path]) -> Path:
    """Replace ``destination`` whole (a previous folder, or a file or link lying there) by the staged
    folder, then ``commit()`` the package (its path is returned): both go in, or neither. Ctrl-C and
    SIGTERM are held meanwhile (the previous one's removal included): one landing between the renames
    would leave nothing at ``destination``, or the new folder beside the previous package; held, it
    interrupts once both are in place. Should the staged folder or the package fail to go in, the
    staged folder goes back to its name (the caller removes it) and the previous one goes back."""
    old = hidden_name(destination)
    with interruptions_held():
        previous = os.path.lexists(destination)  # a dangling link too, which a folder cannot be renamed over
        if previous:
            destination.rename(old)
        try:
            staging.rename(destination)
            try:
                package_path = commit()
            except BaseException:
                destination.rename(staging)
                raise
        except BaseException:
            if previous:
                old.rename(destination)
            raise
        _remove(old)
    return package_path


def _remove(path: Path) -> None:
    """Remove the folder, file or link ``path`` (a link's target is left alone), if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        remove_if_there(path)
