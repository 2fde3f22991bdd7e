"""Package a rendered app (its files' bytes) as a reproducible ``<app_id>-<version>.spl``.

The package is a gzip-compressed tar with the app folder at the top (no ``./``
prefix), holding only allow-listed files. Everything that could differ between
two builds of the same files is fixed, so the same input gives the same bytes:

- entries sorted by path, directories included, files 0644 and directories 0755
  (the umask and the files' own modes do not leak in), owner and group 0:0 with
  empty user and group names;
- every entry's mtime is the build timestamp: the ``source_date_epoch`` argument,
  else the ``SOURCE_DATE_EPOCH`` environment variable (reproducible-builds.org),
  else ``DEFAULT_EPOCH``;
- USTAR format: plain 512-byte headers and nothing else. PAX would add extended
  records only for some names or values, so the layout would depend on the input;
  with USTAR a path that does not fit is an error instead, found before anything is written;
- the gzip header carries no file name, mtime 0 ("no time stamp", RFC 1952) and OS 255
  ("unknown"), written here rather than by zlib, which writes the system it was compiled for;
  compressed by zlib-ng at level 2: on security_content's 18.7 MB of app files it takes 0.09 s
  where zlib's fastest level takes 0.13 s and its default level 0.42 s, for a package of 3.1 MB
  (zlib: 3.3 MB and 2.4 MB), and a package is downloaded once but built on every change. The
  compressed bytes depend on the deflate implementation: the pinned zlib-ng (zlib, used where
  zlib-ng is missing, gives other bytes of the same tar); zlib-ng chooses no CPU-specific hash since
  2.2 (zlib-ng pull request 1681), so its bytes should not depend on the machine either
  (*unverified* beyond x86-64 Linux). A file's first bytes may come already compressed
  (``CompressedStart``: a large pack's savedsearches.conf stanzas, each part compressed by whichever
  process rendered it); where the deflate stream restarts is a function of the content, not of the
  machine or of which process did what.

The file is written to a temporary file in ``out_dir`` and renamed over the
destination (``PackageFile``), so a failed build leaves neither a partial package
nor the temporary file behind.
"""
from __future__ import annotations

import os
import re
import stat
import tarfile
from pathlib import Path

from ..conf import ConfError, as_dict, parse_conf
from ..errors import BuildFailed, record
from .write import create_private, hidden_name, open_unfollowed, remove_if_there

try:  # zlib-ng: the same interface as zlib, and faster (above)
    from zlib_ng import zlib_ng as zlib
except ImportError:  # pragma: no cover - the pinned requirements install it
    import zlib

# 1980-01-01T00:00:00Z. A constant, so builds are reproducible without any
# environment set up. Not 0: several tools treat a zero timestamp as "unknown",
# and 1980 is the floor other reproducible packagers (ZIP, Python wheels) use.
DEFAULT_EPOCH = 315532800

FILE_MODE = 0o644
DIR_MODE = 0o755

# Paths (relative to the app folder, "/"-separated) that may ship. "*" and "?"
# stay within one path segment; "**/" spans any number of folders.
ALLOWED = (
    "app.manifest",
    "README.md",
    "README.txt",
    "README/*.conf.spec",
    "LICENSE*",
    "default/*.conf",
    "default/data/ui/**/*.xml",
    "metadata/default.meta",
    "lookups/*.csv",
    "lookups/__mlspl_*.mlmodel",  # Machine Learning Toolkit models live in lookups/ under this name
    "static/*.png",
    "appserver/static/*.png",
)

# Paths that never ship, checked first so the error says why. Any path segment
# matching the pattern is refused.
REFUSED = (
    ("local", "local/ holds an admin's own settings; shipping it would override them on upgrade"),
    ("local.meta", "local.meta holds an admin's own permissions; shipping it would override them"),
    (".DS_Store", "macOS folder metadata"),
    ("._*", "macOS resource fork"),
    ("__pycache__", "Python bytecode cache"),
    ("*.pyc", "compiled Python"),
    (".*", "hidden file or folder"),
)

