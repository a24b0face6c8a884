"""The `cdp run` command end to end on generated data: summary, exports, idempotency, a failing gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.e2e
START = date(2026, 11, 1)
OUTPUT_SCHEMAS = ("raw", "ingest", "prep", "staging", "identity", "profiles", "audiences", "activation", "quality")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    generate_landing_zone(root, customers=400, days=2, start=START, seed=7)
    return root


def cdp(*args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "cdp"
    return subprocess.run([str(cli), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=900)


def snapshot(url: str) -> dict[str, tuple[str, int]]:
    """md5 and row count of every table downstream users or the pipeline keep."""
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema = any(%s) and table_type = 'BASE TABLE' order by 1, 2",
            (list(OUTPUT_SCHEMAS),),
        )
        result = {}
        for schema, table in cur.fetchall():
            cur.execute(
                f"select md5(coalesce(string_agg(r::text, '|' order by r::text), '')), count(*)"
                f' from "{schema}"."{table}" r'
            )
            result[f"{schema}.{table}"] = cur.fetchone()
    return result


def scalar(url: str, sql: str):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchone()[0]


def test_run_prints_summary_exports_and_is_idempotent(warehouse_url, landing, tmp_path):
    first = cdp("run", "--landing", str(landing), "--start", "2026-11-01", "--end", "2026-11-02")
    assert first.returncode == 0, first.stdout + first.stderr
    out = first.stdout
    for heading in ("Ingest (rows per source)", "Identity and profiles", "Audiences", "Activation", "Quality gates"):
        assert heading in out
    assert "Result: all stages succeeded" in out
    assert "raw_ingest: passed" in out and "warehouse_outputs: passed" in out

    # Non-zero counts in every stage, read back from the warehouse rather than the text.
    assert scalar(warehouse_url, "select count(*) from raw.crm_customers") > 400
    assert scalar(warehouse_url, "select count(*) from ingest.quarantined_rows") > 0
    assert scalar(warehouse_url, "select count(*) from profiles.profiles") > 300
    assert scalar(warehouse_url, "select count(*) from audiences.aud_recent_store_buyers_email") > 0
    assert scalar(warehouse_url, "select count(*) from activation.sync_log where outcome = 'sent'") > 0
    assert scalar(warehouse_url, "select count(*) from activation.sync_log where outcome = 'withheld'") > 0

    # The file export holds exactly the consented members, with a manifest written last.
    exports = Path(os.environ["CDP_HOME"]) / "exports" / "store_buyers_email_file" / "dt=2026-11-02"
    manifest = json.loads((exports / "_manifest.json").read_text())
    exported = (exports / "part-00000.csv").read_text().splitlines()
    assert manifest["rows"] == len(exported) - 1 > 0
    consented = scalar(
        warehouse_url,
        "select count(*) from audiences.aud_recent_store_buyers_email a join profiles.consent c"
        " using (profile_id) join profiles.profiles p using (profile_id)"
        " where c.purpose = 'email_marketing' and c.status = 'granted' and p.email is not null",
    )
    assert manifest["rows"] == consented

    before = snapshot(warehouse_url)
    second = cdp("run", "--landing", str(landing), "--start", "2026-11-01", "--end", "2026-11-02")
    assert second.returncode == 0, second.stdout + second.stderr
    assert snapshot(warehouse_url) == before
    assert "not re-sent (destination holds a newer date): 2026-11-01" in second.stdout


def test_dry_run_plans_without_sending(warehouse_url, landing):
    result = cdp("run", "--landing", str(landing), "--start", "2026-11-01", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert scalar(warehouse_url, "select count(*) from activation.sync_log") == 0
    assert scalar(warehouse_url, "select count(*) from activation.destination_state") == 0
    assert "DRY RUN" in result.stdout + result.stderr


def test_broken_drop_fails_the_raw_gate_and_nothing_is_activated(warehouse_url, tmp_path):
    drop = tmp_path / "crm_customers" / "dt=2026-11-01"
    drop.mkdir(parents=True)
    rows = [f"C-{i},a{i}@b.com,2026-11-01T10:00:00Z" for i in range(20)]
    rows += [f"C-{i},b{i}@b.com,yesterday" for i in range(20, 60)]  # two thirds break the contract
    (drop / "crm.csv").write_text("customer_id,email,updated_at\n" + "\n".join(rows) + "\n")
    (drop / "_SUCCESS").touch()
    result = cdp("run", "--landing", str(tmp_path), "--start", "2026-11-01")
    assert result.returncode == 1
    assert "raw_ingest: FAILED" in result.stdout
    assert "no drop has more than the allowed share of its rows quarantined" in result.stdout
    assert "gate raw_ingest failed: activation skipped" in result.stdout
    assert scalar(warehouse_url, "select count(*) from raw.crm_customers") == 20
    assert scalar(warehouse_url, "select to_regclass('activation.sync_log')") is None
    for value in ("a1@b.com", "b21@b.com"):  # no PII in what the run prints
        assert value not in result.stdout + result.stderr


def test_incomplete_drop_fails_clearly(warehouse_url, tmp_path):
    drop = tmp_path / "loyalty_members" / "dt=2026-11-01"
    drop.mkdir(parents=True)
    (drop / "l.csv").write_text("loyalty_id,updated_at\nL-1,2026-11-01\n")
    result = cdp("run", "--landing", str(tmp_path), "--start", "2026-11-01")
    assert result.returncode == 3
    assert "loyalty_members dt=2026-11-01" in result.stderr and "_SUCCESS" in result.stderr
