"""Mapping tables used by normalisation and rendering: data, in one place."""
from __future__ import annotations

# Notable severity from the highest risk score (public ES content convention), upper bounds inclusive.
SEVERITY_BANDS: tuple[tuple[int, str], ...] = (
    (20, "informational"),
    (40, "low"),
    (60, "medium"),
    (80, "high"),
    (100, "critical"),
)

# Older schema (tags.observable), as contentctl 4.4.1 turns observables into `_risk` entries
# (objects/abstract_security_content_objects/detection_abstract.py, `risk`): a Victim of a user or
# system type is a risk object of that type; an Attacker is a threat object, typed by the table below
# or by its own type in lower case; anything else is a risk object of type `other`.
OBSERVABLE_RISK_TYPES: dict[str, str] = {
    "user": "user", "username": "user", "email address": "user",
    "device": "system", "endpoint": "system", "hostname": "system", "ip address": "system",
}
OBSERVABLE_THREAT_TYPES: dict[str, str] = {
    "process name": "process", "process": "process",
    "file name": "file_name", "file": "file_name", "file hash": "file_name",
    "ip address": "ip_address", "url string": "url", "url": "url",
}

# What contentctl derives instead of reading it (detection_tags.py `cis20`, detection_abstract.py
# `addTags_nist`): CIS control by security domain, NIST category by detection type.
CIS20_BY_DOMAIN: dict[str, str] = {"network": "CIS 13"}
CIS20_DEFAULT = "CIS 10"
NIST_BY_TYPE: dict[str, str] = {"TTP": "DE.CM"}
NIST_DEFAULT = "DE.AE"

# CIM data model names whose mention in a search lists it under `action.escu.data_models`
# (contentctl 4.4.1 enums.py `DataModel`; a plain substring test, in this order).
DATA_MODELS: tuple[str, ...] = (
    "Endpoint", "Network_Traffic", "Authentication", "Change", "Change_Analysis", "Email",
    "Network_Resolution", "Network_Sessions", "UEBA", "Updates", "Vulnerabilities", "Web", "Risk", "Splunk_Audit",
)

# Search text -> providing technologies (contentctl 4.4.1 enums.py `getProvidingTechFromSearch`;
# substring tests, the union sorted by name).
_GOOGLE = ("Google Cloud Platform", "Google Workspace")
PROVIDING_TECHNOLOGIES: dict[str, tuple[str, ...]] = {
    "`amazon_security_lake`": ("Amazon Security Lake",),
    "audit_searches": ("Splunk Internal Logs",),
    "`azure_monitor_aad`": ("Azure AD", "Entra ID"),
    "`cloudtrail`": ("Amazon Web Services - Cloudtrail",),
    "Endpoint": ("Microsoft Sysmon", "Microsoft Windows", "Carbon Black Response", "CrowdStrike Falcon",
                 "Symantec Endpoint Protection"),
    "`google_": _GOOGLE, "`gsuite": _GOOGLE, "`gws_": _GOOGLE,
    "`kube": ("Kubernetes",),
    "`ms_defender`": ("Microsoft Defender",),
    "`o365_": ("Microsoft Office 365",),
    "`okta": ("Okta",),
    "`pingid`": ("Ping ID",),
    "`powershell`": ("Microsoft Windows",),
    "`splunkd_": ("Splunk Internal Logs",),
    "`sysmon`": ("Microsoft Sysmon",),
    "`wineventlog_security`": ("Microsoft Windows",),
    "`zeek_": ("Zeek",),
}

# Default deployment of each detection type when the pack has no deployments/ folder: the values of
# security_content's deployments/escu_default_configuration_<type>.yml (4.42). Which alert actions a
# type gets: risk for TTP and Anomaly, a notable for TTP and Correlation, none for Hunting.
HOURLY = {"cron_schedule": "0 * * * *", "earliest_time": "-70m@m", "latest_time": "-10m@m", "schedule_window": "auto"}
NOTABLE = {"rule_title": "%name%", "rule_description": "%description%", "nes_fields": ("user", "dest")}
DEFAULT_DEPLOYMENTS: dict[str, dict] = {
    "TTP": {"scheduling": HOURLY, "notable": NOTABLE, "rba": True},
    "Anomaly": {"scheduling": HOURLY, "notable": None, "rba": True},
    "Hunting": {"scheduling": HOURLY, "notable": None, "rba": False},
    "Correlation": {"scheduling": HOURLY, "notable": NOTABLE, "rba": False},
    "Baseline": {"scheduling": {"cron_schedule": "10 0 * * *", "earliest_time": "-1450m@m",
                                "latest_time": "-10m@m", "schedule_window": "auto"}, "notable": None, "rba": False},
}

# Detection type -> ES 8 correlation search detection_type.
DETECTION_TYPE = {"TTP": "ebd", "Anomaly": "ebd", "Hunting": "ebd", "Correlation": "ebd"}


# Macros that come with the Common Information Model app or Enterprise Security rather than from
# the pack (contentctl 4.4.1 objects/macro.py MACROS_TO_IGNORE adds get_risk_severity and
# cim_corporate_web_domain_search to the first ones).
CIM_MACROS: frozenset[str] = frozenset({
    "drop_dm_object_name(1)", "cim_Endpoint_indexes", "get_asset(1)", "get_identity4events(1)",
    "get_risk_severity(1)", "cim_corporate_web_domain_search(1)",
})

# Definitions of CIM macros that a pack uses without defining, as the CIM app defines them
# (../shared/docs/splunk-app-facts.md, section 2): stanza -> (arguments, definition).
CIM_MACRO_DEFINITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "drop_dm_object_name(1)": (("object",), 'rename "$object$.*" as *'),
}

# Token names that Enterprise Security itself fills in drilldowns; they are not result fields.
ES_TOKENS: frozenset[str] = frozenset({"info_min_time", "info_max_time"})


def severity(score: int) -> str:
    return next(name for bound, name in SEVERITY_BANDS if score <= bound)

# Lookups a detection's search may name although the pack does not ship them, and the pattern that
# finds the names (contentctl 4.4.1 objects/lookup.py, LOOKUPS_TO_IGNORE and Lookup.get_lookups): the
# word after `lookup ` unless preceded by o, u, t or p (so not `inputlookup`/`outputlookup`). As in
# contentctl, a search naming any of these is not checked at all.
LOOKUP_NAME_PATTERN = r"[^output]lookup (?:update=true)?(?:append=t)?\s*([^\s]*)"
LOOKUPS_PROVIDED_ELSEWHERE: frozenset[str] = frozenset({
    "outputlookup",
    "ut_shannon_lookup",  # URL Toolbox app
    "identity_lookup_expanded", "cim_corporate_web_domain_lookup", "alexa_lookup_by_str",
    "interesting_ports_lookup",  # ES Asset and Identity Framework
    "admon_groups_def",  # SA-admon add-on
    "=", "other_lookups",  # how contentctl's pattern reads two corpus searches
})

# `%field%` placeholders a deployment's notable title and description may use. contentctl 4.4.1
# fills any attribute of its detection object (output/conf_writer.py, custom_jinja2_enrichment_filter);
# these are the text fields whose value reads the same in both models (others, such as the
# security domain, print as Python objects there).
NOTABLE_PLACEHOLDERS: frozenset[str] = frozenset({
    "name", "description", "search", "how_to_implement", "known_false_positives", "author", "id", "date", "version",
})
