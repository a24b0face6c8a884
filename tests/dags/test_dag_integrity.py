"""Every DAG imports without errors and follows the policy; parsing leaves task libraries to tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_dag_files_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(DAG_FILES) == 3
    assert {Path(f).stem for f in DAG_FILES} == set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda p: p.stem)
def test_dag_follows_policy(dagbag, dag_file):
    dag = dagbag.dags.get(dag_file.stem)  # the file name is the dag_id
    assert dag is not None
    assert dag.doc_md and "Triage" in dag.doc_md
    assert dag.tags and "cdp" in dag.tags
    assert not dag.catchup
    for name, param in dag.params.items():  # typed, so the trigger form validates what people enter
        assert param.schema.get("type") and param.description, name
    for task in dag.tasks:
        assert task.owner and task.owner != "airflow", task.task_id
        assert task.retries >= 1 or task.task_id.endswith("gate"), task.task_id
        assert task.execution_timeout is not None, task.task_id


def test_assets_chain_ingest_to_build_to_activate(dagbag):
    ingest, build, activate = (dagbag.dags[d] for d in ("cdp_ingest", "cdp_build", "cdp_activate"))
    produced_by_ingest = {a.name for t in ingest.tasks for a in t.outlets}
    produced_by_build = {a.name for t in build.tasks for a in t.outlets}
    assert "cdp_raw_data_ready" in produced_by_ingest
    assert "cdp_audiences_ready" in produced_by_build
    assert {a.name for a in build.timetable.asset_condition.objects} == {"cdp_raw_data_ready"}
    assert {a.name for a in activate.timetable.asset_condition.objects} == {"cdp_audiences_ready"}


def test_ingest_has_a_wait_and_load_task_per_source(dagbag):
    from cdp.contracts import SOURCES

    task_ids = set(dagbag.dags["cdp_ingest"].task_ids)
    for source in SOURCES:
        assert {f"wait_{source}", f"load_{source}"} <= task_ids


# Libraries that only tasks use. The scheduler parses these files constantly, so none of them may
# be imported at parse time (how long a parse takes is measured in `make bench`, not here).
TASK_LIBRARIES = (
    "agate",
    "boto3",
    "botocore",
    "cdp.activation.engine",
    "cdp.ingest.loader",
    "cdp.pipeline",
    "cdp.quality.gates",
    "dbt.cli",
    "great_expectations",
    "numpy",
    "pandas",
    "phonenumbers",
    "psycopg2",
    "scipy",
)


@pytest.mark.parametrize("dbt_tasks", ["build", "models"])
def test_dag_files_leave_task_libraries_to_tasks(dbt_tasks):
    """Parsing the DAG files, with cdp_build as one dbt task and as a task per model (Cosmos,
    rendered from the manifest), imports none of the task-time libraries."""
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, runpy, sys\n"
        f"parsed = [runpy.run_path(f) for f in {[str(f) for f in DAG_FILES]!r}]\n"
        "from airflow.sdk import DAG\n"
        "build_tasks = next(len(d.tasks) for g in parsed for d in g.values()"
        " if isinstance(d, DAG) and d.dag_id == 'cdp_build')\n"
        f"loaded = sorted(m for m in {list(TASK_LIBRARIES)!r} if m in sys.modules)\n"
        "print(json.dumps({'build_tasks': build_tasks, 'loaded': loaded}))"
    )
    env = {**os.environ, "CDP_DBT_TASKS": dbt_tasks}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300, env=env)
    parsed = json.loads(out.stdout.strip().splitlines()[-1])
    # The mode really rendered: a task per model and its tests, or the one build task and its gate.
    assert (parsed["build_tasks"] > 40) == (dbt_tasks == "models"), parsed
    assert parsed["loaded"] == [], f"imported at parse time: {parsed['loaded']}"


@pytest.mark.parametrize(
    ("name", "value", "refusal"),
    [
        ("sources", [], "should be non-empty"),
        ("sources", ["crm_customer"], "is not one of"),
        ("sources", ["web_events", "web_events"], "non-unique"),
        ("dt", "2026-13-01", "is not a 'date'"),
        ("dt", "yesterday", "is not a 'date'"),
    ],
)
def test_a_manual_ingest_run_refuses_params_that_would_load_nothing_or_fail_in_every_task(dagbag, name, value, refusal):
    from airflow.sdk.exceptions import ParamValidationError

    param = dagbag.dags["cdp_ingest"].params.get_param(name)
    with pytest.raises(ParamValidationError, match=refusal):
        param.resolve(value)
    param.resolve(None if name == "dt" else ["web_events"])  # what a run may give
