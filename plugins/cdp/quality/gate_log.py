"""Each gate's outcome per business date, in `quality.gate_runs`, for the day's report.

Data Docs and the stored validation results hold the detail; this table keeps what a person
reads first: which checkpoint ran on what, whether it passed, and which expectations failed
(names and counts only, never row values). A re-run of the same gate for the same date replaces
its row, so re-running a day leaves the same table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cdp.quality.gates import GateResult

DDL = """
create schema if not exists quality;
create table if not exists quality.gate_runs (
    run_date date not null,
    checkpoint text not null,
    subject text not null default '',
    success boolean not null,
    expectations integer not null,
    failed_expectations text[] not null,
    primary key (run_date, checkpoint, subject)
);
"""


@dataclass(frozen=True)
class GateRun:
    checkpoint: str
    subject: str
    success: bool
    expectations: int
    failed_expectations: list[str]

    def line(self) -> str:
        on = f" ({self.subject})" if self.subject else ""
        if self.success:
            return f"{self.checkpoint}{on}: passed, {self.expectations} expectations"
        failed = ", ".join(self.failed_expectations)
        return f"{self.checkpoint}{on}: FAILED {len(self.failed_expectations)} of {self.expectations}: {failed}"


def _failed_name(outcome) -> str:
    count = f" ({outcome.unexpected_count} rows)" if outcome.unexpected_count else ""
    return f"{outcome.table}.{outcome.expectation}{count}"


def record(conn, dt: date, result: GateResult) -> None:
    """Keep `result` as the outcome of its checkpoint (and subject) for `dt`."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.quality.gate_runs'))")
        cur.execute(DDL)
        cur.execute(
            "insert into quality.gate_runs values (%s, %s, %s, %s, %s, %s)"
            " on conflict (run_date, checkpoint, subject) do update set success = excluded.success,"
            " expectations = excluded.expectations, failed_expectations = excluded.failed_expectations",
            (
                dt,
                result.checkpoint,
                result.subject or "",
                result.success,
                len(result.outcomes),
                [_failed_name(o) for o in result.failed],
            ),
        )


def for_day(conn, dt: date) -> list[GateRun]:
    """The gates recorded for `dt`, in the order of the chain (raw, outputs, then payloads)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('quality.gate_runs')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            "select checkpoint, subject, success, expectations, failed_expectations from quality.gate_runs"
            " where run_date = %s order by array_position(array['raw_ingest', 'warehouse_outputs'], checkpoint),"
            " checkpoint, subject",
            (dt,),
        )
        return [GateRun(*row) for row in cur.fetchall()]
