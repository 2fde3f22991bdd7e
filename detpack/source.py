"""YAML loading that remembers where every value came from.

``load_yaml`` returns plain Python values plus a map from field paths
(``tags.mitre_attack_id[0]``, ``rba.risk_objects[1].score``) to the line and
column of the value, so a finding can point at the exact spot in the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import Finding, InvalidInput, Location, display_path

try:
    _Loader = yaml.CSafeLoader  # libyaml: an order of magnitude faster on large packs
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_SCALARS = {
    "tag:yaml.org,2002:null": lambda v: None,
    "tag:yaml.org,2002:bool": lambda v: v.lower() in ("true", "yes", "on"),
    "tag:yaml.org,2002:int": lambda v: int(v.replace("_", ""), 0) if v[:2].lower() in ("0x", "0o") else int(v.replace("_", "")),
    "tag:yaml.org,2002:float": float,
}


def key_path(path: str) -> str:
    """The locations entry of a mapping key itself, rather than of its value."""
    return f"{path}#key"


def load_yaml(path: Path) -> tuple[Any, dict[str, Location]]:
    """Parse one YAML document; raises InvalidInput with the file, line and column."""
    name = display_path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput([Finding(Location(name), "(file)", f"not UTF-8 text: {exc.reason}", "UTF-8")]) from None
    except OSError as exc:
        raise InvalidInput([Finding(Location(name), "(file)", f"cannot read: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name)
        raise InvalidInput([Finding(where, "(yaml)", f"not valid YAML: {exc.problem or exc.context}")]) from None
    except yaml.YAMLError as exc:
        raise InvalidInput([Finding(Location(name), "(yaml)", f"not valid YAML: {exc}")]) from None
    locations: dict[str, Location] = {"": Location(name, 1, 1)}
    findings: list[Finding] = []
    value = _convert(node, "", name, locations, findings) if node is not None else None
    if findings:
        raise InvalidInput(findings)
    return value, locations


def _convert(node: yaml.Node, path: str, name: str, locations: dict, findings: list) -> Any:
    locations[path] = Location(name, node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        return _convert_mapping(node, path, name, locations, findings)
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, f"{path}[{i}]", name, locations, findings) for i, item in enumerate(node.value)]
    convert = _SCALARS.get(node.tag, str)
    try:
        return convert(node.value)
    except ValueError:
        return node.value


def _convert_mapping(node: yaml.MappingNode, path: str, name: str, locations: dict, findings: list) -> dict:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        child = f"{path}.{key}" if path else key
        if key in result:
            where = Location(name, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            findings.append(Finding(where, child, "duplicate key", "each key once"))
            continue
        locations[key_path(child)] = Location(name, key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        result[key] = _convert(value_node, child, name, locations, findings)
    return result
