"""Remember a successful ``build`` or ``validate`` and answer it again while nothing it depends on changed.

A run is keyed by the command and its options. What it depends on: every file
under the content folder (outside ``dist/``, dot-folders and ``__pycache__``),
the tool's own code and templates, the Python version, the installed
libraries' versions and the environment variables the build reads. Files are
compared by size and modification time, and by SHA-256 whenever those differ
or the file changed too close to the memo's writing to tell (git's "racily
clean" rule), so an edit is never missed. A remembered build also lists the
files it wrote with their SHA-256 and the listing of the app folder it wrote
whole; it is answered again only while they are unchanged, so a deleted
package or a hand-edited ``default/`` file means a real build. Anything
unexpected (no cache folder, an unreadable or foreign memo) means a real run:
the memo only ever saves time.

Only this module and ``cli`` know about it, and it imports nothing heavy, so a
remembered run loads neither YAML, Jinja nor the packager.

Where: ``$DETPACK_CACHE_DIR``, else ``$XDG_CACHE_HOME/detpack``, else
``~/.cache/detpack``. ``DETPACK_NO_CACHE=1`` turns it off.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

FORMAT = 2
TOOL_ROOT = Path(__file__).resolve().parent.parent
TOOL_PARTS = ("detpack", "app")
ENVIRONMENT = ("SOURCE_DATE_EPOCH",)  # read by build/package.py
CONTENT_OUTPUT = "dist"  # the default output folder, beside the content: not an input
RACY_NS = 2_000_000_000  # a file changed this close to the memo's writing is always hashed


def cache_dir(environ=os.environ) -> Path | None:
    if environ.get("DETPACK_NO_CACHE", "") not in ("", "0"):
        return None
    if environ.get("DETPACK_CACHE_DIR"):
        return Path(environ["DETPACK_CACHE_DIR"])
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "detpack"


def sha256_file(path: str | Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def walk(folder: str, skipped: frozenset[str] = frozenset()):
    """(path, size, mtime_ns) of every regular file below ``folder``, in a stable order, outside
    dot-folders, ``__pycache__`` and the names in ``skipped`` (at the top level only)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__" or entry.name in skipped:
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from walk(entry.path)
        elif entry.is_file(follow_symlinks=False):
            stat = entry.stat(follow_symlinks=False)
            yield entry.path, stat.st_size, stat.st_mtime_ns


def environment_key(environ) -> list[str]:
    """The Python version, the installed distributions (``.dist-info`` names carry their
    versions) and the environment variables the build reads."""
    key = [sys.version]
    for entry in sys.path:
        if entry.endswith("site-packages") and os.path.isdir(entry):
            key += sorted(n for n in os.listdir(entry) if n.endswith(".dist-info"))
    return key + [f"{name}={environ.get(name, '')}" for name in ENVIRONMENT]


class Memo:
    """One command's memo: ``answer()`` before the work, ``remember()`` after it succeeded."""

    def __init__(self, command: str, content: Path, options: dict[str, str], environ=os.environ):
        self.content = str(Path(content).resolve())
        self.folder = cache_dir(environ)
        self.environ = environ
        key = json.dumps([FORMAT, command, self.content, sorted(options.items())])
        self.path = self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.json" if self.folder else None
        self.started_ns, self.before = time.time_ns(), {}

    def inputs(self):
        for part in TOOL_PARTS:
            yield from walk(str(TOOL_ROOT / part))
        yield from walk(self.content, frozenset({CONTENT_OUTPUT}))

    def answer(self) -> tuple[str, int] | None:
        """The remembered (stdout, exit code) when nothing changed, else None."""
        if self.path is None or not os.path.isdir(self.content):
            return None
        self.started_ns = time.time_ns()
        self.before = {path: [size, mtime] for path, size, mtime in self.inputs()}
        try:
            record = json.loads(self.path.read_text(encoding="utf-8"))
            unchanged = (record["environment"] == environment_key(self.environ)
                         and same_files(self.before, record["inputs"], record["written_ns"])
                         and all(sha256_file(path) == digest for path, digest in record["outputs"].items())
                         and all(listing(folder) == files for folder, files in record["folders"].items()))
            return (record["stdout"], record["code"]) if unchanged else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def remember(self, stdout: str, code: int, outputs: tuple[Path, ...] = (), folders: tuple[Path, ...] = ()) -> None:
        """Store a successful run: its output, the files it wrote and the folders it wrote whole.
        Nothing is stored when an input changed while the run read it."""
        if self.path is None or not self.before:
            return
        folders = tuple(str(f.resolve()) for f in folders)
        written = [str(p.resolve()) for p in outputs] + [path for f in folders for path, _, _ in walk(f)]
        now = {path: [size, mtime] for path, size, mtime in self.inputs()}
        if any(now.get(path) != was for path, was in self.before.items() if path not in written):
            return
        record = {"environment": environment_key(self.environ), "written_ns": self.started_ns,
                  "inputs": {path: [*stat, sha256_file(path)] for path, stat in now.items()},
                  "stdout": stdout, "code": code, "outputs": {p: sha256_file(p) for p in written},
                  "folders": {f: listing(f) for f in folders}}
        store(self.folder, self.path, record)


def same_files(found: dict[str, list], recorded: dict[str, list], written_ns: int) -> bool:
    """Whether the files ``found`` now (path -> [size, mtime]) are the ``recorded`` ones with the same bytes."""
    if found.keys() != recorded.keys():
        return False
    for path, stat in found.items():
        was = recorded[path]
        if stat == was[:2] and written_ns - stat[1] > RACY_NS:
            continue
        if sha256_file(path) != was[2]:
            return False
    return True


def listing(folder: str) -> list[str]:
    return [path for path, _, _ in walk(folder)]


def store(folder: Path, path: Path, record: dict) -> None:
    """Write the memo atomically; without a writable cache folder, do nothing."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".memo.", suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(temporary, path)
    except OSError:
        os.unlink(temporary)
