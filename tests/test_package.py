"""detpack.build.package: layout, allow-list, reproducibility, atomic writes, broken inputs.

An app is written as a folder here, then packaged from its files' bytes as the build packages its rendered files."""
from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from pathlib import Path

import pytest

from detpack.build import package
from detpack.build.package import DEFAULT_EPOCH, PackageError, PackageFile, build_epoch, file_entries

APP_ID = "demo_app"
VERSION = "1.2.3"


def app_files(app_id: str = APP_ID, version: str = VERSION) -> dict[str, str]:
    """A minimal app that AppInspect 4.3.1 passes on the cloud and private_app tag sets."""
    return {
        "default/app.conf": (
            "[install]\nis_configured = false\nstate = enabled\n\n"
            f"[launcher]\nauthor = Tests\nversion = {version}\ndescription = App used by the tests\n\n"
            "[ui]\nis_visible = false\nlabel = Demo detections\n\n"
            f"[package]\nid = {app_id}\ncheck_for_updates = false\n\n"
            f"[id]\nname = {app_id}\nversion = {version}\n"
        ),
        "default/macros.conf": "[demo_filter]\ndefinition = search *\n",
        "metadata/default.meta": "[]\naccess = read : [ * ], write : [ admin, sc_admin ]\nexport = none\n",
        "README.md": "# Demo detections\n\nUsed by the tests.\n",
    }


def write_app(folder: Path, files: dict[str, str] | None = None) -> Path:
    for relative, text in (app_files() if files is None else files).items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def no_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    return write_app(tmp_path / APP_ID)


def build(app_dir: Path, out_dir: Path, *, app_id: str = APP_ID, version: str = VERSION,
          source_date_epoch: int | None = None) -> Path:
    """The package of the files in ``app_dir``, made as the build makes it."""
    files = {p.relative_to(app_dir).as_posix(): p.read_bytes() for p in sorted(app_dir.rglob("*")) if p.is_file()}
    entries = file_entries(files, app_dir)
    with PackageFile(entries, out_dir, app_id=app_id, version=version, epoch=build_epoch(source_date_epoch)) as spl:
        spl.write()
        return spl.commit()


