"""Each DAG end to end with `dag.test()`: ingest → build → activate for one day, as Airflow runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg2
import pytest

from cdp.activation.config import load_activations
from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
DT = "2026-11-01"


@pytest.fixture(scope="module")
def airflow_db():
    """Airflow's metadata database (SQLite in the session's AIRFLOW_HOME), migrated once."""
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def dags(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    for dag in bag.dags.values():
        for task in dag.tasks:
            task.retries = 0  # a failure here is a test failure, not something to wait out
    return bag.dags


def run_dag(dag, conf: dict):
    from airflow.utils.state import DagRunState

    run = dag.test(logical_date=datetime.fromisoformat(DT).replace(tzinfo=UTC), run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.SUCCESS, states
    return states


def scalar(url: str, sql: str):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_ingest_build_activate_chain(dags, warehouse_url, tmp_path, capsys):
    landing = tmp_path / "landing"
    generate_landing_zone(landing, customers=300, days=1, start=date.fromisoformat(DT), seed=11)

    states = run_dag(dags["cdp_ingest"], {"landing_uri": str(landing)})
    assert states["raw_gate"] == "success"
    assert all(states[f"load_{s}"] == "success" for s in ("crm_customers", "web_events", "consent_events"))
    assert scalar(warehouse_url, "select count(*) from raw.web_events") > 0
    assert scalar(warehouse_url, "select count(*) from prep.identifiers") > 0

    run_dag(dags["cdp_build"], {"dt": DT})
    assert scalar(warehouse_url, "select count(*) from profiles.profiles") > 0

    states = run_dag(dags["cdp_activate"], {"dt": DT, "dry_run": False})
    names = [a.name for a in load_activations()]
    assert states["summarize"] == "success" and all(states[f"activate_{n}"] == "success" for n in names)
    assert scalar(warehouse_url, "select count(distinct activation) from activation.sync_log") == len(names)
    manifest = Path(os.environ["CDP_HOME"]) / "exports" / "store_buyers_email_file" / f"dt={DT}" / "_manifest.json"
    assert json.loads(manifest.read_text())["dt"] == DT
    # Run by hand here (not by the audiences-ready asset): the report does not claim the gates.
    report = (Path(os.environ["CDP_HOME"]) / "reports" / f"airflow-{DT}.md").read_text()
    assert "Quality gates: not part of this run" in report

    # Nothing personal in what the tasks printed: no email address of the generated people.
    with psycopg2.connect(warehouse_url) as conn, conn.cursor() as cur:
        cur.execute("select email from profiles.profiles where email is not null limit 200")
        emails = [row[0] for row in cur.fetchall()]
    logs = capsys.readouterr()
    assert emails and not [e for e in emails if e in logs.out + logs.err]


def test_ingest_selected_sources_only(dags, warehouse_url, tmp_path):
    landing = tmp_path / "landing"
    generate_landing_zone(landing, customers=50, days=1, start=date.fromisoformat(DT), seed=3)
    states = run_dag(dags["cdp_ingest"], {"landing_uri": str(landing), "sources": ["crm_customers"]})
    assert states["load_crm_customers"] == "success"
    assert states["wait_web_events"] == "skipped" and states["load_web_events"] == "skipped"
    assert scalar(warehouse_url, "select count(*) from raw.web_events") == 0
    assert scalar(warehouse_url, "select count(*) from raw.crm_customers") > 0


def test_missing_drop_fails_the_sensor_clearly_after_the_timeout(dags, warehouse_url, tmp_path, capsys):
    from airflow.utils.state import DagRunState

    landing = tmp_path / "landing"
    partial = landing / "pos_transactions" / f"dt={DT}"
    partial.mkdir(parents=True)
    (partial / "p.csv").write_text("transaction_id,store_id,transacted_at\nT-1,S-1,2026-11-01\n")  # no _SUCCESS
    conf = {"landing_uri": str(landing), "sources": ["pos_transactions"], "drop_timeout_minutes": 0}
    run = dags["cdp_ingest"].test(logical_date=datetime.fromisoformat(DT).replace(tzinfo=UTC), run_conf=conf)
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert run.state == DagRunState.FAILED
    assert states["wait_pos_transactions"] == "failed"
    assert states["load_pos_transactions"] == "upstream_failed"
    logs = capsys.readouterr()
    assert "pos_transactions dt=2026-11-01: drop not complete after 0 minute(s) (files but no _SUCCESS marker)" in (
        logs.out + logs.err
    )
    assert scalar(warehouse_url, "select to_regclass('raw.pos_transactions')") is None
