"""cdp_build with a task per dbt model (Cosmos watcher mode), run with `dag.test()` on a loaded day."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg2
import pytest

from cdp.contracts import SOURCES
from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.e2e
DT = date(2026, 11, 1)


def test_every_model_task_and_its_tests_succeed_and_the_warehouse_is_built(warehouse_url, tmp_path, monkeypatch):
    from airflow.utils.state import DagRunState
    from cosmos.operators._watcher.base import BaseConsumerSensor

    from cdp.dbt_tasks import write_manifest
    from cdp.orchestration import build_dag
    from cdp.pipeline import ingest_source, prepare_identifiers

    subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True)
    landing = tmp_path / "landing"
    generate_landing_zone(landing, customers=200, days=1, start=DT, seed=5)
    for source in SOURCES:
        ingest_source(str(landing), source, DT)
    prepare_identifiers(DT)

    monkeypatch.setenv("CDP_DBT_TASKS", "models")
    monkeypatch.setenv("CDP_DBT_MANIFEST", str(write_manifest(tmp_path / "dbt" / "manifest.json")))
    dag = build_dag()
    for task in dag.tasks:
        task.retries = 0
        # dag.test() runs the ready tasks in no fixed order, and a deferred task's trigger inline to
        # its end: a model's sensor run before the producer would wait for it forever. Rescheduling
        # instead hands the turn back, so the producer runs in between (the UI's runs keep deferring).
        if isinstance(task, BaseConsumerSensor):
            task.deferrable, task.mode, task.poke_interval = False, "reschedule", 1
    run = dag.test(logical_date=datetime(2026, 11, 1, tzinfo=UTC), run_conf={"dt": DT.isoformat()})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}

    assert run.state == DagRunState.SUCCESS, {t: s for t, s in states.items() if s != "success"}
    model_tasks = [t for t in states if t.startswith("dbt.") and t.endswith((".run", ".test"))]
    assert len(model_tasks) > 20 and all(states[t] == "success" for t in model_tasks)
    assert states["dbt.dbt_producer_watcher"] == "success" and states["outputs_gate"] == "success"
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select count(*) from profiles.profiles")
        assert cur.fetchone()[0] > 0