APP_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
VERSION = re.compile(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?")


class PackageError(BuildFailed):
    """The app folder cannot be packaged; the message names the file and the reason."""


def _glob_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"(\*\*/|\*|\?)", pattern)
    wildcards = {"**/": "(?:[^/]+/)*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(wildcards.get(p, re.escape(p)) for p in parts))


ALLOWED_REGEXES = tuple(_glob_regex(p) for p in ALLOWED)
REFUSED_REGEXES = tuple((_glob_regex(p), reason) for p, reason in REFUSED)


def is_allowed(relative: str) -> bool:
    return any(r.fullmatch(relative) for r in ALLOWED_REGEXES)


def refusal(relative: str) -> str | None:
    """Why ``relative`` may never ship, or None."""
    for segment in relative.split("/"):
        for regex, reason in REFUSED_REGEXES:
            if regex.fullmatch(segment):
                return reason
    return None


@record
class Entry:
    relative: str  # "/"-separated path inside the app folder; "" is the folder itself
    data: bytes | None  # a file's bytes; None for a folder
    where: Path  # where it lies, or is to lie, on disk: how errors name it


def build_epoch(source_date_epoch: int | None) -> int:
    if source_date_epoch is not None:
        value, origin = str(source_date_epoch), "source_date_epoch"
    elif os.environ.get("SOURCE_DATE_EPOCH", "") != "":
        value, origin = os.environ["SOURCE_DATE_EPOCH"], "SOURCE_DATE_EPOCH"
    else:
        return DEFAULT_EPOCH
    if not value.isascii() or not value.isdigit() or int(value) >= 8**11:
        raise PackageError(f"{origin}: {value!r} is not a whole number of seconds since 1970 (0 to 8589934591)")
    return int(value)


def file_entries(files: dict[str, bytes], app_dir: Path) -> list[Entry]:
    """The entries of an app folder that holds just ``files`` (path inside it -> bytes) and the
    folders they lie in: names no folder could hold refused, then sorted and checked against the
    allow-list in that order; errors name each as it would lie in ``app_dir``."""
    folders = {relative.rsplit("/", depth)[0] for relative in files for depth in range(1, relative.count("/") + 1)}
    _check_folder_names(files, folders, app_dir)
    entries = [Entry("", None, app_dir)] + [Entry(relative, None, app_dir / relative) for relative in folders]
    entries += [Entry(relative, data, app_dir / relative) for relative, data in files.items()]
    entries.sort(key=lambda e: e.relative.split("/") if e.relative else [])
    for entry in entries[1:]:
        if reason := refusal(entry.relative):
            raise PackageError(f"{entry.where}: not allowed in a package: {reason}")
        if entry.data is not None and not is_allowed(entry.relative):
            raise PackageError(f"{entry.where}: {entry.relative} is not in the package allow-list (detpack.package.ALLOWED)")
    return entries


# Names a folder on disk never gave: one with a NUL, where a tar reader ends the name (other
# control characters with it: no app file needs one), and a file that is also a folder, which
# unpacks as one of the two.
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


def _check_folder_names(files: dict[str, bytes], folders: set[str], app_dir: Path) -> None:
    for relative in sorted(files):
        if CONTROL_CHARACTER.search(relative):
            raise PackageError(f"{app_dir}: {relative!r}: a name with a control character cannot be packaged")
    if both := sorted(folders & files.keys()):
        inside = min(f for f in files if f.startswith(both[0] + "/"))
        raise PackageError(f"{app_dir / both[0]}: is both a file and the folder of {inside}")


def check_app_conf(entries: list[Entry], app_id: str, version: str) -> None:
    """The package name must say what default/app.conf says."""
    entry = next((e for e in entries if e.relative == "default/app.conf"), None)
    if entry is None or entry.data is None:
        raise PackageError(f"{entries[0].where / 'default' / 'app.conf'}: missing; every app needs default/app.conf")
    try:  # read as read_conf reads a file: UTF-8 with an optional BOM, universal newlines
        text = entry.data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
        conf = as_dict(parse_conf(text, str(entry.where)))
    except UnicodeDecodeError as exc:
        raise PackageError(f"{entry.where}: cannot read: {exc}") from None
    except ConfError as error:
        raise PackageError(str(error)) from None
    expected = {("package", "id"): app_id, ("id", "name"): app_id, ("id", "version"): version,
                ("launcher", "version"): version}
    for (stanza, key), want in expected.items():
        got = conf.get(stanza, {}).get(key)
        if got != want:
            raise PackageError(f"{entry.where}: [{stanza}] {key} is {got!r}, but the package is built as {want!r}")


def _tar_info(name: str, is_dir: bool, size: int, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = DIR_MODE if is_dir else FILE_MODE
    info.size = size
    info.mtime = epoch
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file ``path``, never through a link: a file the app ships as it is."""
    try:
        handle = open_unfollowed(path)
    except OSError as error:
        if os.path.islink(path):
            raise PackageError(f"{path}: only regular files can be packaged (symbolic link)") from None
        raise PackageError(f"{path}: cannot read: {error.strerror}") from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise PackageError(f"{path}: only regular files can be packaged (special file)")
        return handle.read()


COMPRESS_LEVEL = 2
RAW_DEFLATE = -15  # zlib's wbits for a bare deflate stream (32 KiB window): the gzip wrapper is written here
# A gzip member's header (RFC 1952, 2.3.1): ID1 ID2, CM 8 (deflate), FLG 0 (no name, comment or extra
# field), MTIME 0 (no time stamp), XFL 0 (level 2 is neither the slowest nor the fastest), OS 255
# (unknown). zlib and zlib-ng write their OS_CODE instead (zutil.h: 3 Unix, 19 macOS, 10 Windows).
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
NAME_ENCODING = "utf-8"  # of names in the headers, whatever the locale


@record
class CompressedStart:
    """The first ``length`` bytes of a file, already compressed by ``compress_start``."""
    length: int
    deflated: bytes


def compress_start(data: bytes) -> bytes:
    """``data`` deflated on its own, to start a file in ``write_archive``: the stream ends on a byte
    boundary without a last block (a sync flush), so the package's stream goes on right after it.
    Another process can compress a large file's start this way while the rest is still being made,
    as pigz compresses pieces in parallel: an inflater reads the pieces as one stream (RFC 1951),
    since no piece refers back to bytes before its own start."""
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, RAW_DEFLATE)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


def write_archive(handle, app_id: str, entries: list[Entry], epoch: int,
                  starts: dict[str, CompressedStart] | None = None) -> None:
    """The tar that ``tarfile`` writes for ``entries`` (each header, then the data padded to a
    512-byte block; two zero blocks and zeros up to a whole 10240-byte record at the end),
    gzip-compressed in one pass: no tar or gzip file object copies each file in 16 KiB pieces.
    ``starts``: path inside the app folder -> its file's first bytes, already compressed; the
    stream is flushed to a byte boundary before each, and a new one begins after it."""
    _check_starts(entries, starts or {})
    compressor = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, RAW_DEFLATE)
    crc = size = 0

    def put(data: bytes) -> None:
        nonlocal crc, size
        crc, size = zlib.crc32(data, crc), size + len(data)
        handle.write(compressor.compress(data))

    handle.write(GZIP_HEADER)
    for entry in entries:
        data = entry.data or b""
        put(_header(app_id, entry, epoch))
        padding = bytes(-len(data) % tarfile.BLOCKSIZE)
        if starts and (start := starts.get(entry.relative)) is not None:
            data = memoryview(data)
            handle.write(compressor.flush(zlib.Z_SYNC_FLUSH) + start.deflated)
            crc, size = zlib.crc32(data[:start.length], crc), size + start.length
            compressor, data = zlib.compressobj(COMPRESS_LEVEL, zlib.DEFLATED, RAW_DEFLATE), data[start.length:]
        put(data)
        put(padding)
    end = 2 * tarfile.BLOCKSIZE
    put(bytes(end + -(size + end) % tarfile.RECORDSIZE))
    # the trailer (RFC 1952, 2.3.1): CRC-32 and length modulo 2**32 of the tar, little-endian
    handle.write(compressor.flush() + crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def _check_starts(entries: list[Entry], starts: dict[str, CompressedStart]) -> None:
    """A start must lie within its file: one longer than the file (or given for a folder) would put
    bytes in the stream that the tar does not hold and a wrong length in the trailer, a package
    gzip refuses but tarfile reads without a word. Checked before the first byte is written."""
    for entry in entries:
        start = starts.get(entry.relative)
        if start is not None and (entry.data is None or start.length > len(entry.data)):
            size = "a folder" if entry.data is None else f"a file of {len(entry.data)} bytes"
            raise ValueError(f"{entry.relative}: a compressed start of {start.length} bytes for {size}")


def _header(app_id: str, entry: Entry, epoch: int) -> bytes:
    """The entry's USTAR header block, as ``tarfile`` writes it (``ValueError`` when a name does not fit)."""
    name = f"{app_id}/{entry.relative}" if entry.relative else app_id
    info = _tar_info(name, entry.data is None, len(entry.data or b""), epoch)
    return info.tobuf(tarfile.USTAR_FORMAT, NAME_ENCODING, "surrogateescape")


def _check_ustar_names(app_id: str, entries: list[Entry], epoch: int) -> None:
    """Every entry's header as ``write_archive`` makes it: a name USTAR cannot hold is refused
    before anything is written."""
    for entry in entries:
        try:
            _header(app_id, entry, epoch)
        except ValueError as error:
            raise PackageError(f"{entry.where}: cannot be stored in a USTAR package: {error}") from None


def _check_names(app_id: str, version: str) -> None:
    if not APP_ID.fullmatch(app_id):
        raise PackageError(f"app id {app_id!r}: must start with a letter and hold only letters, digits, '_', '.', '-'")
    if not VERSION.fullmatch(version):
        raise PackageError(f"version {version!r}: must be MAJOR.MINOR.PATCH")


class PackageFile:
    """``out_dir/<app_id>-<version>.spl`` of ``entries``, checked when made (its ``starts`` when written,
    by ``write_archive``): ``write()`` writes it to a
    temporary file beside its destination (another process may call it: it only writes that file),
    ``commit()`` renames it into place; leaving the ``with`` block otherwise removes the temporary
    file, so a failed build leaves neither a partial package nor the temporary file."""

    def __init__(self, entries: list[Entry], out_dir: Path, *, app_id: str, version: str, epoch: int,
                 starts: dict[str, CompressedStart] | None = None):
        _check_names(app_id, version)
        check_app_conf(entries, app_id, version)
        _check_ustar_names(app_id, entries, epoch)
        self.entries, self.app_id, self.epoch, self.starts = entries, app_id, epoch, starts
        out_dir.mkdir(parents=True, exist_ok=True)
        self.destination = out_dir / f"{app_id}-{version}.spl"
        self.temporary = hidden_name(self.destination, ".tmp")  # made by write(): see hidden_name

    def write(self) -> None:
        remove_if_there(self.temporary)  # what another process began to write before it failed
        with create_private(self.temporary) as handle:
            write_archive(handle, self.app_id, self.entries, self.epoch, self.starts)
            handle.flush()
            os.fsync(handle.fileno())

    def commit(self) -> Path:
        os.chmod(self.temporary, FILE_MODE)
        os.replace(self.temporary, self.destination)
        self.temporary = None
        return self.destination

    def __enter__(self) -> PackageFile:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.temporary is not None:
            remove_if_there(self.temporary)