def members(spl: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(spl, "r:gz") as tar:
        return tar.getmembers()


# --- layout ---------------------------------------------------------------

def test_package_is_named_after_app_and_version_and_holds_the_app_folder_at_the_top(app_dir, tmp_path):
    spl = build(app_dir, tmp_path / "out")
    assert spl == tmp_path / "out" / f"{APP_ID}-{VERSION}.spl"
    assert [m.name for m in members(spl)] == [
        "demo_app", "demo_app/README.md", "demo_app/default", "demo_app/default/app.conf",
        "demo_app/default/macros.conf", "demo_app/metadata", "demo_app/metadata/default.meta"]


def test_raw_headers_are_ustar_without_dot_prefix_and_folders_end_with_a_slash(app_dir, tmp_path):
    data = gzip.decompress(build(app_dir, tmp_path / "out").read_bytes())
    headers, offset = [], 0
    while data[offset:offset + 512].strip(b"\0"):
        info = tarfile.TarInfo.frombuf(data[offset:offset + 512], "utf-8", "strict")
        headers.append((data[offset:offset + 100].rstrip(b"\0").decode(), data[offset + 257:offset + 263]))
        offset += 512 + (info.size + 511) // 512 * 512
    assert [name for name, _ in headers][:3] == ["demo_app/", "demo_app/README.md", "demo_app/default/"]
    assert all(name.startswith("demo_app/") for name, _ in headers)
    assert {magic for _, magic in headers} == {b"ustar\x00"}


def test_modes_owner_and_mtimes_are_normalised(app_dir, tmp_path):
    (app_dir / "README.md").chmod(0o755)
    (app_dir / "default").chmod(0o700)
    for member in members(build(app_dir, tmp_path / "out")):
        assert member.mode == (0o755 if member.isdir() else 0o644), member.name
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", ""), member.name
        assert member.mtime == DEFAULT_EPOCH, member.name
        assert member.isdir() or member.isfile(), member.name


@pytest.mark.parametrize("sizes", [[], [0], [1, 511, 512, 513], [512] * 19, [512] * 20, [10240 - 512 * 3]],
                         ids=["no file", "an empty file", "around a block", "a record less two blocks",
                              "a whole record", "ends on a record"])
def test_the_tar_inside_is_byte_for_byte_what_tarfile_writes(tmp_path, sizes):
    files = {"default/app.conf": app_files()["default/app.conf"].encode()}
    files |= {f"lookups/f{i}.csv": bytes([65 + i % 26]) * size for i, size in enumerate(sizes)}
    entries = file_entries(files, tmp_path / APP_ID)
    with PackageFile(entries, tmp_path / "out", app_id=APP_ID, version=VERSION, epoch=DEFAULT_EPOCH) as spl:
        spl.write()
        ours = gzip.decompress(spl.commit().read_bytes())  # checks the gzip trailer's CRC and length too
    assert len(ours) % tarfile.RECORDSIZE == 0
    assert ours == tarfile_writes(entries)


def tarfile_writes(entries: list[package.Entry]) -> bytes:
    """The uncompressed tar that ``tarfile`` writes for ``entries``."""
    theirs = io.BytesIO()
    with tarfile.open(fileobj=theirs, mode="w", format=tarfile.USTAR_FORMAT, encoding="utf-8") as tar:
        for entry in entries:
            info = tarfile.TarInfo(f"{APP_ID}/{entry.relative}" if entry.relative else APP_ID)
            info.type, info.mode = (tarfile.DIRTYPE, 0o755) if entry.data is None else (tarfile.REGTYPE, 0o644)
            info.size, info.mtime, info.uname, info.gname = len(entry.data or b""), DEFAULT_EPOCH, "", ""
            tar.addfile(info, None if entry.data is None else io.BytesIO(entry.data))
    return theirs.getvalue()


# Compressible and incompressible stretches, and a length that ends inside a block.
STANZAS = b"".join(f"[search {i}]\nsearch = | tstats count by dest\n\n".encode() for i in range(400)) + os.urandom(3000) + b"end"


@pytest.mark.parametrize("length", [0, 1, 511, 512, 513, 12345, len(STANZAS)])
def test_a_file_whose_start_comes_compressed_is_the_same_tar_in_one_gzip_stream(tmp_path, length):
    files = {"default/app.conf": app_files()["default/app.conf"].encode(), "default/savedsearches.conf": STANZAS,
             "lookups/after.csv": b"a,b\n" * 300}
    entries = file_entries(files, tmp_path / APP_ID)
    start = package.CompressedStart(length, package.compress_start(STANZAS[:length]))
    with PackageFile(entries, tmp_path / "out", app_id=APP_ID, version=VERSION, epoch=DEFAULT_EPOCH,
                     starts={"default/savedsearches.conf": start}) as spl:
        spl.write()
        packed = spl.commit().read_bytes()
    assert start.deflated in packed  # put in as it came, not compressed again
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip: checks the trailer's CRC and length
    assert inflater.decompress(packed) == tarfile_writes(entries)
    assert inflater.eof and inflater.unused_data == b""  # one gzip member, as a single-stream reader expects
    with tarfile.open(spl.destination, "r:gz") as tar:
        assert tar.extractfile(f"{APP_ID}/default/savedsearches.conf").read() == STANZAS


def test_a_compressed_start_ends_on_a_byte_boundary_without_a_last_block():
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflater.decompress(package.compress_start(STANZAS)) == STANZAS
    assert not inflater.eof  # a stream may follow it


@pytest.mark.parametrize("path, length", [("default/savedsearches.conf", len(STANZAS) + 1), ("default", 0)],
                         ids=["longer than its file", "a folder"])
def test_a_start_that_does_not_fit_its_file_is_refused_before_anything_is_written(tmp_path, path, length):
    """Its bytes would be in the stream but not in the tar, and the trailer's length would be wrong:
    a package that gzip refuses and tarfile reads without a word."""
    files = {"default/app.conf": app_files()["default/app.conf"].encode(), "default/savedsearches.conf": STANZAS}
    start = package.CompressedStart(length, package.compress_start(STANZAS + b"x"))
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=f"{path}: a compressed start of {length} bytes"):
        with PackageFile(file_entries(files, tmp_path / APP_ID), out, app_id=APP_ID, version=VERSION,
                         epoch=DEFAULT_EPOCH, starts={path: start}) as spl:
            spl.write()
    assert list(out.iterdir()) == []


