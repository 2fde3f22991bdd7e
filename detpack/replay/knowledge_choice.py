"""Which knowledge a run uses: the chosen add-ons (or the built-in set) with the built app's
own lookups ahead of them, and the lookup names a pack's searches may read. Apart from the
runner so that checking searches (``validate --spl``) loads no build."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..knowledge import Knowledge, load_knowledge
from ..knowledge.addons import Addon
from ..knowledge.lookups import app_lookups, check_tables

ADDONS_VARIABLE = "DETPACK_ADDONS"  # add-on paths separated by os.pathsep (for CI caches)


def chosen_addons(given: tuple, settings_addons: tuple) -> list:
    """``--addon`` paths, else $DETPACK_ADDONS, else contentctl.yml ``addons:``; none: built-in."""
    if given:
        return list(given)
    from_environment = [p for p in os.environ.get(ADDONS_VARIABLE, "").split(os.pathsep) if p]
    return from_environment or list(settings_addons)


def knowledge_for(given: tuple, settings_addons: tuple, app_dir: Path | None = None) -> Knowledge:
    """Load the chosen add-ons (AddonError/ConfError when one cannot be read) and, when
    ``app_dir`` is given, the lookups the built app ships there, which its searches see
    first (``knowledge.lookups.app_first``); print each setting the engine cannot apply, once."""
    app = app_lookups(app_dir) if app_dir else None
    knowledge = load_knowledge(chosen_addons(given, settings_addons), app)
    if app:
        check_app_lookups(knowledge, app)
    print_knowledge_problems(knowledge)
    return knowledge


def check_app_lookups(knowledge: Knowledge, app: Addon) -> None:
    """Check every lookup the app defines now (its rows are read when a search uses it), so
    that a missing file, a bad header or an unsupported setting is named when the run
    starts, not only if a search uses it."""
    check_tables(app.confs.get("transforms", {}), knowledge.transforms, knowledge.addon.lookups, knowledge.problems)


def print_knowledge_problems(knowledge: Knowledge | None) -> None:
    """Each knowledge problem not shown yet: most are found when the knowledge is
    loaded, a few (a table a search's ``lookup`` names) only when a search runs."""
    for message in knowledge.problems.unshown() if knowledge else ():
        print(f"warning: {message}", file=sys.stderr)


class KnownLookups:
    """The lookup names a pack's searches may read: the pack's own and the knowledge's tables."""

    def __init__(self, names: set[str], knowledge: Knowledge):
        self.names, self.tables = names, knowledge.lookup_tables()

    def __contains__(self, name: object) -> bool:
        return name in self.names or (isinstance(name, str) and self.tables.has(name))


def known_lookups(pack, knowledge: Knowledge) -> KnownLookups:
    return KnownLookups({lookup.name for lookup in pack.lookups}, knowledge)
