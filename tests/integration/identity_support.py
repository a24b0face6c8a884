"""Helpers shared by the identity stitching integration tests (not a test module)."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator, Sequence

import numpy as np
import psycopg2
import pytest

from cdp.transform import dbt_args, dbt_env


@contextlib.contextmanager
def private_database(embedded_server, state_dir) -> Iterator[str]:
    """A new database on the session's embedded server, with WAREHOUSE_URL and dbt's
    environment pointing at it until the block ends; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    _admin(embedded_server, f'create database "{name}"')
    url = embedded_server.url(name)
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WAREHOUSE_URL", url)
            mp.setenv("CDP_HOME", str(state_dir))
            for key, value in dbt_env(url).items():  # run_dbt writes these; restored afterwards
                mp.setenv(key, value)
            yield url
    finally:
        _admin(embedded_server, f'drop database if exists "{name}" with (force)')


def _admin(embedded_server, statement: str) -> None:
    """One statement on the server's maintenance database, on a connection of its own."""
    admin = psycopg2.connect(embedded_server.url("postgres"))
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(statement)
    finally:
        admin.close()


def copy_columns(conn, table: str, columns: dict[str, np.ndarray | Sequence]) -> None:
    """Create `table` (all bigint columns) and COPY the columns into it; None/NaN-free ints, or None for null."""
    names = list(columns)
    with conn.cursor() as cur:
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"create table {table} ({', '.join(n + ' bigint' for n in names)})")
        buffer = io.StringIO()
        rows = zip(*(columns[n] for n in names), strict=True)
        buffer.writelines("\t".join("\\N" if v is None else str(int(v)) for v in row) + "\n" for row in rows)
        buffer.seek(0)
        cur.copy_expert(f"copy {table} ({', '.join(names)}) from stdin", buffer)
    conn.commit()


def run_operation(macro: str, args: dict) -> None:
    """`dbt run-operation macro --args ...` in process; fails the test on any error."""
    from dbt.cli.main import dbtRunner

    result = dbtRunner().invoke(dbt_args("run-operation") + [macro, "--args", json.dumps(args), "--log-level", "warn"])
    assert result.exception is None, result.exception
    assert result.success, f"dbt run-operation {macro} failed"


def _read(conn, sql: str, params: tuple | dict = ()) -> list[tuple]:
    """Rows of a query; ends the read's transaction, which would otherwise hold locks that
    block dbt's table swaps."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        result = cur.fetchall()
    if not conn.autocommit:
        conn.commit()
    return result


def fetch_map(conn, sql: str) -> dict[int, int]:
    return dict(_read(conn, sql))


def canonical_partition(labels: dict) -> set[frozenset]:
    """The partition a node -> label mapping describes, independent of the labels' names."""
    groups: dict = {}
    for node, label in labels.items():
        groups.setdefault(label, set()).add(node)
    return {frozenset(g) for g in groups.values()}


def insert_raw(conn, source: str, rows: list[dict], dt: str) -> None:
    """Rows into raw.<source> as if landed in the drop of `dt` (lineage columns filled)."""
    with conn.cursor() as cur:
        for line, row in enumerate(rows, start=2):
            row = {**row, "_dt": dt, "_file": f"{source}/dt={dt}/part-0", "_line": line, "_load_id": f"{source}-{dt}"}
            columns = ", ".join(f'"{c}"' for c in row)
            cur.execute(
                f'insert into raw."{source}" ({columns}) values ({", ".join(["%s"] * len(row))})',
                list(row.values()),
            )
    conn.commit()


def profile_of(conn, namespace: str, value: str) -> str | None:
    found = _read(
        conn,
        "select profile_id from identity.identity_map where namespace = %s and identity_value = %s",
        (namespace, value),
    )
    assert len(found) <= 1
    return found[0][0] if found else None


def rows(conn, sql: str, params: tuple = ()) -> list[tuple]:
    return _read(conn, sql, params)


IDENTITY_OUTPUTS = "+identity_map +profile_merges +rejected_identities +int_source_records_profiled"


def build_identity(run_date: str, dbt_vars: dict | None = None, extra_args: Sequence[str] = ()) -> None:
    """`dbt build` of the identity models and their parents only, for one run date: the
    tests of these models run, those that also need the profiles layer do not."""
    from dbt.cli.main import dbtRunner

    args = dbt_args("build", run_date, IDENTITY_OUTPUTS, dbt_vars) + ["--indirect-selection", "cautious"]
    result = dbtRunner().invoke(args + list(extra_args) + ["--log-level", "warn"])
    assert result.exception is None, result.exception
    failures = [f"{r.node.name}: {r.status}" for r in result.result or [] if str(r.status) in ("error", "fail")]
    assert result.success and not failures, failures
