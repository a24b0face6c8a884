"""dbt models as Airflow tasks: Cosmos renders cdp_build's dbt task group from the dbt manifest.

The manifest is written by `dbt parse` (`make install`, `make up`, the image build) and is never
committed. Parsing the DAG then reads one JSON file: no dbt invocation and no warehouse. When the
manifest is missing or older than the dbt project's files, cdp_build falls back to its single
`dbt_build` task, so a stale graph never runs.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cdp import settings

# What `dbt parse` reads: a change to any of these makes the manifest stale.
MANIFEST_INPUTS = ("dbt_project.yml", "models", "macros", "tests")
# dbt's profile needs values to load even though `dbt parse` never connects.
PARSE_ONLY_PROFILE = {
    "CDP_PG_HOST": "127.0.0.1",
    "CDP_PG_PORT": "5432",
    "CDP_PG_USER": "parse_only",
    "CDP_PG_DBNAME": "parse_only",
}


def manifest_state(manifest: Path | None = None) -> str:
    """'current', 'missing', or 'stale' (a dbt project file changed after the manifest was written)."""
    manifest = manifest or settings.dbt_manifest_path()
    if not manifest.is_file():
        return "missing"
    written = manifest.stat().st_mtime
    project = settings.dbt_project_dir()
    for name in MANIFEST_INPUTS:
        path = project / name
        files = path.rglob("*") if path.is_dir() else [path]
        if any(f.is_file() and f.stat().st_mtime > written for f in files):
            return "stale"
    return "current"


@contextlib.contextmanager
def _environment(values: dict[str, str]):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def write_manifest(manifest: Path | None = None) -> Path:
    """`dbt parse` into the manifest's folder; raises when the dbt project does not parse."""
    from dbt.cli.main import dbtRunner

    manifest = manifest or settings.dbt_manifest_path()
    project = str(settings.dbt_project_dir())
    args = ["parse", "--project-dir", project, "--profiles-dir", project, "--target-path", str(manifest.parent)]
    with _environment(PARSE_ONLY_PROFILE):
        result = dbtRunner().invoke([*args, "--log-level", "warn"])
    if not result.success or not manifest.is_file():
        raise RuntimeError(f"dbt parse failed: {result.exception or 'see dbt_project/logs/dbt.log'}")
    return manifest


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
