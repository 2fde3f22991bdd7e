"""Search-time knowledge: how raw events become the fields and data-model rows a search reads.

Read from add-ons as Splunk reads them (addons.py), or from the project's own
set in ``builtin/``: props (props.py), transforms (transforms.py), KV_MODE
(kvmode.py), lookups (lookups.py), event types and tags (eventtypes.py), data
models (datamodels.py), applied in Splunk's order by ``Knowledge`` (engine.py).
"""
from .addons import AddonError
from .engine import BUILTIN, Knowledge, load_knowledge

__all__ = ["AddonError", "BUILTIN", "Knowledge", "load_knowledge"]