def test_gzip_header_has_no_file_name_and_no_timestamp(app_dir, tmp_path):
    head = build(app_dir, tmp_path / "out").read_bytes()[:10]
    assert head[:3] == b"\x1f\x8b\x08"
    assert head[3] == 0, "FLG must not announce a file name"
    assert head[4:8] == b"\0\0\0\0"


@pytest.mark.parametrize("deflate", ["zlib_ng", "zlib"], ids=["zlib-ng", "zlib, where zlib-ng is missing"])
def test_gzip_header_names_no_operating_system_so_every_machine_writes_the_same_bytes(app_dir, tmp_path, monkeypatch,
                                                                                       deflate):
    """zlib and zlib-ng write the OS byte of the system they were compiled for (3 on Linux, 19 on
    macOS, 10 on Windows: zutil.h's OS_CODE) when they write the gzip header themselves; RFC 1952
    has 255, "unknown", for a header that must not depend on the machine."""
    import importlib

    monkeypatch.setattr(package, "zlib", importlib.import_module("zlib_ng.zlib_ng" if deflate == "zlib_ng" else "zlib"))
    spl = build(app_dir, tmp_path / "out")
    # ID1 ID2, CM deflate, FLG none, MTIME 0, XFL 0 (neither the slowest nor the fastest level), OS 255
    assert spl.read_bytes()[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    with tarfile.open(spl, "r:gz") as tar:  # and the CRC and length in the trailer hold
        assert [m.name for m in tar][0] == APP_ID


def test_allowed_optional_files_are_packaged(app_dir, tmp_path):
    extra = {"LICENSE.txt": "text", "default/data/ui/nav/default.xml": "<nav/>",
             "default/data/ui/views/overview.xml": "<dashboard/>", "static/appIcon.png": "png",
             "lookups/known.csv": "a,b\n", "app.manifest": "{}"}
    write_app(app_dir, extra)
    names = {m.name for m in members(build(app_dir, tmp_path / "out"))}
    assert {f"demo_app/{p}" for p in extra} <= names


@pytest.mark.parametrize("relative, allowed", [
    ("default/data/ui/nav/default.xml", True),
    ("default/data/ui/panels/deep/er/x.xml", True),
    ("default/savedsearches.conf", True),
    ("default/sub/savedsearches.conf", False),
    ("metadata/local.meta", False),
    ("bin/run.py", False),
    ("README.md", True),
    ("static/appIcon.jpg", False),
])
def test_allow_list(relative, allowed):
    assert package.is_allowed(relative) is allowed


# --- reproducibility --------------------------------------------------------

def test_two_builds_are_byte_identical_despite_mtimes_umask_modes_and_creation_order(tmp_path):
    files = app_files()
    old_umask = os.umask(0o077)
    try:
        first = write_app(tmp_path / "a" / "checkout_one", files)
    finally:
        os.umask(old_umask)
    second = write_app(tmp_path / "b" / "other_name", dict(reversed(list(files.items()))))
    os.utime(first / "README.md", (1_000_000, 1_000_000))
    os.utime(second / "default" / "app.conf", (2_000_000_000, 2_000_000_000))
    (second / "default" / "macros.conf").chmod(0o664)
    one = build(first, tmp_path / "out1").read_bytes()
    two = build(second, tmp_path / "out2").read_bytes()
    assert one == two
    assert build(first, tmp_path / "out1").read_bytes() == one


def test_source_date_epoch_from_the_environment_sets_every_mtime(app_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert {m.mtime for m in members(build(app_dir, tmp_path / "out"))} == {1700000000}


def test_source_date_epoch_argument_wins_over_the_environment(app_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert {m.mtime for m in members(build(app_dir, tmp_path / "out", source_date_epoch=42))} == {42}


@pytest.mark.parametrize("value", ["yesterday", "-5", "1.5", "99999999999"])
def test_malformed_source_date_epoch_is_an_error_naming_the_variable(app_dir, tmp_path, monkeypatch, value):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(PackageError, match=r"^SOURCE_DATE_EPOCH: .* is not a whole number"):
        build(app_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- atomic write -----------------------------------------------------------

def test_failure_mid_write_leaves_the_previous_package_and_no_temporary_file(app_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    previous = build(app_dir, out, source_date_epoch=1).read_bytes()
    real_compressobj, calls = package.zlib.compressobj, []

    class FailingCompressor:  # the disk fills up at the fourth piece written
        def __init__(self, *args):
            self.real = real_compressobj(*args)

        def compress(self, data):
            calls.append(len(data))
            if len(calls) == 4:
                raise OSError(28, "No space left on device")
            return self.real.compress(data)

    monkeypatch.setattr(package.zlib, "compressobj", FailingCompressor)
    with pytest.raises(OSError, match="No space left"):
        build(app_dir, out, source_date_epoch=2)
    assert len(calls) == 4
    assert sorted(p.name for p in out.iterdir()) == [f"{APP_ID}-{VERSION}.spl"]
    assert (out / f"{APP_ID}-{VERSION}.spl").read_bytes() == previous


def test_failure_on_a_first_build_leaves_nothing(app_dir, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(package, "write_archive", lambda *args: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        build(app_dir, out)
    assert list(out.iterdir()) == []


# --- broken inputs ----------------------------------------------------------

@pytest.mark.parametrize("relative, reason", [
    ("bin/run.sh", r"bin/run.sh is not in the package allow-list"),
    ("default/notes.txt", r"default/notes.txt is not in the package allow-list"),
    ("local/macros.conf", r"local/ holds an admin's own settings"),
    ("metadata/local.meta", r"local.meta holds an admin's own permissions"),
    ("default/.DS_Store", r"macOS folder metadata"),
    ("default/._app.conf", r"macOS resource fork"),
    ("__pycache__/x.cpython-311.pyc", r"Python bytecode cache"),
    ("default/x.pyc", r"compiled Python"),
    (".git/config", r"hidden file or folder"),
    ("default/.secret.conf", r"hidden file or folder"),
])
def test_file_outside_the_allow_list_is_an_error_naming_it(app_dir, tmp_path, relative, reason):
    write_app(app_dir, {relative: "x"})
    with pytest.raises(PackageError, match=reason) as error:
        build(app_dir, tmp_path / "out")
    assert str(app_dir / relative.split("/")[0]) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_missing_app_conf(app_dir, tmp_path):
    (app_dir / "default" / "app.conf").unlink()
    with pytest.raises(PackageError, match=r"default/app.conf: missing"):
        build(app_dir, tmp_path / "out")


def test_app_conf_that_disagrees_with_the_package_name(app_dir, tmp_path):
    with pytest.raises(PackageError, match=r"app.conf: \[id\] version is '1.2.3', but the package is built as '2.0.0'"):
        build(app_dir, tmp_path / "out", version="2.0.0")


def test_malformed_app_conf_is_reported_with_its_line(app_dir, tmp_path):
    (app_dir / "default" / "app.conf").write_text("[package]\nid = demo_app\nnot a setting\n")
    with pytest.raises(PackageError, match=r"app.conf:3: line is neither"):
        build(app_dir, tmp_path / "out")


@pytest.mark.parametrize("app_id, version, message", [
    ("../evil", VERSION, "app id '../evil'"),
    (APP_ID, "1.0", "version '1.0'"),
])
def test_bad_app_id_or_version(app_dir, tmp_path, app_id, version, message):
    with pytest.raises(PackageError, match=message):
        build(app_dir, tmp_path / "out", app_id=app_id, version=version)


def test_path_too_long_for_ustar_is_an_error_naming_it(app_dir, tmp_path):
    long_name = "default/data/ui/views/" + "v" * 120 + ".xml"
    write_app(app_dir, {long_name: "<dashboard/>"})
    with pytest.raises(PackageError, match=r"v{120}.xml: cannot be stored in a USTAR package"):
        build(app_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # found before anything is written


# --- an app given as its files' bytes (what the build packages) -------------

@pytest.mark.parametrize("relative, reason", [
    ("lookups/notes.txt", r"lookups/notes.txt is not in the package allow-list"),
    ("lookups/.hidden.csv", r"hidden file or folder"),
    ("local/macros.conf", r"local/ holds an admin's own settings"),
])
def test_files_given_in_memory_are_checked_against_the_allow_list(tmp_path, relative, reason):
    files = {r: t.encode() for r, t in app_files().items()} | {relative: b"x"}
    with pytest.raises(PackageError, match=reason) as error:
        package.file_entries(files, tmp_path / APP_ID)
    assert str(tmp_path / APP_ID / relative.split("/")[0]) in str(error.value)


def test_app_conf_given_in_memory_is_read_as_a_file_is(tmp_path):
    files = {r: t.encode() for r, t in app_files().items()}
    files["default/app.conf"] = b"\xef\xbb\xbf" + files["default/app.conf"].replace(b"\n", b"\r\n")
    entries = package.file_entries(files, tmp_path / APP_ID)
    package.check_app_conf(entries, APP_ID, VERSION)  # a BOM and CRLF line ends, as read_conf accepts them
    with pytest.raises(PackageError, match=r"\[id\] version is '1.2.3', but the package is built as '2.0.0'"):
        package.check_app_conf(entries, APP_ID, "2.0.0")
    files["default/app.conf"] = b"[id]\nname = \xff\n"
    with pytest.raises(PackageError, match=r"default/app.conf: cannot read"):
        package.check_app_conf(package.file_entries(files, tmp_path / APP_ID), APP_ID, VERSION)
    del files["default/app.conf"]
    with pytest.raises(PackageError, match=r"default/app.conf: missing"):
        package.check_app_conf(package.file_entries(files, tmp_path / APP_ID), APP_ID, VERSION)


def test_a_file_shipped_as_it_is_must_be_a_regular_file(tmp_path):
    (tmp_path / "real.csv").write_text("a,b\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    os.mkfifo(tmp_path / "fifo.csv")
    assert package.read_regular(tmp_path / "real.csv") == b"a,b\n"
    with pytest.raises(PackageError, match=r"link.csv: only regular files can be packaged \(symbolic link\)"):
        package.read_regular(tmp_path / "link.csv")
    with pytest.raises(PackageError, match=r"fifo.csv: only regular files can be packaged \(special file\)"):
        package.read_regular(tmp_path / "fifo.csv")  # refused at once: opening it does not wait for a writer
    with pytest.raises(PackageError, match=r"missing.csv: cannot read: No such file"):
        package.read_regular(tmp_path / "missing.csv")


@pytest.mark.parametrize("extra, message", [
    ({"default/data/ui/views/a.xml": b"<view/>", "default/data/ui/views/a.xml/b.xml": b"<view/>"},
     r"default/data/ui/views/a.xml: is both a file and the folder of default/data/ui/views/a.xml/b.xml"),
    ({"default/a\x00b.conf": b"[x]\n"}, r"'default/a\\x00b.conf': a name with a control character"),
    ({"lookups/a\nb.csv": b"a\n"}, r"'lookups/a\\nb.csv': a name with a control character"),
])
def test_names_no_folder_could_hold_are_refused(tmp_path, extra, message):
    """A tar holding a file and a folder of one name, or a name a reader cuts at its NUL, would unpack
    as another app than the one checked; no folder on disk holds such names, bytes in memory may."""
    files = {r: t.encode() for r, t in app_files().items()} | extra
    with pytest.raises(PackageError, match=message):
        package.file_entries(files, tmp_path / APP_ID)
