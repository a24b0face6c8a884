"""Activations declared in config/activations.yml: which audience goes where, with what, how and when."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from cdp import settings

# incremental: send adds, updates and removes; mirror: replace the destination's whole membership;
# full: deliver the whole audience each run (files).
MODES = ("incremental", "mirror", "full")
PURPOSES = ("email_marketing", "sms_marketing", "personalization", "ad_targeting")
SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
CONNECTION_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class RetryPolicy:
    """How the engine retries one batch: exponential backoff, never sooner than the destination asks."""

    attempts: int = 6
    base_seconds: float = 2.0
    max_seconds: float = 120.0
    max_wait_seconds: float = 900.0  # a destination asking for a longer pause stops the run; the next run resumes
    timeout_seconds: float = 30.0  # one request

    def delay(self, attempt: int, retry_after: float | None, jitter: float = 1.0) -> float:
        """Seconds to wait before attempt `attempt + 1`; `jitter` in [0.5, 1] spreads concurrent clients."""
        backoff = min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)) * jitter
        return max(backoff, retry_after or 0.0)


@dataclass(frozen=True)
class Activation:
    name: str
    audience: str  # an audience model in dbt_project/models/audiences
    destination: str  # destination type, e.g. file_export, webhook, meta_custom_audiences
    purpose: str  # the marketing purpose it serves: the consent every record needs
    fields: dict[str, str]  # output field -> profile attribute
    required: tuple[str, ...] = ()  # attributes a record cannot be sent without
    mode: str = "full"
    connection: str | None = None  # Airflow connection id of the destination instance
    options: dict = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)  # destination identity key -> profile attribute
    schedule: str = "daily"
    batch_size: int | None = None  # at most the destination's own limit
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def connection_id(self) -> str:
        return self.connection or f"cdp_{self.destination}"

    @property
    def pool(self) -> str:
        """The Airflow pool that bounds how many tasks hit this destination instance at once."""
        return f"destination_{self.connection_id}"

    @property
    def attributes(self) -> list[str]:
        """Every profile attribute the activation reads."""
        return sorted(set(self.fields.values()) | set(self.identities.values()) | set(self.required))

    def due(self, dt: date) -> bool:
        """Whether the schedule has this activation run for logical date `dt`."""
        kind, _, arg = self.schedule.partition(":")
        if kind == "daily":
            return True
        if kind == "weekly":
            return WEEKDAYS[dt.weekday()] == arg
        if kind == "monthly":
            return dt.day == int(arg)
        return False  # paused


def _check_schedule(name: str, schedule: str) -> str:
    kind, _, arg = schedule.partition(":")
    ok = (
        (kind in ("daily", "paused") and not arg)
        or (kind == "weekly" and arg in WEEKDAYS)
        or (kind == "monthly" and arg.isdigit() and 1 <= int(arg) <= 28)
    )
    if not ok:
        raise ValueError(f"activation {name}: schedule must be daily, weekly:<mon..sun>, monthly:<1..28> or paused")
    return schedule


def _check_keys(where: str, given, known, what: str = "key") -> None:
    """Refuse keys the file does not know: a misspelled one would otherwise be silently ignored."""
    if not isinstance(given, dict):  # a list or a bare value where keys belong: its parts are no keys
        # Its type only: the value may hold a destination's settings (an endpoint with a token in it).
        raise ValueError(f"{where}: expected {what}s ({', '.join(known)}), got a {type(given).__name__}")
    unknown = sorted(set(map(str, given)) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown {what}(s) {', '.join(unknown)}; known: {', '.join(known)}")


def _mapping(name: str, entry: dict, key: str) -> dict[str, str]:
    mapping = {str(k): str(v) for k, v in (entry.get(key) or {}).items()}
    for attribute in mapping.values():
        if not SAFE_NAME.match(attribute):
            raise ValueError(f"activation {name}: attribute {attribute!r} is not a column name")
    return mapping


def parse_activation(entry: dict) -> Activation:
    from cdp.activation.destinations import destination_for

    name = entry.get("name", "?") if isinstance(entry, dict) else "?"
    _check_keys(f"activation {name}", entry, Activation.__dataclass_fields__)
    missing = [k for k in ("name", "audience", "destination", "purpose") if not entry.get(k)]
    if not entry.get("fields") and not entry.get("identities"):
        missing.append("fields or identities")
    if missing:
        raise ValueError(f"activation {name}: missing {', '.join(missing)}")
    for key in ("name", "audience"):
        if not SAFE_NAME.match(entry[key]):
            raise ValueError(f"activation {name}: {key} must be lower_snake_case, got {entry[key]!r}")
    if entry["purpose"] not in PURPOSES:
        raise ValueError(f"activation {name}: purpose must be one of {', '.join(PURPOSES)}")
    mode = entry.get("mode", "full")
    if mode not in MODES:
        raise ValueError(f"activation {name}: mode must be one of {', '.join(MODES)}")
    connection = entry.get("connection")
    if connection is not None and not CONNECTION_ID.match(str(connection)):
        raise ValueError(f"activation {name}: connection {connection!r} is not an Airflow connection id")
    retry = dict(entry.get("retry") or {})
    _check_keys(f"activation {name}", retry, RetryPolicy.__dataclass_fields__, "retry setting")
    batch_size = entry.get("batch_size")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"activation {name}: batch_size must be a positive integer")
    activation = Activation(
        name=entry["name"],
        audience=entry["audience"],
        destination=entry["destination"],
        purpose=entry["purpose"],
        fields=_mapping(name, entry, "fields"),
        required=tuple(entry.get("required", ())),
        mode=mode,
        connection=connection,
        options=dict(entry.get("options", {})),
        identities=_mapping(name, entry, "identities"),
        schedule=_check_schedule(name, str(entry.get("schedule", "daily"))),
        batch_size=batch_size,
        retry=RetryPolicy(**retry),
    )
    destination = destination_for(activation.destination)
    if mode not in destination.modes:
        raise ValueError(f"activation {name}: {destination.type_name} supports modes {', '.join(destination.modes)}")
    if activation.purpose not in destination.purposes:
        raise ValueError(f"activation {name}: {destination.type_name} may serve only {', '.join(destination.purposes)}")
    errors = destination.check(activation)
    if errors:
        raise ValueError(f"activation {name}: {'; '.join(errors)}")
    return activation


def load_activations(path: Path | None = None) -> list[Activation]:
    path = path or settings.activations_file()
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    _check_keys(str(path), document, ("activations",))  # a misspelled `activations:` would read as none
    activations = [parse_activation(entry) for entry in document.get("activations", [])]
    names = [a.name for a in activations]
    if len(names) != len(set(names)):
        raise ValueError("activation names must be unique")
    return activations


class UnknownActivation(ValueError):
    """No activation of that name in the activations file."""


def find_activation(name: str, path: Path | None = None) -> Activation:
    activations = load_activations(path)
    activation = next((a for a in activations if a.name == name), None)
    if activation is None:
        known = ", ".join(a.name for a in activations)
        raise UnknownActivation(f"no activation named {name!r} in the activations file; activations: {known}")
    return activation
