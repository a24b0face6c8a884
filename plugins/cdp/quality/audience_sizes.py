"""Audience sizes per run date, recorded by the outputs gate so it can bound their change day over day."""

from __future__ import annotations

from datetime import date

DDL = """
create schema if not exists quality;
create table if not exists quality.audience_sizes (
    run_date date not null,
    audience text not null,
    members bigint not null,
    primary key (run_date, audience)
);
"""


def audience_sizes(cur) -> dict[str, int]:
    """Members of every audience model (audiences.aud_*) as the warehouse holds them now."""
    cur.execute(
        "select table_name from information_schema.tables where table_schema = 'audiences'"
        " and table_name like 'aud\\_%' order by 1"
    )
    sizes = {}
    for (name,) in cur.fetchall():
        cur.execute(f'select count(*) from audiences."{name}"')
        sizes[name] = cur.fetchone()[0]
    return sizes


def record_audience_sizes(conn, dt: date) -> dict[str, int]:
    """Replace the sizes recorded for `dt` with the current ones (a rerun of a date rewrites its row)."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.quality.audience_sizes'))")
        cur.execute(DDL)
        sizes = audience_sizes(cur)
        cur.execute("delete from quality.audience_sizes where run_date = %s", (dt,))
        cur.executemany(
            "insert into quality.audience_sizes values (%s, %s, %s)", [(dt, a, n) for a, n in sizes.items()]
        )
    return sizes
