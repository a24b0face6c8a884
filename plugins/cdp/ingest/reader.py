"""Reading one landing file into records of text values, matched to the contract by name.

Whole-file defects (not UTF-8, truncated gzip, empty, a missing required column, a format the
source does not use) raise `FileRejected`; row defects travel with the record so the row can
be quarantined while the rest of the file loads.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from cdp.contracts import ColumnType, Source
from cdp.landing import LandingFile

# Field sizes in the wild exceed csv's 128 KiB default (long free text); the row still loads.
csv.field_size_limit(64 * 1024 * 1024)


class FileRejected(Exception):
    """The whole file is refused; the message is the reason recorded for it."""


@dataclass
class Record:
    line: int
    values: dict[str, str | None]  # contract columns, as text
    extra: dict[str, object] | None = None  # columns or keys the contract does not know
    error_column: str | None = None
    error: str | None = None  # a defect found while parsing; the row goes to quarantine


def _text_stream(raw: BinaryIO, file: LandingFile) -> io.TextIOBase:
    binary = gzip.GzipFile(fileobj=raw, mode="rb") if file.compressed else raw
    # utf-8-sig: a byte-order mark from spreadsheet exports is not part of the first header.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def read_records(raw: BinaryIO, file: LandingFile, source: Source) -> Iterator[Record]:
    """Yield the file's records; raises FileRejected (possibly after some records were yielded)."""
    if file.file_format is None:
        raise FileRejected("unsupported file type (expected one of .csv, .jsonl, with optional .gz)")
    if file.file_format != source.file_format:
        raise FileRejected(f"{file.file_format} file, but {source.name} is delivered as {source.file_format}")
    reader = _read_csv if source.file_format == "csv" else _read_jsonl
    try:
        yield from reader(_text_stream(raw, file), source)
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x})") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise FileRejected(f"corrupt or truncated gzip ({exc})") from None
    except csv.Error as exc:
        raise FileRejected(f"unreadable CSV ({exc})") from None


def _check_text(record: Record) -> Record:
    """Postgres text cannot hold NUL characters: such a row is quarantined, not loaded mangled."""
    for name, value in record.values.items():
        if value is not None and "\x00" in value:
            record.error_column, record.error = name, "contains a NUL character"
            break
    return record


def _read_csv(text: io.TextIOBase, source: Source) -> Iterator[Record]:
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None or not any(h.strip() for h in header):
        raise FileRejected("empty file")
    names = [h.strip() for h in header]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileRejected(f"duplicate columns in header: {', '.join(duplicates)}")
    missing = [c for c in source.required_columns if c not in names]
    if missing:
        raise FileRejected(f"missing required column(s): {', '.join(missing)}")
    known = set(source.column_names)
    positions = [(i, n) for i, n in enumerate(names) if n in known]
    extras = [(i, n) for i, n in enumerate(names) if n not in known]
    absent = [c for c in source.column_names if c not in names]
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if not row:
            continue  # a blank line is not a record
        values = {n: (row[i] if i < len(row) and row[i] != "" else None) for i, n in positions}
        values.update(dict.fromkeys(absent))
        extra = {n: row[i] for i, n in extras if i < len(row) and row[i] != ""} or None
        record = Record(start, values, extra)
        if len(row) != len(names):
            record.error = f"expected {len(names)} fields, found {len(row)}"
        yield _check_text(record)


def _json_text(value: object, column_type: ColumnType) -> tuple[str | None, str | None]:
    """(text, defect) for one JSON value: nested values are only allowed in json columns."""
    if value is None:
        return None, None
    if column_type is ColumnType.JSON:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")), None
    if isinstance(value, dict | list):
        return None, f"nested value where {column_type.value} expected"
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, str):
        return value, None
    return json.dumps(value), None  # numbers keep their JSON spelling


def _read_jsonl(text: io.TextIOBase, source: Source) -> Iterator[Record]:
    columns = {c.name: c.type for c in source.columns}
    seen_content = False
    for line_number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        seen_content = True
        record = Record(line_number, dict.fromkeys(columns))
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            record.error = f"invalid JSON ({exc.msg} at column {exc.colno})"
            record.extra = {"_raw": line.rstrip("\r\n")[:10000]}
            yield record
            continue
        if not isinstance(obj, dict):
            record.error = "not a JSON object"
            record.extra = {"_raw": line.rstrip("\r\n")[:10000]}
            yield record
            continue
        extra = {}
        for key, value in obj.items():
            if key not in columns:
                extra[key] = value
                continue
            text_value, defect = _json_text(value, columns[key])
            record.values[key] = text_value
            if defect and record.error is None:
                record.error_column, record.error = key, defect
                extra[key] = value
        record.extra = extra or None
        yield _check_text(record)
    if not seen_content:
        raise FileRejected("empty file")
