"""Landing files as COPY text for the loader's staging table, parsed one file ahead of Postgres.

A background thread reads and parses the drop's files in order and queues their rows as COPY
text, in segments of at most `SEGMENT_ROWS` rows; the loader copies a segment from the queue,
then has Postgres check and publish it while the thread already parses the next one. Parsing
is Python (it holds the GIL) and checking is Postgres, so on two cores the two overlap; the
thread runs at most `MAX_QUEUED_CHUNKS` chunks ahead.

CSV rows are sent with NULL as the empty string (CSV cannot tell an empty field from a missing
one); JSONL rows with the default \\N, so an empty JSON string stays a string. Most lines need
no escaping, which one look at the joined line tells.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

from cdp.contracts import Source
from cdp.ingest.checks import well_formed_test
from cdp.ingest.reader import FileRejected, Row, json_text, read_rows
from cdp.landing import LandingFile, LandingZone
from cdp.warehouse.bulk import copy_field

CHUNK_BYTES = 1 << 20
MAX_QUEUED_CHUNKS = 32
SEGMENT_ROWS = 100_000
_CHUNK, _SEGMENT, _END, _REJECTED, _FAILED = "chunk", "segment", "end", "rejected", "failed"


def copy_lines(rows: Iterator[Row], file_no: int, source: Source) -> Iterator[str]:
    """The staging table's COPY text lines: file_no, line, the contract columns, extra, error column,
    error, absent columns, well-formed mark (see cdp.ingest.checks.well_formed_test)."""
    prefix, columns = f"{file_no}\t", len(source.columns)
    csv_rows = source.file_format == "csv"
    null = "" if csv_rows else "\\N"
    tail = f"\t{null}\t{null}\t{null}\t"
    well_formed = well_formed_test(source)
    for line, values, extra, error_column, error, absent in rows:
        mark = "t" if error is None and well_formed(values) else "f"
        if extra is None and error is None:
            if csv_rows:
                nulls, joined = 0, "\t".join(values)
            else:
                nulls = values.count(None)
                joined = "\t".join(["\\N" if v is None else v for v in values]) if nulls else "\t".join(values)
            plain = (
                joined.count("\\") == nulls
                and joined.count("\t") == columns - 1
                and "\n" not in joined
                and "\r" not in joined
            )
            if plain:
                yield f"{prefix}{line}\t{joined}{tail}{absent or null}\t{mark}\n"
                continue
        extra_json = json_text(extra) if extra else None
        fields = [*values, extra_json, error_column, error, absent]
        yield f"{prefix}{line}\t" + "\t".join(null if v is None else copy_field(v) for v in fields) + f"\t{mark}\n"


class FileStream:
    """One file's COPY text, segment by segment, taken from the parsing thread's queue.

    `read` (what COPY calls) ends at the end of a segment; `next_segment` starts the next one.
    """

    def __init__(self, chunks: queue.Queue):
        self.chunks = chunks
        self.rows_read = 0  # known at the end of the file
        self.rejected: FileRejected | None = None  # COPY reports these as its own error; kept here
        self.failure: BaseException | None = None
        self.segment_done = False
        self.file_done = False

    def next_segment(self) -> bool:
        """Start reading the next segment; False when the file has no more."""
        if self.file_done:
            return False
        self.segment_done = False
        return True

    def read(self, size: int = CHUNK_BYTES) -> bytes:
        if self.segment_done:
            return b""
        kind, payload = self.chunks.get()
        if kind == _CHUNK:
            return payload
        self.segment_done = True
        if kind == _SEGMENT:
            return b""
        self.file_done = True
        if kind == _END:
            self.rows_read = payload
            return b""
        if kind == _REJECTED:
            self.rejected = payload
        else:
            self.failure = payload
        raise payload

    def finish(self) -> None:
        """Take the rest of the file off the queue (when COPY stopped early)."""
        while not self.file_done:
            kind, _ = self.chunks.get()
            self.file_done = kind not in (_CHUNK, _SEGMENT)


class Prefetcher:
    """Parses `files` in order on a thread; `stream()` hands out the next file's COPY text."""

    def __init__(self, landing: LandingZone, files: list[LandingFile], source: Source):
        self.landing, self.files, self.source = landing, files, source
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
        for file_no, file in enumerate(self.files, start=1):
            try:
                rows_read = self._parse(file_no, file)
            except FileRejected as exc:
                if not self._put(_REJECTED, exc):
                    return
                continue
            except BaseException as exc:  # noqa: BLE001 - handed to the loader, which raises it
                self._put(_FAILED, exc)
                return
            if not self._put(_END, rows_read):
                return

    def _parse(self, file_no: int, file: LandingFile) -> int:
        rows_read = 0

        def counted(rows: Iterator[Row]) -> Iterator[Row]:
            nonlocal rows_read
            for row in rows:
                rows_read += 1
                yield row

        with self.landing.open(file) as raw:
            lines, length, segment = [], 0, 0
            for text in copy_lines(counted(read_rows(raw, file, self.source)), file_no, self.source):
                lines.append(text)
                length += len(text)
                segment += 1
                if length >= CHUNK_BYTES or segment >= SEGMENT_ROWS:
                    if not self._put(_CHUNK, "".join(lines).encode("utf-8")):
                        return rows_read
                    lines, length = [], 0
                if segment >= SEGMENT_ROWS:
                    if not self._put(_SEGMENT, None):
                        return rows_read
                    segment = 0
            if lines and not self._put(_CHUNK, "".join(lines).encode("utf-8")):
                return rows_read
        return rows_read
