"""The least a stitching inside the warehouse must do after a full run: write its table.

However the components are found, a full run ends by writing one row per identity into the
model's table and building that table's indexes (the incremental runs and the identity map read
it through them). The bench does just that, on a copy of the table the run left, so the union-find
reference can be set against a floor no SQL implementation goes under: a ratio to union-find that
this write alone uses up cannot be met by any faster component search.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import psycopg2

COPY = "bench_stitch_floor"
# pg_indexes.indexdef: "CREATE [UNIQUE] INDEX <name> ON <table> USING ..."; the copy's indexes are
# created without a name (Postgres picks one) on the copy, after its rows, as the full run builds
# them (`create table ... (like ... including indexes)` would index every row as it is inserted).
_INDEXDEF = re.compile(r"^CREATE (UNIQUE )?INDEX \S+ ON \S+ (.*)$", re.IGNORECASE)


@dataclass
class TableWrite:
    rows: int
    indexes: int
    seconds: float


def copy_index_statements(indexdefs: list[str], copy: str) -> list[str]:
    """The table's index definitions, on the copy; a definition of another form is left out."""
    statements = []
    for indexdef in indexdefs:
        parsed = _INDEXDEF.match(indexdef)
        if parsed:
            statements.append(f"create {parsed.group(1) or ''}index on {copy} {parsed.group(2)}")
    return statements


def write_table(conn, relation: str) -> TableWrite | None:
    """Times writing a copy of `relation` (the stitching model's table, schema.table, quoted or
    not) with its indexes and statistics, as the full run does; the copy is dropped. None when the
    table cannot be read: the floor is a reading aid, not a result."""
    schema, table = (part.strip('"') for part in relation.split(".")[-2:])
    try:
        with conn.cursor() as cur:
            cur.execute("select indexdef from pg_indexes where schemaname = %s and tablename = %s", (schema, table))
            indexes = copy_index_statements([row[0] for row in cur.fetchall()], COPY)
            cur.execute(f"drop table if exists {COPY}")
            conn.commit()
            started = time.perf_counter()
            cur.execute(f"create table {COPY} as select * from {relation}")
            rows = cur.rowcount
            for statement in indexes:
                cur.execute(statement)
            cur.execute(f"analyze {COPY}")
            conn.commit()
            seconds = time.perf_counter() - started
            cur.execute(f"drop table {COPY}")
            conn.commit()
    except psycopg2.Error:
        conn.rollback()
        return None
    return TableWrite(rows, len(indexes), seconds)
