"""Landing files as COPY data for the loader, parsed one file ahead of Postgres.

A background thread reads the drop's files in order, in segments of at most `SEGMENT_ROWS`
rows: a CSV file by Arrow (cdp.ingest.columnar), a JSONL file in batches of lines
(cdp.ingest.jsonl_batches), or, when those leave it (an odd form, a defect to name), by the row
reader (cdp.ingest.reader). A row ready for raw (`cdp.ingest.checks.raw_ready_test`: no defect,
every value as the checks let it through) is queued as COPY data for `raw.<source>` itself, with
its lineage (binary from Arrow's CSV reader, see cdp.ingest.columnar; text otherwise); any other
row is kept for the staging table and handed over with the segment's end.
The loader copies a segment's ready rows straight into raw, then has Postgres check and publish
the others while the thread already reads the next segment (and a second thread the next file).
Parsing is Python, Arrow and msgspec, loading is Postgres: on two cores the two overlap. The
thread runs at most `MAX_QUEUED_CHUNKS` chunks ahead.

CSV rows are sent with NULL as the empty string (CSV cannot tell an empty field from a missing
one); JSONL rows with the default \\N, so an empty JSON string stays a string. Most lines need
no escaping, which one look at the joined line tells.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice

from isal import igzip, isal_zlib

from cdp.contracts import ColumnType, Source
from cdp.ingest.checks import raw_ready_test, well_formed_test
from cdp.ingest.columnar import Segment, read_csv_segments
from cdp.ingest.jsonl_batches import read_jsonl_segments
from cdp.ingest.lineage import Lineage
from cdp.ingest.reader import FileRejected, Row, json_text, read_rows
from cdp.landing import LandingFile, LandingZone
from cdp.warehouse.bulk import copy_field

CHUNK_BYTES = 1 << 20
MAX_QUEUED_CHUNKS = 32
SEGMENT_ROWS = 100_000
# A file is read whole only up to this size as stored (a compressed one holds several times more):
# the whole-file readers hold it, decompressed and parsed, with the next one; a larger file streams
# through the row reader in constant memory.
WHOLE_FILE_MAX_BYTES = {False: 512 << 20, True: 128 << 20}  # by whether the file is compressed
_CHUNK, _BINARY_CHUNK = "chunk", "binary chunk"  # COPY data of ready rows, as text or binary
_SEGMENT, _END, _REJECTED, _FAILED = "segment", "end", "rejected", "failed"


def _joined(values: list[str | None], columns: int, csv_rows: bool) -> str | None:
    """The values as one tab-separated COPY text, None when one needs escaping (the caller then
    escapes each): NULL as the empty string in CSV rows, as \\N in JSONL rows."""
    if csv_rows:
        nulls, joined = 0, "\t".join(values)
    else:
        nulls = values.count(None)
        joined = "\t".join(["\\N" if v is None else v for v in values]) if nulls else "\t".join(values)
    escaped = joined.count("\\") != nulls or joined.count("\t") != columns - 1
    return None if escaped or "\n" in joined or "\r" in joined else joined


def copy_lines(
    rows: Iterator[Row], file_no: int, source: Source, file_name: str | None = None, lineage: Lineage | None = None
) -> Iterator[tuple[bool, str]]:
    """(ready, COPY text line) per row. A ready row's line is for `raw.<source>`: the contract
    columns, _dt, _file, _line, _load_id, _extra, _absent (given a lineage and the file's name;
    without them no row is ready). Any other row's is for the staging table: file_no, line, the
    contract columns, extra, error column, error, absent columns, well-formed mark (see
    cdp.ingest.checks.well_formed_test)."""
    prefix, columns = f"{file_no}\t", len(source.columns)
    csv_rows = source.file_format == "csv"
    null = "" if csv_rows else "\\N"
    tail = f"\t{null}\t{null}\t{null}\t"
    well_formed = well_formed_test(source)
    ready = raw_ready_test(source) if lineage is not None else None
    if ready is not None:
        dt_and_file, load_id = lineage.copy_text(file_name)
        lineage_head, lineage_tail = f"\t{dt_and_file}\t", f"\t{load_id}\t{null}\t"
    # In a JSONL row an empty string stays a string; a typed column reads it as missing (the typed insert's nullif).
    typed = [] if csv_rows else [i for i, c in enumerate(source.columns) if c.type is not ColumnType.STRING]
    for line, values, extra, error_column, error, absent in rows:
        if error is None and extra is None and ready is not None and ready(values):
            if typed and "" in values:
                values = [None if v == "" and i in typed else v for i, v in enumerate(values)]
            joined = _joined(values, columns, csv_rows)
            if joined is None:
                joined = "\t".join(null if v is None else copy_field(v) for v in values)
            yield True, f"{joined}{lineage_head}{line}{lineage_tail}{absent or null}\n"
            continue
        mark = "t" if error is None and well_formed(values) else "f"
        if extra is None and error is None:
            joined = _joined(values, columns, csv_rows)
            if joined is not None:
                yield False, f"{prefix}{line}\t{joined}{tail}{absent or null}\t{mark}\n"
                continue
        extra_json = json_text(extra) if extra else None
        fields = [*values, extra_json, error_column, error, absent]
        escaped = "\t".join(null if v is None else copy_field(v) for v in fields)
        yield False, f"{prefix}{line}\t{escaped}\t{mark}\n"


class FileStream:
    """One file's COPY data, segment by segment, taken from the parsing thread's queue.

    `next_segment` starts a segment and tells whether its ready rows are binary COPY data (for
    COPY's format option); `read` (what COPY calls) gives them and ends at the end of the
    segment; `staged` then holds the segment's other rows (COPY text for the staging table, b""
    for none).
    """

    def __init__(self, chunks: queue.Queue):
        self.chunks = chunks
        self.rows_read = 0  # known at the end of the file
        self.rejected: FileRejected | None = None  # COPY reports these as its own error; kept here
        self.failure: BaseException | None = None
        self.staged = b""
        self.segment_done = False
        self.file_done = False
        self.binary = False
        self._first: tuple[str, object] | None = None  # the segment's first item, taken to see its format

    def next_segment(self) -> bool:
        """Start reading the next segment; False when the file has no more."""
        if self.file_done:
            return False
        self.segment_done = False
        self.staged = b""
        self._first = self.chunks.get()
        self.binary = self._first[0] == _BINARY_CHUNK
        return True

    def _take(self) -> tuple[str, object]:
        first, self._first = self._first, None
        return first or self.chunks.get()

    def read(self, size: int = CHUNK_BYTES) -> bytes:
        if self.segment_done:
            return b""
        kind, payload = self._take()
        if kind in (_CHUNK, _BINARY_CHUNK):
            return payload
        self.segment_done = True
        if kind == _SEGMENT:
            self.staged = payload
            return b""
        self.file_done = True
        if kind == _END:
            self.rows_read, self.staged = payload
            return b""
        if kind == _REJECTED:
            self.rejected = payload
        else:
            self.failure = payload
        raise payload

    def finish(self) -> None:
        """Take the rest of the file off the queue (when COPY stopped early)."""
        while not self.file_done:
            kind, _ = self._take()
            self.file_done = kind not in (_CHUNK, _BINARY_CHUNK, _SEGMENT)


class Prefetcher:
    """Parses `files` in order on a thread; `stream()` hands out the next file's COPY text.
    Without a lineage every row is staged (no row goes straight into raw)."""

    def __init__(self, landing: LandingZone, files: list[LandingFile], source: Source, lineage: Lineage | None):
        self.landing, self.files, self.source, self.lineage = landing, files, source, lineage
        self.chunks: queue.Queue = queue.Queue(MAX_QUEUED_CHUNKS)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._parse_all, name=f"parse-{source.name}", daemon=True)

    def __enter__(self) -> Prefetcher:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        while self.thread.is_alive():  # unblock a thread waiting for room in the queue
            try:
                self.chunks.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()

    def stream(self) -> FileStream:
        return FileStream(self.chunks)

    def _put(self, kind: str, payload) -> bool:
        while not self.stopping.is_set():
            try:
                self.chunks.put((kind, payload), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _parse_all(self) -> None:
        # The next file is read whole, decompressed and prepared (Arrow's parse, the checks of its
        # form: work that mostly frees the GIL) while this one's segments are written.
        with ThreadPoolExecutor(1, thread_name_prefix=f"read-{self.source.name}") as reader:
            self._parse_files(reader)

    def _parse_files(self, reader: ThreadPoolExecutor) -> None:
        def read(index: int) -> Future | None:
            if index < len(self.files) and self._read_whole(self.files[index]):
                return reader.submit(self._whole_file_segments, self.files[index])
            return None

        next_whole = read(0)
        for file_no, file in enumerate(self.files, start=1):
            whole, next_whole = next_whole, read(file_no)
            try:
                end = self._parse(file_no, file, None if whole is None else whole.result())
            except FileRejected as exc:
                if not self._put(_REJECTED, exc):
                    return
                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the loader, which raises it
                self._put(_FAILED, exc)
                return
            if end is None or not self._put(_END, end):
                return

    def _parse(self, file_no: int, file: LandingFile, segments: Iterator[Segment] | None) -> tuple[int, bytes] | None:
        """Queues the file's segments; returns (rows read, the last segment's staged rows), None when
        stopped. `segments`: the file's, from a reader that takes it whole (see _whole_file_segments),
        None for the row reader."""
        return self._put_segments(file_no, file, self._row_segments(file) if segments is None else segments)

    def _row_segments(self, file: LandingFile) -> Iterator[Segment]:
        """The file read by the row reader (cdp.ingest.reader), a segment of rows at a time."""
        with self.landing.open(file) as raw:
            rows = read_rows(raw, file, self.source)
            while segment := list(islice(rows, SEGMENT_ROWS)):
                yield Segment([], segment, len(segment))

    def _read_whole(self, file: LandingFile) -> bool:
        """Whether a reader that takes a whole file may read it: one whose rows may go straight into
        raw, not larger than WHOLE_FILE_MAX_BYTES."""
        small = file.size <= WHOLE_FILE_MAX_BYTES[file.compressed]
        return self.lineage is not None and file.file_format == self.source.file_format and small

    def _whole_file_segments(self, file: LandingFile) -> Iterator[Segment] | None:
        """The file read whole, by Arrow (CSV, cdp.ingest.columnar) or in batches of lines (JSONL,
        cdp.ingest.jsonl_batches); None when the row reader must read it (an odd form, a defect to
        name: a file that does not decompress, say)."""
        if self.stopping.is_set():
            return None
        with self.landing.open(file) as raw:
            data = raw.read()
        if file.compressed:
            try:  # (by ISA-L: 1.5× zlib's speed, the same bytes)
                data = igzip.decompress(data)
            except (EOFError, OSError, isal_zlib.error):
                return None
        if file.file_format == "csv":  # (the drop's first file: Postgres has nothing to do yet)
            first = file is self.files[0]
            return read_csv_segments(data, self.source, self.lineage, file.name, SEGMENT_ROWS, threads=first)
        return read_jsonl_segments(data, self.source, self.lineage.copy_text(file.name), SEGMENT_ROWS)

    def _put_segments(self, file_no: int, file: LandingFile, segments: Iterable[Segment]) -> tuple[int, bytes] | None:
        rows_read, staged = 0, b""
        for index, segment in enumerate(segments):
            rows_read += segment.count
            if index and not self._put(_SEGMENT, staged):
                return None
            ready, others = [], []
            # (binary ready rows take no text ones: the segment's other rows are all staged)
            lineage = None if segment.binary else self.lineage
            for is_ready, text in copy_lines(iter(segment.rows), file_no, self.source, file.name, lineage):
                (ready if is_ready else others).append(text)
            kind = _BINARY_CHUNK if segment.binary else _CHUNK
            for chunk in [*segment.ready, "".join(ready).encode("utf-8")]:
                for start in range(0, len(chunk), CHUNK_BYTES):  # (COPY reads bytes, not a memoryview)
                    if not self._put(kind, bytes(chunk[start : start + CHUNK_BYTES])):
                        return None
            staged = "".join(others).encode("utf-8")
        return rows_read, staged
