"""Activations declared in config/activations.yml: which audience goes where, with what."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cdp import settings

MODES = ("full",)  # incremental and mirror modes arrive with the API destinations
PURPOSES = ("email_marketing", "sms_marketing", "personalization", "ad_targeting")
SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Activation:
    name: str
    audience: str  # an audience model in dbt_project/models/audiences
    destination: str  # destination type, e.g. file_export
    purpose: str  # the consent purpose every record needs
    fields: dict[str, str]  # output field -> profile attribute
    required: tuple[str, ...] = ()  # attributes a record cannot be sent without
    mode: str = "full"
    connection: str | None = None  # Airflow connection id of the destination instance
    options: dict = field(default_factory=dict)


def _check(entry: dict) -> Activation:
    name = entry.get("name", "?")
    missing = [k for k in ("name", "audience", "destination", "purpose", "fields") if not entry.get(k)]
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
    fields = {str(k): str(v) for k, v in entry["fields"].items()}
    for attribute in fields.values():
        if not SAFE_NAME.match(attribute):
            raise ValueError(f"activation {name}: attribute {attribute!r} is not a column name")
    return Activation(
        name=entry["name"],
        audience=entry["audience"],
        destination=entry["destination"],
        purpose=entry["purpose"],
        fields=fields,
        required=tuple(entry.get("required", ())),
        mode=mode,
        connection=entry.get("connection"),
        options=dict(entry.get("options", {})),
    )


def load_activations(path: Path | None = None) -> list[Activation]:
    with open(path or settings.activations_file(), encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    activations = [_check(entry) for entry in document.get("activations", [])]
    names = [a.name for a in activations]
    if len(names) != len(set(names)):
        raise ValueError("activation names must be unique")
    return activations
