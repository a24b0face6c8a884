"""Reference for ingest: a plain `COPY` of the same files, decompressed, into untyped tables.

No parsing in Python and no validation: CSV files go into a table of text columns, one per
header field; JSONL lines go whole into one text column. Each file gets a regular (logged)
table, created before the timed COPY as the raw tables exist before a load. This is the
fastest path from these bytes into Postgres on this machine: the floor the loader is held to.
"""

from __future__ import annotations

import csv
import gzip
import io
import time
from collections.abc import Iterable
from pathlib import Path

SCHEMA = "bench_plain_copy"
READ_SIZE = 1 << 20
# CSV mode with quote and delimiter characters that never occur: each line is one verbatim value.
WHOLE_LINE = "format csv, quote e'\\x01', delimiter e'\\x02'"


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115


def _csv_width(path: Path) -> int:
    with _open(path) as raw:
        header = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="").readline()
    return len(next(csv.reader([header])))


def copy_files(conn, files: Iterable[Path]) -> tuple[float, int, int]:
    """COPY every file into its own table; returns (seconds, rows, bytes read from disk)."""
    seconds, rows, size = 0.0, 0, 0
    with conn.cursor() as cur:
        cur.execute(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}")
        conn.commit()
        for index, path in enumerate(sorted(files)):
            table = f"{SCHEMA}.file_{index}"
            is_csv = ".csv" in path.name
            columns = ", ".join(f"c{i} text" for i in range(_csv_width(path))) if is_csv else "line text"
            cur.execute(f"create table {table} ({columns})")
            conn.commit()
            options = "format csv, header true" if is_csv else WHOLE_LINE
            start = time.perf_counter()
            with _open(path) as data:
                cur.copy_expert(f"copy {table} from stdin with ({options})", data, size=READ_SIZE)
            rows += cur.rowcount
            conn.commit()
            seconds += time.perf_counter() - start
            size += path.stat().st_size
        cur.execute(f"drop schema {SCHEMA} cascade")
        conn.commit()
    return seconds, rows, size
