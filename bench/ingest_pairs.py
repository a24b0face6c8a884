"""The ingest against a plain COPY, in rounds of pairs: each source's load, then at once a plain
COPY of its files, and the share taken from the medians.

On this shared two-core machine a load and a plain COPY each move by 10-20% between runs, the
loader (which keeps both cores busy) more than COPY (which keeps one), and a slow minute during
the one and not the other moves the share by as much. So the day's ingest (the pipeline's one
load of each source, the stage's time) is the first round, and `ROUNDS - 1` more rounds load
the same drops again, each into a scratch database of its own: an empty one, as the day's first
load found (on a later day the raw tables hold earlier days, which the load does not read).
Each source's load is followed at once by the plain COPY of its files. Per source, the median
of the loader's times and of COPY's; the share is the sum of COPY's medians over the sum of the
loader's. Every time measured is reported; the first round's loads also hold the process's
one-time start (the first import of Arrow's and pandas' code, the first touch of its memory:
about a second at 1,000,000 customers), which the later rounds do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg2

from bench import plain_copy
from cdp.ingest.loader import load_drop
from cdp.landing import LandingZone

ROUNDS = 3
SCRATCH_DATABASE = "cdp_bench_ingest_round"


def plain_copy_by_source(conn, files: dict[str, list[Path]]) -> dict[str, tuple[float, int]]:
    """A plain COPY of each source's files: (seconds, rows) per source."""
    return {source: plain_copy.copy_files(conn, paths)[:2] for source, paths in files.items()}


def more_rounds(url: str, landing: Path, dt: date, files: dict[str, list[Path]], rounds: int) -> list[dict]:
    """`rounds` more rounds; each {"loader": {source: s}, "plain": {source: s}}."""
    zone = LandingZone.from_uri(str(landing))
    measured = []
    for _ in range(rounds):
        with _scratch_database(url) as scratch:
            loader, plain = {}, {}
            for source, paths in files.items():
                loader[source] = _timed(lambda source=source: load_drop(scratch, zone, source, dt), scratch)
                plain[source] = plain_copy.copy_files(scratch, paths)[0]
            measured.append({"loader": loader, "plain": plain})
    return measured


def share(rounds: list[dict]) -> dict:
    """The medians per source and the share of plain COPY's speed (COPY's time over the loader's)."""
    sources = list(rounds[0]["loader"])
    median = {side: {s: statistics.median(r[side][s] for r in rounds) for s in sources} for side in ("loader", "plain")}
    loader, plain = sum(median["loader"].values()), sum(median["plain"].values())
    return {
        "rounds": len(rounds),
        "loader_seconds": round(loader, 3),
        "plain_copy_seconds": round(plain, 3),
        "share": round(plain / loader, 3) if loader else None,
        "median_seconds": {side: {s: round(v, 3) for s, v in m.items()} for side, m in median.items()},
        "round_seconds": [{side: round(sum(r[side].values()), 3) for side in ("loader", "plain")} for r in rounds],
    }


def _timed(load: Callable[[], object], conn) -> float:
    start = time.perf_counter()
    load()
    conn.commit()
    return time.perf_counter() - start


@contextmanager
def _scratch_database(url: str) -> Iterator:
    """A connection to a new, empty database on the warehouse's server, dropped at the end."""
    _admin(url, f"drop database if exists {SCRATCH_DATABASE}", f"create database {SCRATCH_DATABASE}")
    conn = psycopg2.connect(psycopg2.extensions.make_dsn(url, dbname=SCRATCH_DATABASE), application_name="cdp-bench")
    try:
        yield conn
    finally:
        conn.close()
        _admin(url, f"drop database if exists {SCRATCH_DATABASE}")


def _admin(url: str, *statements: str) -> None:
    conn = psycopg2.connect(url, application_name="cdp-bench")
    conn.autocommit = True  # (CREATE and DROP DATABASE run outside a transaction)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()
