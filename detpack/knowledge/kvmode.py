"""``KV_MODE``: Splunk's automatic key/value extraction from ``_raw`` (props.conf.spec).

- ``none``: nothing.
- ``auto``/``auto_escaped``/``multi``: ``key=value`` pairs; a value is a quoted
  string or runs to the next space, comma or semicolon (*unverified*: splunkd's
  exact delimiters). A field found again is not overwritten.
- ``xml``/``json``: every element (object key) by its path, ``a.b.c``, with
  attributes as ``a.b{@attr}``, as ``spath`` names them (*unverified* that
  KV_MODE=xml names fields exactly like spath). Repeats become multivalue.
"""
from __future__ import annotations

import json
import pyexpat
import re
from collections.abc import Callable

from .transforms import add_value

Fields = dict
AUTO_PAIR = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)=(?:\"([^\"]*)\"|'([^']*)'|([^\s,;\"']*))")


def kv_extractor(mode: str) -> Callable[[Fields], None] | None:
    if mode == "none":
        return None
    if mode == "xml":
        return lambda fields: xml_pairs(fields.get("_raw", ""), fields)
    if mode == "json":
        return lambda fields: json_pairs(fields.get("_raw", ""), fields)
    return lambda fields: auto_pairs(fields.get("_raw", ""), fields)


def auto_pairs(raw: str, fields: Fields) -> None:
    found: dict[str, str] = {}
    for key, double, single, bare in AUTO_PAIR.findall(raw):
        found.setdefault(key, double or single or bare)
    for key, value in found.items():
        add_value(fields, key, value, False)


def xml_pairs(raw: str, fields: Fields) -> None:
    found: dict[str, list[str]] = {}
    path: list[str] = []
    text: list[list[str]] = []
    parser = pyexpat.ParserCreate()

    def start(name, attributes):
        path.append(name)
        text.append([])
        for attribute, value in attributes.items():
            found.setdefault(f"{'.'.join(path)}{{@{attribute}}}", []).append(value)

    def end(name):
        value = "".join(text.pop()).strip()
        if value:
            found.setdefault(".".join(path), []).append(value)
        path.pop()

    def data(chunk):
        if text:
            text[-1].append(chunk)

    parser.StartElementHandler, parser.EndElementHandler, parser.CharacterDataHandler = start, end, data
    try:
        parser.Parse(raw, True)
    except pyexpat.ExpatError:
        return  # not XML: nothing to extract
    store(found, fields)


def json_pairs(raw: str, fields: Fields) -> None:
    try:
        document = json.loads(raw)
    except ValueError:
        return
    found: dict[str, list[str]] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else key)
        elif isinstance(node, list):
            for item in node:
                walk(item, f"{path}{{}}")
        elif node is not None:
            found.setdefault(path, []).append(node if isinstance(node, str) else json.dumps(node))

    walk(document, "")
    store(found, fields)


def store(found: dict[str, list[str]], fields: Fields) -> None:
    for key, values in found.items():
        if fields.get(key) is None:
            fields[key] = values[0] if len(values) == 1 else values
