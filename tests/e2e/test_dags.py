"""Each DAG end to end with `dag.test()`: ingest → build → activate for one day, as Airflow runs them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg2
import pytest
import yaml

from cdp import settings
from cdp.activation.config import load_activations
from cdp.contracts import SOURCES
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


def day_report() -> str:
    """The day's report the DAGs wrote last."""
    return (Path(os.environ["CDP_HOME"]) / "reports" / f"airflow-{DT}.md").read_text()


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
    # The day's report: the gates' recorded outcomes for the date, each activation's destination.
    report = day_report()
    assert "raw_ingest: passed" in report and "warehouse_outputs: passed" in report
    assert re.search(r"store_buyers_email_file\s+file_export \(\w+\)", report)
    assert "Result: all stages succeeded" in report

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


def failed_run(dag, conf: dict):
    """A run expected to fail: its state and each task's (state, try number)."""
    from airflow.utils.state import DagRunState

    run = dag.test(logical_date=datetime.fromisoformat(DT).replace(tzinfo=UTC), run_conf=conf)
    assert run.state == DagRunState.FAILED
    return {ti.task_id: (ti.state, ti.try_number) for ti in run.get_task_instances()}


def raw_ready_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        query = select(func.count()).select_from(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return session.scalar(query.where(AssetModel.name == "cdp_raw_data_ready"))


def test_a_broken_drop_stops_the_chain_at_the_raw_gate_without_retry(dags, warehouse_url, tmp_path):
    landing = tmp_path / "landing"
    generate_landing_zone(landing, customers=100, days=1, start=date.fromisoformat(DT), seed=4)
    crm = next((landing / "crm_customers" / f"dt={DT}").glob("*.csv*"))
    crm.unlink()  # the CRM extract arrives with unreadable timestamps: every row is quarantined
    (crm.parent / "crm.csv").write_text("customer_id,updated_at\n" + "".join(f"C-{i},yesterday\n" for i in range(50)))
    gate = dags["cdp_ingest"].get_task("raw_gate")
    retries, gate.retries = gate.retries, 2  # a failed gate must not be retried all the same
    events_before = raw_ready_events()
    try:
        # Every source named: dag.test() on the shared DAG object keeps an earlier test's `sources`.
        states = failed_run(dags["cdp_ingest"], {"landing_uri": str(landing), "sources": list(SOURCES)})
    finally:
        gate.retries = retries
    assert states["raw_gate"] == ("failed", 1) and states["report_if_stopped"][0] == "failed"
    assert raw_ready_events() == events_before  # cdp_build is not started
    report = day_report()
    assert "raw_ingest: FAILED" in report and "Result: FAILED — cdp_ingest stopped: raw_gate" in report
    assert "not run: the chain stopped before activation" in report


def test_a_blocked_activation_fails_the_activation_run(dags, warehouse_url, tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    generate_landing_zone(landing, customers=100, days=1, start=date.fromisoformat(DT), seed=6)
    run_dag(dags["cdp_ingest"], {"landing_uri": str(landing), "sources": list(SOURCES)})
    run_dag(dags["cdp_build"], {"dt": DT})
    policies = yaml.safe_load(settings.policies_file().read_text())
    policies["policies"].append(
        {
            "name": "no_direct_identifiers_leave",
            "description": "stay in.",
            "deny": ["third_party_export"],
            "when_any": ["I1"],
        }
    )
    (tmp_path / "policies.yml").write_text(yaml.safe_dump(policies))
    monkeypatch.setenv("CDP_POLICIES_FILE", str(tmp_path / "policies.yml"))

    states = failed_run(dags["cdp_activate"], {"dt": DT, "dry_run": False})
    blocked = sorted(task for task, (state, _) in states.items() if task.startswith("activate_") and state == "failed")
    assert blocked and all(states[task][1] == 1 for task in blocked)  # no retry of a policy violation
    assert states["summarize"][0] == "failed"
    report = day_report()
    assert "Result: FAILED — activation not finished: " + blocked[0].removeprefix("activate_") in report
