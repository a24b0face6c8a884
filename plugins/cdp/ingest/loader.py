"""Loading one drop (a source and a `dt`) into the warehouse, idempotently.

Every file is parsed in Python and bulk-copied as text into a staging table; the contract's
checks then split good rows (cast into `raw.<source>`) from bad ones (`ingest.quarantined_rows`)
in two set-based statements. The drop's earlier load is replaced in the same transaction,
so a re-run or a re-delivery never duplicates a row.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from cdp.contracts import SOURCES, Source, raw_table_ddl
from cdp.ingest.checks import RowChecks, _ident
from cdp.ingest.reader import FileRejected, Record, read_records
from cdp.landing import LandingFile, LandingZone
from cdp.warehouse.bulk import copy_line

log = logging.getLogger(__name__)

COPY_BATCH_ROWS = 50_000

BOOKKEEPING_DDL = """
create schema if not exists raw;
create schema if not exists ingest;
create table if not exists ingest.load_report (
    load_id text not null,
    source text not null,
    dt date not null,
    file text not null,
    file_format text,
    bytes bigint,
    rows_read bigint not null default 0,
    rows_loaded bigint not null default 0,
    rows_quarantined bigint not null default 0,
    rejected_reason text,
    primary key (source, dt, file)
);
create table if not exists ingest.quarantined_rows (
    load_id text not null,
    source text not null,
    dt date not null,
    file text not null,
    line integer not null,
    column_name text,
    reason text not null,
    record jsonb
);
create index if not exists quarantined_rows_drop on ingest.quarantined_rows (source, dt);
-- Fallback for Postgres < 16, which lacks pg_input_is_valid.
create or replace function ingest.input_is_valid(value text, type_name text) returns boolean
language plpgsql immutable as $$
begin
    execute format('select %L::%s', value, type_name);
    return true;
exception when others then
    return false;
