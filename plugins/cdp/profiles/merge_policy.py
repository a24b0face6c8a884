"""The merge policy file (config/merge_policy.yml): which record gives each profile attribute.

The file is the one source of truth. Every dbt invocation gets it as var `merge_policy`
(cdp.transform.dbt_args); dbt checks it against what each source carries
(macros/profiles/profile_merge_policy.sql) and fails the build with the reason when it does not
fit, so the rules live in one place.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from cdp import settings


def load_merge_policy(path: Path | None = None) -> dict:
    """The policy as a plain mapping ({'placeholders': [...], 'attributes': {...}})."""
    path = path or settings.merge_policy_file()
    with open(path, encoding="utf-8") as fh:
        document = yaml.safe_load(fh) or {}
    if not isinstance(document, dict) or not isinstance(document.get("attributes"), dict):
        raise ValueError(f"{path}: expected a mapping with an 'attributes' mapping")
    return document
