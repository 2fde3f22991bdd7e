"""Reading add-ons as splunkd does: a folder or a package, ``default/`` then ``local/``.

An add-on is a folder holding ``default/*.conf`` (and an admin's ``local/*.conf``),
``default/data/models/*.json`` and ``lookups/*.csv``, or the same folder packed as
``.tgz``/``.tar.gz``/``.spl``. Only the files search-time knowledge needs are read.

Layering (Admin Manual, "Configuration file precedence", global context): every
``local/`` beats every ``default/``; between add-ons, the one whose folder name
sorts first (ASCII) wins a key both set. Within a file a repeated stanza or key
takes the last value, as splunkd reads it.
"""
from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..conf import ConfError, parse_conf

CONF_FILES = ("props", "transforms", "eventtypes", "tags", "macros")
PACKAGE_SUFFIXES = (".tgz", ".tar.gz", ".spl")
MAX_MEMBER_BYTES = 64 << 20  # a bigger file in a package is refused, not read


class AddonError(Exception):
    """An add-on that cannot be read at all; the message names the path."""


@dataclass(frozen=True)
class Setting:
    value: str
    addon: str
    layer: str  # "default" or "local"
    file: str   # e.g. "props.conf"


@dataclass
class Addon:
    name: str
    confs: dict[str, dict[str, dict[str, Setting]]] = field(default_factory=dict)  # file → stanza → key
    datamodels: dict[str, tuple[Setting, str]] = field(default_factory=dict)  # model file stem → (origin, JSON text)
    lookups: dict[str, bytes] = field(default_factory=dict)  # file name under lookups/ → content


def load_addon(path: str | Path) -> Addon:
    """Read an add-on folder or package; AddonError/ConfError when it cannot be read."""
    path = Path(path)
    if path.is_dir():
        files = folder_files(path)
        name = path.name
    elif path.is_file() and path.name.lower().endswith(PACKAGE_SUFFIXES):
        name, files = package_files(path)
    elif path.exists():
        raise AddonError(f"{path}: not an add-on folder or a .tgz/.tar.gz/.spl package")
    else:
        raise AddonError(f"{path}: no such add-on")
    return addon_from_files(name, files, str(path))


def folder_files(root: Path) -> dict[str, bytes]:
    wanted = {}
    for relative in wanted_paths(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()):
        try:
            wanted[relative] = (root / relative).read_bytes()
        except OSError as error:
            raise AddonError(f"{root / relative}: cannot read: {error.strerror or error}") from None
    return wanted


def package_files(path: Path) -> tuple[str, dict[str, bytes]]:
    """The add-on folder name and its wanted files; a package holds one top folder."""
    try:
        with tarfile.open(path, "r:*") as archive:
            members = [m for m in archive.getmembers() if m.isfile()]
            tops = {PurePosixPath(m.name).parts[0] for m in members if PurePosixPath(m.name).parts}
            if len(tops) != 1:
                raise AddonError(f"{path}: a package must hold exactly one add-on folder, found {len(tops)}")
            top = tops.pop()
            by_path = {PurePosixPath(m.name).relative_to(top).as_posix(): m for m in members}
            files = {}
            for relative in wanted_paths(by_path):
                member = by_path[relative]
                if member.size > MAX_MEMBER_BYTES:
                    raise AddonError(f"{path}: {member.name} is larger than {MAX_MEMBER_BYTES} bytes")
                files[relative] = archive.extractfile(member).read()
            return top, files
    except (tarfile.TarError, OSError, EOFError) as error:
        raise AddonError(f"{path}: not a readable package ({error})") from None


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
            for stanza in parse_conf(text, f"{where}/{relative}", layered=True):
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
    merged = Addon("+".join(a.name for a in addons))
    ordered = sorted(addons, key=lambda a: a.name)
    for layer in ("local", "default"):
        for addon in ordered:
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
