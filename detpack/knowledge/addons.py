"""Reading add-ons as splunkd does: a folder or a package, ``default/`` then ``local/``.

An add-on is a folder holding ``default/*.conf`` (and an admin's ``local/*.conf``),
``default/data/models/*.json`` and ``lookups/*.csv``, or the same folder packed as
``.tgz``/``.tar.gz``/``.spl``. Only the files search-time knowledge needs are read.

Layering: search-time knowledge is read in the app/user context (Admin Manual,
"Configuration file precedence": after the user's and the running app's own
directories come "App directories for all other apps (local, followed by default)
-- for exported settings only"): each add-on's ``local/`` beats its own
``default/``, and between add-ons the one whose folder name sorts first (ASCII, the
order the manual gives for app directories) wins a key both set: A's local, A's
default, then B's local, B's default. *Unverified*: that ASCII order holds in the
app/user context as in the global one, and that every add-on exports its knowledge
(metadata/*.meta is not read). Within a file a repeated stanza or key takes the last
value, as splunkd reads it, and a line splunkd skips (conf.parse_conf) is named, not fatal.
"""
from __future__ import annotations

import tarfile
from pathlib import Path, PurePosixPath

from ..errors import Fresh, record
from ..conf import ConfError, parse_conf

CONF_FILES = ("props", "transforms", "eventtypes", "tags", "macros")
PACKAGE_SUFFIXES = (".tgz", ".tar.gz", ".spl")
MAX_MEMBER_BYTES = 64 << 20  # a bigger file in a package is refused, not read
MAX_MEMBERS = 20_000  # members a package may hold (a full add-on has hundreds, the CIM app a few thousand)
MAX_WANTED_BYTES = 256 << 20  # the files read from one add-on, all together


class AddonError(Exception):
    """An add-on that cannot be read at all; the message names the path."""


@record
class Setting:
    value: str
    addon: str
    layer: str  # "default" or "local"
    file: str   # e.g. "props.conf"


@record(frozen=False)
class Addon:
    name: str
    confs: dict[str, dict[str, dict[str, Setting]]] = Fresh(dict)  # file → stanza → key
    datamodels: dict[str, tuple[Setting, str]] = Fresh(dict)  # model file stem → (origin, JSON text)
    lookups: dict[str, bytes] = Fresh(dict)  # file name under lookups/ → content
    skipped: list[str] = Fresh(list)  # what was left out, each said once when loaded


def load_addon(path: str | Path) -> Addon:
    """Read an add-on folder or package; AddonError/ConfError when it cannot be read."""
    path = Path(path)
    skipped: list[str] = []
    if path.is_dir():
        files = folder_files(path)
        name = path.name
    elif path.is_file() and path.name.lower().endswith(PACKAGE_SUFFIXES):
        name, files = package_files(path, skipped)
    elif path.exists():
        raise AddonError(f"{path}: not an add-on folder or a .tgz/.tar.gz/.spl package")
    else:
        raise AddonError(f"{path}: no such add-on")
    addon = addon_from_files(name, files, str(path))
    addon.skipped[:0] = skipped
    if not addon.confs and not addon.datamodels and not addon.lookups:
        addon.skipped.append(f"{path}: no search-time knowledge found (default/ or local/ *.conf, "
                             "default/data/models/*.json, lookups/*.csv)")
    return addon


def folder_files(root: Path) -> dict[str, bytes]:
    """Only the places knowledge lives are listed: no walk of the whole tree."""
    candidates = []
    for folder in ("default", "local", "default/data/models", "local/data/models", "lookups"):
        try:
            candidates += [p.relative_to(root).as_posix() for p in (root / folder).iterdir() if p.is_file()]
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as error:
            raise AddonError(f"{root / folder}: cannot read: {error.strerror or error}") from None
    wanted, total = {}, 0
    for relative in wanted_paths(candidates):
        try:
            wanted[relative] = (root / relative).read_bytes()
        except OSError as error:
            raise AddonError(f"{root / relative}: cannot read: {error.strerror or error}") from None
        total += len(wanted[relative])
        if total > MAX_WANTED_BYTES:
            raise AddonError(f"{root}: its knowledge files hold more than {MAX_WANTED_BYTES} bytes")
    return wanted


