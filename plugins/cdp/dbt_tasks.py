"""dbt models as Airflow tasks: Cosmos renders cdp_build's dbt task group from the dbt manifest.

Opt-in (`CDP_DBT_TASKS=models`): by default cdp_build runs one `dbt build` task, several times
faster on the demo data (the README has the measurement). The manifest is written by `dbt parse`
(`make install`, `make up`, the image build) and is never committed. Parsing the DAG then reads one
JSON file: no dbt invocation and no warehouse. When the manifest is missing or older than the dbt
project's files, cdp_build falls back to its single `dbt_build` task, so a stale graph never runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cdp import settings


def manifest_state(manifest: Path | None = None) -> str:
    """'current', 'missing', or 'stale' (a model, macro or the project file changed after it was written)."""
    from cdp.governance.manifest import is_current

    manifest = manifest or settings.dbt_manifest_path()
    if not manifest.is_file():
        return "missing"
    return "current" if is_current(manifest) else "stale"


def write_manifest(manifest: Path | None = None) -> Path:
    """`dbt parse` of the project, written where Airflow reads it; raises when the project does not parse."""
    from cdp.governance.manifest import parse_manifest

    manifest = manifest or settings.dbt_manifest_path()
    manifest.parent.mkdir(parents=True, exist_ok=True)
    partial = manifest.with_suffix(".partial")
    partial.write_text(json.dumps(parse_manifest()), encoding="utf-8")
    partial.replace(manifest)  # atomic: a DAG processor parsing now reads the old file or the new one
    return manifest


def per_model_tasks() -> tuple[bool, str]:
    """Whether cdp_build renders a task per model, and why (the DAG's doc says it)."""
    if settings.dbt_tasks() != "models":
        return False, "the default: one `dbt build` is several times faster than a task per model, see the README"
    state = manifest_state()
    if state != "current":
        return False, f"CDP_DBT_TASKS=models, but the manifest is {state}"
    return True, "CDP_DBT_TASKS=models"


def export_warehouse_env(context) -> None:
    """Before a dbt task runs: the profile's CDP_PG_* variables from the warehouse the platform resolves.

    The same resolution as `cdp run` (WAREHOUSE_URL, then the `warehouse` connection, then the
    embedded warehouse); the values stay in the task's process, never in XCom or rendered fields.
    """
    from cdp.transform import dbt_env

    os.environ.update(dbt_env())


def dbt_task_group(run_date: str, group_id: str = "dbt"):
    """One task per model with the model's tests after it, all driven by a single `dbt build`.

    Cosmos's watcher mode: a producer task runs `dbt build` once for the whole project and each
    model's task (a deferrable sensor) turns green or red as dbt reports that model and its tests.
    """
    from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    project = settings.dbt_project_dir()
    manifest = settings.dbt_manifest_path()
    project_config = ProjectConfig(dbt_project_path=project, manifest_path=manifest, install_dbt_deps=False)
    # A local file: read it directly, without the object-storage layer (its provider discovery
    # costs about a second of every parse).
    project_config.manifest_path = manifest
    return DbtTaskGroup(
        group_id=group_id,
        project_config=project_config,
        profile_config=ProfileConfig(
            profile_name="cdp", target_name="warehouse", profiles_yml_filepath=project / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST, test_behavior=TestBehavior.AFTER_EACH),
        operator_args={
            "vars": {"run_date": run_date},
            "pre_execute": export_warehouse_env,
            # Per-model assets would carry the warehouse's host and port; the platform's assets
            # (raw data ready, audiences ready) are the ones the DAGs schedule on.
            "emit_datasets": False,
        },
    )
