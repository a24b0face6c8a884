"""Loading one drop (a source and a `dt`) into the warehouse, idempotently.

Every file is parsed in Python and streamed as COPY text into a staging table: Postgres takes
one chunk while the next is parsed, so both cores work. The contract's checks then mark the bad
rows in one pass, and the good rows are cast into `raw.<source>`, the bad ones copied to
`ingest.quarantined_rows`. The drop's earlier load is replaced in the same transaction, so a
re-run or a re-delivery never duplicates a row. The raw table's statistics are refreshed at the
end: the dbt build that follows plans its joins on them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

import psycopg2

from cdp.contracts import SOURCES, Source, raw_table_ddl
from cdp.ingest.checks import RowChecks, _ident
from cdp.ingest.reader import FileRejected, Row, read_rows
from cdp.landing import LandingFile, LandingZone
from cdp.warehouse.bulk import copy_field

log = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 1 << 20

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


class _StagingStream:
    """One file's rows as COPY text for the staging table, produced as COPY reads them.

    CSV rows are sent with NULL as the empty string (CSV cannot tell an empty field from a
    missing one); JSONL rows with the default \\N, so an empty JSON string stays a string.
    Most lines need no escaping, which one look at the joined line tells.
    """

    def __init__(self, rows: Iterator[Row], file_no: int, csv_rows: bool, columns: int):
        self.rows, self.prefix, self.csv_rows, self.columns = rows, f"{file_no}\t", csv_rows, columns
        self.null = "" if csv_rows else "\\N"
        self.rows_read = 0
        self.rejected: FileRejected | None = None  # COPY reports it as its own error; kept here

    def read(self, size: int = COPY_CHUNK_BYTES) -> bytes:
        lines, length = [], 0
        try:
            for row in self.rows:
                line = self._line(row)
                lines.append(line)
                length += len(line)
                self.rows_read += 1
                if length >= size:
                    break
        except FileRejected as exc:
            self.rejected = exc
            raise
        return "".join(lines).encode("utf-8")

    def _line(self, row: Row) -> str:
        line, values, extra, error_column, error = row
        if extra is None and error is None:
            if self.csv_rows:
                nulls, joined = 0, "\t".join(values)
            else:
                nulls = values.count(None)
                joined = "\t".join(["\\N" if v is None else v for v in values]) if nulls else "\t".join(values)
            plain = (
                joined.count("\\") == nulls
                and joined.count("\t") == self.columns - 1
                and "\n" not in joined
                and "\r" not in joined
            )
            if plain:
                return f"{self.prefix}{line}\t{joined}\t{self.null}\t{self.null}\t{self.null}\n"
        fields = [*values, json.dumps(extra, ensure_ascii=False, default=str) if extra else None, error_column, error]
        return f"{self.prefix}{line}\t" + "\t".join(self._field(v) for v in fields) + "\n"

    def _field(self, value: str | None) -> str:
        return self.null if value is None else copy_field(value)


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
            f"create temp table {staging} (file_no integer, line integer, {text_columns}, extra text,"
            " parse_error_column text, parse_error text, failed_check integer) on commit drop"
        )
        for file_no, file in enumerate(files, start=1):
            report.files.append(_stage_file(cur, landing, file, file_no, source, staging))
        _publish(cur, source, dt, report, staging)
        cur.execute(f"drop table {staging}")  # several drops may load in one transaction
        cur.execute(f'analyze raw."{source.name}"')
    for line in report.log_lines():
        log.info(line)
    return report


def _stage_file(cur, landing: LandingZone, file: LandingFile, file_no: int, source: Source, staging: str) -> FileReport:
    file_report = FileReport(file.name, file.uri, file.file_format, file.size)
    columns = ["file_no", "line", *source.column_names, "extra", "parse_error_column", "parse_error"]
    csv_rows = source.file_format == "csv"
    copy = f"copy {staging} ({', '.join(_ident(c) for c in columns)}) from stdin" + (
        " with (null '')" if csv_rows else ""
    )
    cur.execute("savepoint stage_file")
    with landing.open(file) as raw:
        stream = _StagingStream(read_rows(raw, file, source), file_no, csv_rows, len(source.columns))
        try:
            cur.copy_expert(copy, stream, size=COPY_CHUNK_BYTES)
            file_report.rows_read = stream.rows_read
        except psycopg2.Error:
            if stream.rejected is None:
                raise
            # Rows of a rejected file already copied are rolled back: the file loads whole or not at all.
            cur.execute("rollback to savepoint stage_file")
            file_report.rejected_reason = str(stream.rejected)
            log.warning("%s: file rejected: %s", file.name, stream.rejected)
    cur.execute("release savepoint stage_file")
    return file_report


def _publish(cur, source: Source, dt: date, report: DropReport, staging: str) -> None:
    checks = RowChecks(source, _valid_fn(cur))
    raw_table = f'raw."{source.name}"'
    uris = [f.uri for f in report.files]
    # Mark the few bad rows in place: every check is evaluated once per row, and the good rows
    # stay where COPY wrote them, in file and line order (a temp table is scanned from its start).
    failure = checks.first_failure()
    cur.execute(f"update {staging} s set failed_check = {failure} where {failure} is not null")
    cur.execute(f"delete from {raw_table} where _dt = %s", (dt,))
    cur.execute("delete from ingest.quarantined_rows where source = %s and dt = %s", (source.name, dt))
    cur.execute("delete from ingest.load_report where source = %s and dt = %s", (source.name, dt))
    target_columns = ", ".join(_ident(c) for c in source.column_names)
    typed = ", ".join(checks.typed_value(c) for c in source.columns)
    cur.execute(
        f"insert into {raw_table} ({target_columns}, _dt, _file, _line, _load_id, _extra)"
        f" select {typed}, %(dt)s, (%(uris)s::text[])[file_no], line, %(load_id)s, extra::jsonb"
        f" from {staging} where failed_check is null",
        {"dt": dt, "uris": uris, "load_id": report.load_id},
    )
    cur.execute(
        "insert into ingest.quarantined_rows"
        " (load_id, source, dt, file, line, column_name, reason, record)"
        " select %(load_id)s, %(source)s, %(dt)s, (%(uris)s::text[])[file_no], line,"
        " case when failed_check = 0 then parse_error_column else (%(columns)s::text[])[failed_check] end,"
        " case when failed_check = 0 then parse_error else (%(reasons)s::text[])[failed_check] end,"
        f" {checks.record_json()}"
        f" from {staging} s where failed_check is not null order by file_no, line",
        {
            "load_id": report.load_id,
            "source": source.name,
            "dt": dt,
            "uris": uris,
            "columns": checks.failure_columns(),
            "reasons": checks.failure_reasons(),
        },
    )
    cur.execute(f"select file_no, count(*), count(failed_check) from {staging} group by file_no")
    counts = {file_no: (rows - bad, bad) for file_no, rows, bad in cur.fetchall()}
    for file_no, file_report in enumerate(report.files, start=1):
        good, bad = counts.get(file_no, (0, 0))
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
