"""Loading one drop (a source and a `dt`) into the warehouse, idempotently.

Every file is parsed ahead of Postgres (cdp.ingest.staging: by Arrow, in batches of lines, or a
row at a time). A row whose values pass every check as they are delivered is copied straight
into `raw.<source>`; any
other row is copied as text into a staging table, where the contract's checks mark the bad rows
in one pass, and the good ones are cast into `raw.<source>`, the bad ones copied to
`ingest.quarantined_rows`. The drop's earlier load is replaced in the same transaction, so a
re-run or a re-delivery never duplicates a row. The raw table's statistics are refreshed at the
end: the dbt build that follows plans its joins on them.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import psycopg2

from cdp.contracts import SOURCES, Source, raw_table_ddl
from cdp.ingest.checks import RowChecks, _ident
from cdp.ingest.lineage import COPY_COLUMNS, Lineage
from cdp.ingest.staging import CHUNK_BYTES, FileStream, Prefetcher
from cdp.landing import LandingFile, LandingZone

log = logging.getLogger(__name__)

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
    uri text,
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
    file: str  # name inside the drop, as raw._file and quarantined rows record it
    uri: str  # full location
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
    """Create the raw and bookkeeping tables; serialized so parallel source loads do not race.
    When every one exists (every load but a warehouse's first) nothing is locked: the lock and any
    DDL last until the load's transaction ends and would hold every other source's load."""
    sources = list(sources)
    with conn.cursor() as cur:
        if _Catalog(cur).complete(sources):
            return
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.ingest.ddl'))")
        cur.execute(BOOKKEEPING_DDL)
        catalog = _Catalog(cur)  # (read again under the lock, after the bookkeeping tables are made)
        if ("ingest", "load_report", "uri") not in catalog.columns:  # made before it existed
            cur.execute("alter table ingest.load_report add column uri text")
        for source in sources:
            cur.execute(raw_table_ddl(source))
            if ("raw", source.name, "_absent") not in catalog.columns:  # made before it existed: nothing was absent
                cur.execute(f'alter table raw."{source.name}" add column if not exists _absent jsonb')
        # Only the missing ones: even with IF NOT EXISTS, CREATE INDEX first waits for a lock on the
        # table, which an autovacuum of a table just loaded holds (a second, then it is cancelled).
        for schema, name in _replaced_indexes(sources) & catalog.indexes:
            cur.execute(f'drop index {schema}."{name}"')
        for (schema, name), on in _indexes(sources).items():
            if (schema, name) not in catalog.indexes:
                cur.execute(f'create index if not exists "{name}" on {on}')


def _indexes(sources: list[Source]) -> dict[tuple[str, str], str]:
    """(schema, name) of each index the tables need, and what it is on."""
    indexes = {("ingest", "quarantined_rows_drop"): "ingest.quarantined_rows (source, dt)"}
    for source in sources:
        # A raw table grows a day at a time, so each stretch of it holds few dates: a block-range
        # index finds a day's rows (to replace them, to check them) at a fraction of a B-tree's
        # cost to the load.
        indexes[("raw", f"{source.name}_dt_range")] = f'raw."{source.name}" using brin (_dt) with (autosummarize = on)'
    return indexes


def _replaced_indexes(sources: list[Source]) -> set[tuple[str, str]]:
    """The B-trees the block-range indexes replace."""
    return {("raw", f"{source.name}_dt") for source in sources}


class _Catalog:
    """What of ensure_tables's work exists (catalog reads only, no lock): the columns it adds to tables
    made before them (and `record`, for the quarantine table), the indexes, the fallback function."""

    def __init__(self, cur):
        cur.execute(
            "select table_schema, table_name, column_name from information_schema.columns"
            " where table_schema in ('raw', 'ingest') and column_name in ('_absent', 'uri', 'record')"
        )
        self.columns = set(cur.fetchall())
        cur.execute("select schemaname, indexname from pg_indexes where schemaname in ('raw', 'ingest')")
        self.indexes = set(cur.fetchall())
        cur.execute("select to_regprocedure('ingest.input_is_valid(text, text)') is not null")
        self.function = cur.fetchone()[0]

    def complete(self, sources: list[Source]) -> bool:
        wanted = {("raw", source.name, "_absent") for source in sources}
        wanted |= {("ingest", "load_report", "uri"), ("ingest", "quarantined_rows", "record")}
        indexes_right = set(_indexes(sources)) <= self.indexes and not _replaced_indexes(sources) & self.indexes
        return self.function and wanted <= self.columns and indexes_right


def _shown(name: str) -> str:
    """A file name as text Postgres can hold: bytes of a local name that are not UTF-8 (which Python
    keeps as lone surrogates) shown as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _misnamed(file: LandingFile) -> FileReport:
    """The report of a file whose name is not UTF-8: rejected, the name shown with U+FFFD."""
    shown = (_shown(file.name), _shown(file.uri), file.file_format, file.size)
    return FileReport(*shown, rejected_reason="file name is not valid UTF-8")


def _load_id(source: str, dt: date, files: list[LandingFile]) -> str:
    """Deterministic: the same drop gives the same id; a re-delivery with other files a new one."""
    digest = hashlib.sha256("\n".join(f"{_shown(f.name)}:{f.size}" for f in files).encode()).hexdigest()[:12]
    return f"{source}/{dt.isoformat()}/{digest}"


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
    loadable = [f for f in files if _shown(f.uri) == f.uri]
    # The thread parses the first files while the tables are made ready and the earlier load deleted.
    lineage = Lineage(dt, report.load_id)
    with Prefetcher(landing, loadable, source, lineage) as prefetch, conn.cursor() as cur:
        ensure_tables(conn)  # every raw table exists, even for sources with no drop yet
        cur.execute("set local timezone = 'UTC'")  # timestamps without offset are UTC (contract)
        staging = _Staging(cur, landing, source, _valid_fn(cur))
        cur.execute(f'delete from raw."{source.name}" where _dt = %s', (dt,))
        cur.execute("delete from ingest.quarantined_rows where source = %s and dt = %s", (source.name, dt))
        cur.execute("delete from ingest.load_report where source = %s and dt = %s", (source.name, dt))
        for file in files:
            if file in loadable:
                report.files.append(staging.load_file(file, prefetch.stream(), report))
            else:  # its name cannot be recorded as it is
                report.files.append(_misnamed(file))
        for file_report in report.files:
            _report_file(cur, report, file_report)
        staging.drop()  # several drops may load in one transaction
        cur.execute(f'analyze raw."{source.name}"')
    for line in report.log_lines():
        log.info(line)
    return report


class _Staging:
    """The drop's staging table: each file is copied in a segment at a time, its ready rows
    straight into raw, the others into the staging table, checked and published."""

    def __init__(self, cur, landing: LandingZone, source: Source, valid_fn: str):
        self.cur, self.landing, self.source = cur, landing, source
        self.table = f"stage_{source.name}"
        self.checks = RowChecks(source, valid_fn)
        text_columns = ", ".join(f"{_ident(c)} text" for c in source.column_names)
        cur.execute(
            f"create temp table {self.table} (file_no integer, line integer, {text_columns}, extra text,"
            " parse_error_column text, parse_error text, absent text, well_formed boolean not null,"
            " failed_check integer) on commit drop"
        )
        columns = [
            "file_no",
            "line",
            *source.column_names,
            "extra",
            "parse_error_column",
            "parse_error",
            "absent",
            "well_formed",
        ]
        null = " with (null '')" if source.file_format == "csv" else ""
        self.copy = f"copy {self.table} ({', '.join(_ident(c) for c in columns)}) from stdin{null}"
        raw_columns = [*source.column_names, *COPY_COLUMNS]
        copy_ready = f'copy raw."{source.name}" ({", ".join(_ident(c) for c in raw_columns)}) from stdin'
        self.copy_ready_text, self.copy_ready_binary = f"{copy_ready}{null}", f"{copy_ready} with (format binary)"

    def drop(self) -> None:
        self.cur.execute(f"drop table {self.table}")

    def load_file(self, file: LandingFile, stream: FileStream, report: DropReport) -> FileReport:
        file_report = FileReport(file.name, file.uri, file.file_format, file.size)
        cur = self.cur
        cur.execute("savepoint stage_file")
        copying_ready = False
        try:
            while stream.next_segment():
                copying_ready = True
                copy_ready = self.copy_ready_binary if stream.binary else self.copy_ready_text
                cur.copy_expert(copy_ready, stream, size=CHUNK_BYTES)
                copying_ready = False
                file_report.rows_loaded += cur.rowcount
                if stream.staged:
                    cur.execute(f"truncate {self.table}")
                    cur.copy_expert(self.copy, io.BytesIO(stream.staged), size=CHUNK_BYTES)
                    loaded, quarantined = self._publish(file, report)
                    file_report.rows_loaded += loaded
                    file_report.rows_quarantined += quarantined
        except psycopg2.Error as exc:
            stream.finish()
            if stream.failure is not None:
                raise stream.failure from None
            if stream.rejected is None:
                if not (copying_ready and isinstance(exc, psycopg2.DataError)):
                    raise
                # Raw refused a value the reader found ready (its message, which quotes the value, is
                # not logged): the file loads again, every row through the staging table's checks.
                cur.execute("rollback to savepoint stage_file")
                cur.execute("release savepoint stage_file")
                log.warning("%s: raw refused a ready value; the file loads again through the checks", file.name)
                with Prefetcher(self.landing, [file], self.source, lineage=None) as again:
                    return self.load_file(file, again.stream(), report)
            # What the file loaded so far is rolled back: a file loads whole or not at all.
            cur.execute("rollback to savepoint stage_file")
            file_report.rows_loaded = file_report.rows_quarantined = 0
            file_report.rejected_reason = str(stream.rejected)
            log.warning("%s: file rejected: %s", file.name, stream.rejected)
        else:
            file_report.rows_read = stream.rows_read
        cur.execute("release savepoint stage_file")
        return file_report

    def _publish(self, file: LandingFile, report: DropReport) -> tuple[int, int]:
        """Mark the file's bad rows, cast the good ones into raw, copy the bad ones to quarantine."""
        cur, checks, source = self.cur, self.checks, self.source
        # Marking the few bad rows in place evaluates every check once per row, and leaves the good
        # rows where COPY wrote them, in line order (a temp table is scanned from its start).
        failure = checks.first_failure()
        cur.execute(f"update {self.table} s set failed_check = {failure} where {failure} is not null")
        quarantined = cur.rowcount
        target_columns = ", ".join(_ident(c) for c in source.column_names)
        typed = ", ".join(checks.typed_value(c) for c in source.columns)
        cur.execute(
            f'insert into raw."{source.name}" ({target_columns}, _dt, _file, _line, _load_id, _extra, _absent)'
            f" select {typed}, %(dt)s, %(file)s, line, %(load_id)s, extra::jsonb, absent::jsonb"
            f" from {self.table} where failed_check is null",
            {"dt": report.dt, "file": file.name, "load_id": report.load_id},
        )
        loaded = cur.rowcount
        if quarantined:
            cur.execute(
                "insert into ingest.quarantined_rows"
                " (load_id, source, dt, file, line, column_name, reason, record)"
                " select %(load_id)s, %(source)s, %(dt)s, %(file)s, line,"
                " case when failed_check = 0 then parse_error_column else (%(columns)s::text[])[failed_check] end,"
                " case when failed_check = 0 then parse_error else (%(reasons)s::text[])[failed_check] end,"
                f" {checks.record_json()}"
                f" from {self.table} s where failed_check is not null order by line",
                {
                    "load_id": report.load_id,
                    "source": source.name,
                    "dt": report.dt,
                    "file": file.name,
                    "columns": checks.failure_columns(),
                    "reasons": checks.failure_reasons(),
                },
            )
        return loaded, quarantined


def _report_file(cur, report: DropReport, file_report: FileReport) -> None:
    cur.execute(
        "insert into ingest.load_report (load_id, source, dt, file, file_format, bytes, uri, rows_read,"
        " rows_loaded, rows_quarantined, rejected_reason) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            report.load_id,
            report.source,
            report.dt,
            file_report.file,
            file_report.file_format,
            file_report.bytes,
            file_report.uri,
            file_report.rows_read,
            file_report.rows_loaded,
            file_report.rows_quarantined,
            file_report.rejected_reason,
        ),
    )