def package_files(path: Path, skipped: list[str]) -> tuple[str, dict[str, bytes]]:
    """The add-on folder name and its wanted files; a package holds one top folder.
    Links and names leaving the folder (absolute, ``..``) are never read: each is named."""
    try:
        with tarfile.open(path, "r:*") as archive:
            members = package_members(archive, path, skipped)
            tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
            if len(tops) != 1:
                why = f" ({skipped[0].split(': ', 1)[1]})" if skipped and not tops else ""
                raise AddonError(f"{path}: a package must hold exactly one add-on folder, found {len(tops)}{why}")
            top = tops.pop()
            by_path = {PurePosixPath(m.name).relative_to(top).as_posix(): m for m in members}
            files, total = {}, 0
            for relative in wanted_paths(by_path):
                member = by_path[relative]
                total += member.size
                if member.size > MAX_MEMBER_BYTES:
                    raise AddonError(f"{path}: {member.name} is larger than {MAX_MEMBER_BYTES} bytes")
                if total > MAX_WANTED_BYTES:
                    raise AddonError(f"{path}: its knowledge files hold more than {MAX_WANTED_BYTES} bytes")
                files[relative] = archive.extractfile(member).read()
            return top, files
    except (tarfile.TarError, OSError, EOFError) as error:
        raise AddonError(f"{path}: not a readable package ({error})") from None


def package_members(archive: tarfile.TarFile, path: Path, skipped: list[str]) -> list[tarfile.TarInfo]:
    members = []
    for count, member in enumerate(iter(archive.next, None)):
        if count >= MAX_MEMBERS:
            raise AddonError(f"{path}: more than {MAX_MEMBERS} members, not read")
        parts = PurePosixPath(member.name).parts
        if member.name.startswith(("/", "\\")) or ".." in parts:
            skipped.append(f"{path}: {member.name} leaves the add-on folder, skipped")
        elif member.issym() or member.islnk():
            skipped.append(f"{path}: {member.name} is a link, skipped")
        elif member.isfile():
            members.append(member)
    return members


def wanted_paths(paths) -> list[str]:
    keep = []
    for relative in paths:
        parts = PurePosixPath(relative).parts
        if len(parts) == 2 and parts[0] in ("default", "local") and parts[1].endswith(".conf") \
                and parts[1][:-5] in CONF_FILES:
            keep.append(relative)
        elif len(parts) == 4 and parts[0] in ("default", "local") and parts[1:3] == ("data", "models") \
                and parts[3].endswith(".json"):
            keep.append(relative)
        elif len(parts) == 2 and parts[0] == "lookups" and parts[1].lower().endswith(".csv"):
            keep.append(relative)
    return sorted(keep)


def addon_from_files(name: str, files: dict[str, bytes], where: str) -> Addon:
    addon = Addon(name)
    for layer in ("default", "local"):
        for stem in CONF_FILES:
            relative = f"{layer}/{stem}.conf"
            if relative not in files:
                continue
            text = decode(files[relative], f"{where}/{relative}")
            ignored: list[tuple[int, str]] = []
            stanzas = parse_conf(text, f"{where}/{relative}", layered=True, ignored=ignored)
            addon.skipped += [f"{name}: {relative} line {number}: {what}, ignored as splunkd ignores it"
                              for number, what in ignored]
            for stanza in stanzas:
                target = addon.confs.setdefault(stem, {}).setdefault(stanza.name, {})
                for key, value in stanza.entries.items():
                    target[key] = Setting(value, name, layer, f"{stem}.conf")
        for relative, content in files.items():
            if relative.startswith(f"{layer}/data/models/"):
                stem = PurePosixPath(relative).stem
                origin = Setting("", name, layer, relative.removeprefix(f"{layer}/"))
                addon.datamodels[stem] = (origin, decode(content, f"{where}/{relative}"))
    addon.lookups = {PurePosixPath(r).name: c for r, c in files.items() if r.startswith("lookups/")}
    return addon


def decode(content: bytes, where: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfError(f"{where}: not UTF-8 ({error})") from None


def merge(addons: list[Addon]) -> Addon:
    """One view of several add-ons with Splunk's global precedence (see the module doc)."""
    merged = Addon("+".join(a.name for a in addons), skipped=[m for a in addons for m in a.skipped])
    ordered = sorted(addons, key=lambda a: a.name)
    for addon in ordered:
        for layer in ("local", "default"):
            for stem, stanzas in addon.confs.items():
                for stanza, settings in stanzas.items():
                    target = merged.confs.setdefault(stem, {}).setdefault(stanza, {})
                    for key, setting in settings.items():
                        if setting.layer == layer and key not in target:
                            target[key] = setting
    for addon in reversed(ordered):  # first name wins a file both ship
        merged.datamodels.update(addon.datamodels)
        merged.lookups.update(addon.lookups)
    return merged
