"""Running the dbt project against the warehouse: one `dbt build` per logical date.

dbt reads its connection from environment variables (dbt_project/profiles.yml holds no
credentials); they are derived here from the resolved warehouse URL.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from cdp import settings
from cdp.warehouse import resolve_url, url_parts

log = logging.getLogger(__name__)


class BuildFailed(Exception):
    """A model or a test failed: nothing downstream should use this build."""


@dataclass
class BuildResult:
    models: int = 0
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    rows_by_model: dict[str, int] = field(default_factory=dict)


def dbt_env(url: str | None = None) -> dict[str, str]:
    parts = url_parts(url or resolve_url())
    return {f"CDP_PG_{key.upper()}": value for key, value in parts.items()}


def dbt_args(
    command: str, run_date: str | None = None, select: str | None = None, dbt_vars: dict | None = None
) -> list[str]:
    project = str(settings.dbt_project_dir())
    args = [command, "--project-dir", project, "--profiles-dir", project]
    dbt_vars = {**({"run_date": run_date} if run_date else {}), **(dbt_vars or {})}
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if select:
        args += ["--select", select]
    return args


def run_dbt(
    command: str,
    run_date: str | None = None,
    select: str | None = None,
    quiet: bool = True,
    dbt_vars: dict | None = None,
):
    """Invoke dbt in-process; returns dbt's result object. Raises BuildFailed on any error."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env())
    args = dbt_args(command, run_date, select, dbt_vars)
    if quiet:
        args += ["--log-level", "warn"]
    result = dbtRunner().invoke(args)
    if result.exception is not None:
        raise BuildFailed(f"dbt {command} could not run: {result.exception}")
    return result


def build(run_date: str, select: str | None = None, quiet: bool = True, dbt_vars: dict | None = None) -> BuildResult:
    """`dbt build` for one logical date: models, then the tests after each model. `dbt_vars` adds
    project vars (e.g. {"identity_full_rebuild": True})."""
    result = run_dbt("build", run_date, select, quiet, dbt_vars)
    summary = BuildResult()
    for node_result in result.result or []:
        node = node_result.node
        status = str(node_result.status)
        if node.resource_type == "model":
            summary.models += 1
            rows = (node_result.adapter_response or {}).get("rows_affected")
            if isinstance(rows, int) and rows >= 0:
                summary.rows_by_model[node.name] = rows
        elif node.resource_type in ("test", "unit_test"):
            summary.tests += 1
        if status in ("error", "fail", "runtime error"):
            summary.failures.append(f"{node.resource_type} {node.name}: {status}")
    if summary.failures or not result.success:
        raise BuildFailed("dbt build failed: " + "; ".join(summary.failures or ["see the dbt log"]))
    log.info("dbt build: %s models, %s tests passed", summary.models, summary.tests)
    return summary
