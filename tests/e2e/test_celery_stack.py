"""The deployment's executor: the DAGs run on CeleryExecutor, as docker-compose.yml deploys them.

`CDP_EXECUTOR=celery make up` starts the compose file's Airflow services as local processes
(API server, scheduler, DAG processor, triggerer, a Celery worker) with a task per dbt model
(Cosmos, deferring to the triggerer). The broker is this machine's Redis when one answers on
127.0.0.1:6379 (as in the compose file), else Postgres; results go to the metadata database.
Of three sample days (the last is yesterday), the first two are loaded with `airflow backfill
create`; unpausing cdp_ingest then runs yesterday on schedule, and the asset chain builds and
activates after the loads.
"""

from __future__ import annotations

import socket

import psycopg2
import pytest
from local_stack import Stack, local_stack

pytestmark = pytest.mark.e2e
SETTLE_TIMEOUT_S = 1500


def redis_broker() -> dict[str, str]:
    """Redis on the loopback as the broker when it answers PING; the Postgres broker otherwise."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as probe:
            probe.sendall(b"PING\r\n")
            if probe.recv(16).startswith(b"+PONG"):
                return {"AIRFLOW__CELERY__BROKER_URL": "redis://127.0.0.1:6379/7"}
    except OSError:
        pass
    return {}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    settings = {
        "CDP_EXECUTOR": "celery",
        "CDP_DBT_TASKS": "models",
        "CDP_SAMPLE_CUSTOMERS": "300",
        "CDP_SAMPLE_DAYS": "3",
        **redis_broker(),
    }
    with local_stack(tmp_path_factory.mktemp("celery-stack"), **settings) as running:
        port = (running.home / "warehouse" / "port").read_text().strip()
        running.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow"
        yield running


def metadata(stack: Stack, sql: str) -> list[tuple]:
    url = stack.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def test_backfill_runs_the_chain_on_celery_workers(stack):
    assert metadata(stack, "select count(*) from dag_run") == [(0,)]  # nothing ran before the backfill
    landing = stack.home / "airflow" / "landing" / "crm_customers"
    days = sorted(p.name.removeprefix("dt=") for p in landing.glob("dt=*"))
    assert len(days) == 3, days
    for dag_id in ("cdp_build", "cdp_activate"):
        stack.unpause(dag_id)

    backfill = stack.airflow(
        "backfill", "create", "--dag-id", "cdp_ingest", "--from-date", days[0], "--to-date", days[1]
    )
    assert backfill.returncode == 0, backfill.stderr[-3000:]
    stack.unpause("cdp_ingest")  # a paused DAG's runs, backfilled or not, wait; the schedule adds yesterday

    runs = stack.wait_until_settled({"cdp_ingest": 3, "cdp_build": 1, "cdp_activate": 1}, SETTLE_TIMEOUT_S)
    broker = stack.env.get("AIRFLOW__CELERY__BROKER_URL", "Postgres (no Redis on this machine)")
    states = {"broker": broker, **{dag_id: [(r["run_type"], r["state"]) for r in rs] for dag_id, rs in runs.items()}}
    ingest = {r["logical_date"][:10]: r["run_type"] for r in runs["cdp_ingest"]}
    assert ingest == {days[0]: "backfill", days[1]: "backfill", days[2]: "scheduled"}, states
    assert all(r["state"] == "success" for rs in runs.values() for r in rs), states
    assert {r["run_type"] for dag_id in ("cdp_build", "cdp_activate") for r in runs[dag_id]} == {"asset_triggered"}

    # Every task ran through Celery: one successful Celery task per task attempt on a worker.
    (ran,) = metadata(stack, "select count(*) from task_instance where state = 'success' and dag_id <> 'cdp_build'")[0]
    (celery_successes,) = metadata(stack, "select count(*) from celery_taskmeta where status = 'SUCCESS'")[0]
    assert celery_successes >= ran > 10, (celery_successes, ran)

    # cdp_build ran a task per dbt model and its tests, through the deferring watcher sensors.
    model_tasks = metadata(
        stack,
        "select count(*), count(*) filter (where state = 'success') from task_instance"
        " where dag_id = 'cdp_build' and task_id like 'dbt.%' and (task_id like '%.run' or task_id like '%.test')",
    )[0]
    assert model_tasks[0] >= 40 and model_tasks[0] == model_tasks[1], model_tasks