end $$;
"""


class DropIncomplete(Exception):
    """The drop has no `_SUCCESS` marker yet: it must not be loaded."""


@dataclass
class FileReport:
    file: str  # name inside the drop
    uri: str  # full location, as recorded in raw._file
    file_format: str | None
    bytes: int
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rejected_reason: str | None = None


@dataclass
class DropReport:
    source: str
    dt: date
    load_id: str
    files: list[FileReport] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def files_rejected(self) -> int:
        return sum(1 for f in self.files if f.rejected_reason)

    def log_lines(self) -> list[str]:
        """The load report as a person reads it in the task log (no row values: no PII)."""
        lines = [
            f"{self.source} dt={self.dt}: {len(self.files)} file(s), read {self.rows_read}, "
            f"loaded {self.rows_loaded}, quarantined {self.rows_quarantined}, rejected files {self.files_rejected}"
        ]
        for f in self.files:
            status = f"REJECTED: {f.rejected_reason}" if f.rejected_reason else "ok"
            lines.append(
                f"  {f.file}: read {f.rows_read}, loaded {f.rows_loaded}, quarantined {f.rows_quarantined} [{status}]"
            )
        return lines


def ensure_tables(conn, sources: Iterable[Source] = SOURCES.values()) -> None:
    """Create the raw and bookkeeping tables; serialized so parallel source loads do not race."""
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.ingest.ddl'))")
        cur.execute(BOOKKEEPING_DDL)
        for source in sources:
            cur.execute(raw_table_ddl(source))
            cur.execute(f'create index if not exists "{source.name}_dt" on raw."{source.name}" (_dt)')


def _load_id(source: str, dt: date, files: list[LandingFile]) -> str:
    """Deterministic: the same drop gives the same id; a re-delivery with other files a new one."""
    digest = hashlib.sha256("\n".join(f"{f.name}:{f.size}" for f in files).encode()).hexdigest()[:12]
    return f"{source}/{dt.isoformat()}/{digest}"


class _StagingWriter:
    """Buffers records as COPY text rows into the staging table."""

    def __init__(self, cur, table: str, source: Source):
        self.cur, self.table, self.source = cur, table, source
        self.columns = ["file", "line", *source.column_names, "extra", "parse_error_column", "parse_error"]
        self.buffer = io.StringIO()
        self.pending = 0

    def add(self, file: str, record: Record) -> None:
        fields = [file, str(record.line)]
        fields += [record.values.get(c) for c in self.source.column_names]
        fields.append(json.dumps(record.extra, ensure_ascii=False, default=str) if record.extra else None)
        fields += [record.error_column, record.error]
        self.buffer.write(copy_line(fields))
        self.pending += 1
        if self.pending >= COPY_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.buffer.seek(0)
        column_list = ", ".join(_ident(c) for c in self.columns)
        self.cur.copy_expert(f"copy {self.table} ({column_list}) from stdin", self.buffer)
        self.buffer = io.StringIO()
        self.pending = 0


def _valid_fn(cur) -> str:
    cur.execute("select current_setting('server_version_num')::int")
    return "pg_input_is_valid" if cur.fetchone()[0] >= 160000 else "ingest.input_is_valid"


def load_drop(conn, landing: LandingZone, source_name: str, dt: date) -> DropReport:
    """Load one complete drop; replaces whatever an earlier load of the same source and dt wrote."""
    source = SOURCES[source_name]
    if not landing.is_complete(source_name, dt):
        raise DropIncomplete(f"{source_name} dt={dt}: no _SUCCESS marker in the landing zone")
    files = landing.drop_files(source_name, dt)
    report = DropReport(source_name, dt, _load_id(source_name, dt, files))
    ensure_tables(conn)  # every raw table exists, even for sources with no drop yet
    with conn.cursor() as cur:
        cur.execute("set local timezone = 'UTC'")  # timestamps without offset are UTC (contract)
        staging = f"stage_{source_name}"
        text_columns = ", ".join(f"{_ident(c)} text" for c in source.column_names)
        cur.execute(
            f"create temp table {staging} (file text, line integer, {text_columns}, extra text,"
            " parse_error_column text, parse_error text) on commit drop"
        )
        for file in files:
            report.files.append(_stage_file(cur, landing, file, source, staging))
        _publish(cur, source, dt, report, staging)
        cur.execute(f"drop table {staging}")  # several drops may load in one transaction
    for line in report.log_lines():
        log.info(line)
    return report


def _stage_file(cur, landing: LandingZone, file: LandingFile, source: Source, staging: str) -> FileReport:
    file_report = FileReport(file.name, file.uri, file.file_format, file.size)
    cur.execute("savepoint stage_file")
    writer = _StagingWriter(cur, staging, source)
    try:
        with landing.open(file) as raw:
            for record in read_records(raw, file, source):
                writer.add(file.uri, record)
                file_report.rows_read += 1
        writer.flush()
    except FileRejected as exc:
        # Rows of a rejected file already copied are rolled back: the file loads whole or not at all.
        cur.execute("rollback to savepoint stage_file")
        file_report.rejected_reason = str(exc)
        file_report.rows_read = 0
        log.warning("%s: file rejected: %s", file.name, exc)
    cur.execute("release savepoint stage_file")
    return file_report


def _publish(cur, source: Source, dt: date, report: DropReport, staging: str) -> None:
    checks = RowChecks(source, _valid_fn(cur))
    raw_table = f'raw."{source.name}"'
    cur.execute(f"create temp table checked on commit drop as {checks.classify_select(staging)}")
    cur.execute(f"delete from {raw_table} where _dt = %s", (dt,))
    cur.execute("delete from ingest.quarantined_rows where source = %s and dt = %s", (source.name, dt))
    cur.execute("delete from ingest.load_report where source = %s and dt = %s", (source.name, dt))
    target_columns = ", ".join(_ident(c) for c in source.column_names)
    typed = ", ".join(checks.typed_value(c) for c in source.columns)
    cur.execute(
        f"insert into {raw_table} ({target_columns}, _dt, _file, _line, _load_id, _extra)"
        f" select {typed}, %s, file, line, %s, extra::jsonb from checked where reason is null"
        " order by file, line",
        (dt, report.load_id),
    )
    cur.execute(
        "insert into ingest.quarantined_rows"
        " (load_id, source, dt, file, line, column_name, reason, record)"
        f" select %s, %s, %s, file, line, bad_column, reason, {checks.record_json()}"
        " from checked s where reason is not null order by file, line",
        (report.load_id, source.name, dt),
    )
    cur.execute(
        "select file, count(*) filter (where reason is null), count(*) filter (where reason is not null)"
        " from checked group by file"
    )
    counts = {file: (good, bad) for file, good, bad in cur.fetchall()}
    for file_report in report.files:
        good, bad = counts.get(file_report.uri, (0, 0))
        file_report.rows_loaded, file_report.rows_quarantined = good, bad
        cur.execute(
            "insert into ingest.load_report (load_id, source, dt, file, file_format, bytes, rows_read,"
            " rows_loaded, rows_quarantined, rejected_reason) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                report.load_id,
                source.name,
                dt,
                file_report.file,
                file_report.file_format,
                file_report.bytes,
                file_report.rows_read,
                good,
                bad,
                file_report.rejected_reason,
            ),
        )
    cur.execute("drop table checked")
