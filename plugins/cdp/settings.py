"""Where the project keeps things, from the environment with local defaults.

Every path and switch the platform reads lives here, so a reader finds them in one place.
"""

from __future__ import annotations

import os
from pathlib import Path

# plugins/cdp/settings.py -> the repository root (the package is installed editable).
PROJECT_ROOT = Path(os.environ.get("CDP_PROJECT_DIR", Path(__file__).resolve().parents[2]))

# Telemetry stays off: nothing here reaches any network beyond the package registries.
QUIET_TELEMETRY = {
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "DO_NOT_TRACK": "1",
}
for _name, _value in QUIET_TELEMETRY.items():
    os.environ.setdefault(_name, _value)


def state_dir() -> Path:
    """Project-local, git-ignored folder for the embedded warehouse, exports and reports."""
    return Path(os.environ.get("CDP_HOME", PROJECT_ROOT / ".cdp"))


def dbt_project_dir() -> Path:
    return Path(os.environ.get("CDP_DBT_PROJECT_DIR", PROJECT_ROOT / "dbt_project"))


def dbt_tasks() -> str:
    """How cdp_build shows dbt: 'build' (one task, the default: the fastest) or 'models' (a task per model)."""
    return os.environ.get("CDP_DBT_TASKS", "build")


def dbt_manifest_path() -> Path:
    """The manifest Airflow renders the dbt tasks from: written by `dbt parse` at install time, never committed."""
    return Path(os.environ.get("CDP_DBT_MANIFEST", dbt_project_dir() / "target" / "airflow" / "manifest.json"))


def expectations_dir() -> Path:
    return Path(os.environ.get("CDP_EXPECTATIONS_DIR", PROJECT_ROOT / "expectations"))


def activations_file() -> Path:
    return Path(os.environ.get("CDP_ACTIVATIONS_FILE", PROJECT_ROOT / "config" / "activations.yml"))


def identity_rules_file() -> Path:
    return Path(os.environ.get("CDP_IDENTITY_RULES_FILE", PROJECT_ROOT / "config" / "identity_rules.yml"))


def policies_file() -> Path:
    """Data labels, marketing actions and the governance and consent policies."""
    return Path(os.environ.get("CDP_POLICIES_FILE", PROJECT_ROOT / "config" / "policies.yml"))


def exports_uri() -> str:
    """Where the file-export destination writes when no connection overrides it."""
    return os.environ.get("CDP_EXPORTS_URI", str(state_dir() / "exports"))


def data_docs_dir() -> Path:
    """The quality gates' Data Docs site (index.html at its root)."""
    return state_dir() / "data_docs"


def reports_dir() -> Path:
    return Path(os.environ.get("CDP_REPORTS_DIR", state_dir() / "reports"))
