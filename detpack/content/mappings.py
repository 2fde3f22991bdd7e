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

# Older schema: tags.observable[].type -> risk object type (ES accepts system, user, other).
OBSERVABLE_RISK_TYPES: dict[str, str] = {
    "hostname": "system",
    "endpoint": "system",
    "ip address": "system",
    "mac address": "system",
    "system": "system",
    "user": "user",
    "user name": "user",
    "username": "user",
    "email address": "user",
}

# Older schema: observable roles that make the observable a risk object; the others are threat objects.
RISK_ROLES: frozenset[str] = frozenset({"victim"})

# Older schema: tags.observable[].type -> threat object type.
OBSERVABLE_THREAT_TYPES: dict[str, str] = {
    "process": "process",
    "process name": "process_name",
    "file": "file_name",
    "file name": "file_name",
    "file hash": "file_hash",
    "url": "url",
    "url string": "url",
    "domain": "domain",
    "ip address": "ip_address",
    "registry key": "registry_path",
    "command": "command",
    "email address": "email_address",
}

# Detection type -> ES 8 correlation search detection_type.
DETECTION_TYPE = {"TTP": "ebd", "Anomaly": "ebd", "Hunting": "ebd", "Correlation": "ebd"}

# Schedule of a shipped correlation search (hourly, over a closed window that tolerates indexing lag).
SCHEDULE: dict[str, str] = {
    "cron_schedule": "0 * * * *",
    "dispatch.earliest_time": "-70m@m",
    "dispatch.latest_time": "-10m@m",
    "schedule_window": "auto",
    "allow_skew": "100%",
}

# Macros that come with the Common Information Model app rather than from the pack.
CIM_MACROS: frozenset[str] = frozenset({
    "drop_dm_object_name(1)", "cim_Endpoint_indexes", "get_asset(1)", "get_identity4events(1)",
})

# Token names that Enterprise Security itself fills in drilldowns; they are not result fields.
ES_TOKENS: frozenset[str] = frozenset({"info_min_time", "info_max_time"})


def severity(score: int) -> str:
    return next(name for bound, name in SEVERITY_BANDS if score <= bound)
