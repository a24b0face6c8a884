"""The audience models of the dbt project: YAML meta and the conditions written in each model file.

An audience is a model in dbt_project/models/audiences named aud_*; its conditions land in the
model's meta (see dbt_project/macros/audiences/audience_members.sql). They are read from the
dbt manifest: the build's own when it is current, else a fresh `dbt parse` (no database).
"""

from __future__ import annotations

from dataclasses import dataclass

AUDIENCE_FOLDER = "models/audiences/"


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    sql: str  # a boolean over the columns of profiles.profiles; null counts as false


@dataclass(frozen=True)
class Audience:
    name: str
    description: str
    owner: str
    purpose: str  # the consent purpose of the channels it feeds
    refresh: str
    uses: tuple[str, ...]  # the profile columns it may read
    conditions: tuple[Condition, ...]  # all must hold


def columns_read(meta: dict) -> tuple[str, ...]:
    """The profile columns an audience selects on, from its model's meta (lower case, in order).

    Those its YAML says it may use (`uses`) and those its conditions read, as the
    audience_members macro found them when dbt parsed the model (`condition_columns`): the
    build fails a condition reading a column outside `uses`, but `dbt parse` does not, so
    both count.
    """
    names = [*(meta.get("uses") or ()), *(meta.get("condition_columns") or ())]
    return tuple(dict.fromkeys(str(name).lower() for name in names))


def audiences_from_manifest(manifest: dict) -> dict[str, Audience]:
    """The audience models of a dbt manifest (manifest.json as a dict), by name."""
    found = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["original_file_path"].startswith(AUDIENCE_FOLDER):
            continue
        if not node["name"].startswith("aud_"):
            continue
        meta = node["config"]["meta"]
        found[node["name"]] = Audience(
            name=node["name"],
            description=meta.get("description", ""),
            owner=meta.get("owner", ""),
            purpose=meta.get("purpose", ""),
            refresh=meta.get("refresh", ""),
            uses=tuple(meta.get("uses", ())),
            conditions=tuple(Condition(c["name"], c.get("description", ""), c["sql"]) for c in meta["conditions"]),
        )
    return dict(sorted(found.items()))


def load_audiences() -> dict[str, Audience]:
    from cdp.governance.manifest import load_manifest

    return audiences_from_manifest(load_manifest())
