"""End to end: hostile text in a detection is either refused by validation or ships unchanged
(line breaks as contentctl writes them: a space before each)."""
from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detpack.conf import as_dict, parse_conf
from detpack.errors import InvalidInput
from detpack.build.render import conf_text, render_app, search_stanza_name
from detpack.content.validate import load_valid_pack

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_pack"
DETECTION = "detections/endpoint/wmi_script_host.yml"
# Mostly text a conf file could be broken by; control characters (which validation refuses) rarely.
PIECES = ["\n", "\\", "\\\n", "[evil]", "\nenableSched = 0", "\n[x]\nsearch = *", "$dest$", '"', "'", "é", "\u2028",
          " ", "\t", "#", "=", "\n\n", "a", "\\\\", "\r\n"]
PRINTABLE = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=5)
HOSTILE = st.lists(st.one_of(st.sampled_from(PIECES), PRINTABLE), min_size=1, max_size=10).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=HOSTILE, known_false_positives=HOSTILE)
def test_hostile_text_is_refused_or_read_back_exactly(tmp_path_factory, description, known_false_positives):
    root = tmp_path_factory.mktemp("pack") / "pack"
    shutil.copytree(FIXTURE, root)
    path = root / DETECTION
    data = yaml.safe_load(path.read_text())
    data |= {"description": description, "known_false_positives": known_false_positives}
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    try:
        pack = load_valid_pack(root)
    except InvalidInput as error:
        assert all(f.location.line > 0 for f in error.findings)
        return
    files = {p: data.decode() for p, data in render_app(pack).files.items()}
    searches = as_dict(parse_conf(files["default/savedsearches.conf"], "savedsearches.conf"))
    stanza = searches[search_stanza_name(pack.app, pack.detections[0])]
    assert stanza["description"] == conf_text(pack.detections[0].description) == conf_text(description.strip())
    assert stanza["enableSched"] == "1" and set(searches) == {search_stanza_name(pack.app, pack.detections[0])}
    stories = as_dict(parse_conf(files["default/analyticstories.conf"], "analyticstories.conf"))
    assert stories[f"savedsearch://{search_stanza_name(pack.app, pack.detections[0])}"]["known_false_positives"] \
        == conf_text(known_false_positives.strip())
