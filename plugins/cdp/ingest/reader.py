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
import math
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter
from typing import BinaryIO

import msgspec

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
    absent: tuple[str, ...] = ()  # contract columns the row did not deliver (not "empty": unknown)


# The same record as the loader streams it, without a per-row object: (line, values in the
# contract's column order, extra, error column, error, absent). In CSV rows an empty string stands
# for an empty or absent field (CSV cannot tell them from null); in JSONL rows None is null or absent.
# `absent` names the contract columns the row did not deliver, as a JSON array, or None:
# a CSV file without the column, a JSON object without the key. A later change row that leaves a
# column out keeps the value delivered before (staging), where an empty value clears it.
Row = tuple[int, list[str | None], dict[str, object] | None, str | None, str | None, str | None]

NUL = "\x00"
JSON_NUL = "\\u0000"  # how a NUL inside a JSON string is spelled: a raw one is not valid JSON
# Postgres text cannot hold a NUL: a row holding one is quarantined, the NUL shown as U+FFFD.
NUL_SHOWN_AS = "\ufffd"


class _JsonNumber(float):
    """A JSON number with a fraction or an exponent: a float to every check, and its spelling as
    delivered, which a text, integer or decimal column keeps (a float holds 17 significant digits,
    an amount may have more; `59.90` stays `59.90`)."""

    __slots__ = ("text",)

    def __new__(cls, text: str) -> _JsonNumber:
        number = super().__new__(cls, text)
        number.text = text
        return number


# Numbers inside a JSON column keep their digits too: each number spelled with a fraction or an
# exponent becomes the Decimal it spells, which the encoder writes as a JSON number digit for digit
# (`59.90` stays `59.90`, a 25-digit amount keeps its 25 digits). msgspec's fast path reads it so
# (`_exact_float_hook`); json's path keeps a `_JsonNumber`, which the encoder converts
# (`_encode_parsed`). Only a number a float could also hold is kept so: one beyond a float's range
# is json's to judge (quarantined when infinite), and every path gives the jsonb column one text.
_EXACT_MAX_LENGTH = 300
_EXACT_MAX_EXPONENT = 308


def _exact_number(text: str) -> Decimal | None:
    """The Decimal a float-spelled JSON number spells, None when a float could not hold it."""
    if len(text) > _EXACT_MAX_LENGTH:
        return None
    number = Decimal(text)
    return number if -_EXACT_MAX_EXPONENT <= number.adjusted() <= _EXACT_MAX_EXPONENT else None


class _NotExact(ValueError):
    """A number `_exact_number` does not keep: the fast path hands its line to json's path."""


def _exact_float_hook(text: str) -> Decimal:
    number = _exact_number(text)
    if number is None:
        raise _NotExact("a number beyond a float")
    return number


def _encode_parsed(value: object) -> object:
    """What the encoder writes for a value it has no spelling of: json's numbers, as `_exact_number` keeps them."""
    if type(value) is _JsonNumber:
        exact = _exact_number(value.text)
        return float(value) if exact is None else exact
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


_encode_msgspec = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_parsed).encode


def json_text(value: object) -> str:
    """Compact JSON text of a parsed value, from either path: a JSON column's value, or a row's unknown keys."""
    return _encode_msgspec(value).decode()


# The careful path's parser. Its scanner is what json.loads runs, called directly: json.loads wraps
# it with a check that only whitespace follows the value, made here by the caller (any other
# outcome goes to the decoder's own decode, which is json.loads with these numbers).
_json_decoder = json.JSONDecoder(parse_float=_JsonNumber)
_scan_json = _json_decoder.scan_once
_JSON_SPACE = " \t\n\r"
_TEXT = frozenset((str, type(None)))  # the JSON values a text column takes as they are


def _text_stream(raw: BinaryIO, file: LandingFile) -> io.TextIOBase:
    binary = gzip.GzipFile(fileobj=raw, mode="rb") if file.compressed else raw
    # utf-8-sig: a byte-order mark from spreadsheet exports is not part of the first header.
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")


def read_rows(raw: BinaryIO, file: LandingFile, source: Source) -> Iterator[Row]:
    """Yield the file's rows; raises FileRejected (possibly after some rows were yielded)."""
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


def read_records(raw: BinaryIO, file: LandingFile, source: Source) -> Iterator[Record]:
    """The rows of `read_rows` as records with named values (None for a missing value)."""
    names = source.column_names
    empty_is_null = source.file_format == "csv"
    for line, values, extra, error_column, error, absent in read_rows(raw, file, source):
        if empty_is_null:
            values = [v or None for v in values]
        missing = tuple(json.loads(absent)) if absent else ()
        yield Record(line, dict(zip(names, values, strict=True)), extra, error_column, error, missing)


def _array_literal(names: list[str]) -> str | None:
    """Column names as a JSON array (contract names need no escaping), None for none."""
    return '["' + '","'.join(names) + '"]' if names else None


def _leaves(value: object) -> Iterator[object]:
    """Every key and scalar of a parsed JSON value, at any depth (without recursion: json reads
    deeper nesting than Python's recursion limit leaves room for)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield from item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        else:
            yield item


def _unstorable(obj: dict, names: list[str]) -> tuple[str, str] | None:
    """(key, reason) for the first key, the contract's columns first, whose name or value holds
    what Postgres cannot store: a NUL, half of a surrogate pair (json reads an escaped one as it
    is), NaN or an infinite number (json's reading of NaN, Infinity and numbers beyond a float)."""
    for key in (*(n for n in names if n in obj), *obj):
        for leaf in (key, *_leaves(obj[key])):
            if type(leaf) is str:
                if NUL in leaf:
                    return key, "contains a NUL character"
                if not leaf.isascii() and not _encodable(leaf):
                    return key, "invalid JSON (an unpaired surrogate escape)"
            elif isinstance(leaf, float) and not math.isfinite(leaf):
                return key, "a number out of range (NaN, Infinity or beyond 1.8e308)"
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class CsvColumns:
    """A CSV file's header, matched to the contract by name."""

    names: list[str]  # the file's columns, in its order
    positions: list[int]  # per contract column, its position in the file; len(names) when the file lacks it
    extras: list[tuple[int, str]]  # the columns the contract does not know: (position, name)
    absent: str | None  # the contract columns the file lacks, as a JSON array (see Row)


def csv_columns(header: list[str] | None, source: Source) -> CsvColumns:
    """The header's columns; raises FileRejected for a header the file cannot load with."""
    if header is None or not any(h.strip() for h in header):
        raise FileRejected("empty file")
    names = [h.strip() for h in header]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileRejected(f"duplicate columns in header: {', '.join(duplicates)}")
    if NUL in "".join(names):
        raise FileRejected("a NUL character in the header")
    missing = [c for c in source.required_columns if c not in names]
    if missing:
        raise FileRejected(f"missing required column(s): {', '.join(missing)}")
    position = {n: i for i, n in enumerate(names)}
    return CsvColumns(
        names=names,
        positions=[position.get(c, len(names)) for c in source.column_names],
        extras=[(i, n) for i, n in enumerate(names) if n not in set(source.column_names)],
        absent=_array_literal([c for c in source.column_names if c not in position]),
    )


def _read_csv(text: io.TextIOBase, source: Source) -> Iterator[Row]:
    reader = csv.reader(text)
    columns = csv_columns(next(reader, None), source)
    names, extras, absent = columns.names, columns.extras, columns.absent
    width = len(names)
    # A column the file lacks reads the empty string appended after the row's own fields.
    pick = itemgetter(*columns.positions)
    line = reader.line_num + 1
    for row in reader:
        start, line = line, reader.line_num + 1
        if not row:
            continue  # a blank line is not a record
        found = len(row)
        error = None
        if found != width:
            error = f"expected {width} fields, found {found}"
            row = [*row[:width], *[""] * (width - found)]
        row.append("")
        error_column = None
        if NUL in "".join(row):  # such a row is quarantined, not loaded mangled
            error_column = names[next(i for i, v in enumerate(row) if NUL in v)]
            error = "contains a NUL character"
            row = [v.replace(NUL, NUL_SHOWN_AS) for v in row]
        values = list(pick(row))
        extra = {n: row[i] for i, n in extras if row[i] != ""} or None if extras else None
        yield start, values, extra, error_column, error, absent


def _json_text(value: object, column_type: ColumnType) -> tuple[str | None, str | None]:
    """(text, defect) for one JSON value: nested values are only allowed in json columns."""
    if value is None:
        return None, None
    if column_type is ColumnType.JSON:
        return json_text(value), None
    if isinstance(value, dict | list):
        return None, f"nested value where {column_type.value} expected"
    if isinstance(value, bool):
        return ("true" if value else "false"), None
    if isinstance(value, str):
        return value, None
    if type(value) is _JsonNumber:
        return value.text, None  # numbers keep their JSON spelling
    return json.dumps(value), None


def _jsonl_row(line_number: int, obj: dict, source: Source) -> Row:
    """A parsed object as a row, each key in the object's order (the first defect found is kept)."""
    columns = {c.name: c.type for c in source.columns}
    values = dict.fromkeys(columns)
    extra, error_column, error = {}, None, None
    for key, value in obj.items():
        if key not in columns:
            extra[key] = value
            continue
        text_value, defect = _json_text(value, columns[key])
        values[key] = text_value
        if defect and error is None:
            error_column, error = key, defect
            extra[key] = value
    row_values = list(values.values())
    absent = _array_literal([n for n in source.column_names if n not in obj])
    return line_number, row_values, extra or None, error_column, error, absent


def _object_decoder(source: Source) -> Callable[[str], tuple]:
    """A decoder of one JSON line into the contract's values in column order, for the common line:
    an object of contract keys only, a scalar or null in each scalar column, an object, an array or
    null in each JSON column. Any other line raises msgspec's DecodeError or ValidationError and
    takes json's path, as does a number msgspec does not read (beyond a float, or a very long
    integer); the integers it reads, it reads as json does, and a line with a number read as a
    float in a scalar column takes json's path, which keeps the number's spelling. A fractional
    number inside a JSON column is read as its exact Decimal (`_exact_float_hook`). A key the
    object lacks is UNSET."""
    fields = [
        (
            f"c{i}",
            (dict | list | None if c.type is ColumnType.JSON else str | int | float | bool | None) | msgspec.UnsetType,
            msgspec.field(default=msgspec.UNSET, name=c.name),
        )
        for i, c in enumerate(source.columns)
    ]
    row_type = msgspec.defstruct(f"{source.name}_row", fields, forbid_unknown_fields=True)
    decoder = msgspec.json.Decoder(row_type, float_hook=_exact_float_hook)
    decode, astuple = decoder.decode, msgspec.structs.astuple
    return lambda line: astuple(decode(line))


def _decoded_row(line_number: int, fields: tuple, names: list[str], json_positions: list[int]) -> Row:
    """The row of a line `_object_decoder` took: UNSET is an absent key, a JSON value is compact
    JSON text (`json_text`, as on json's path), an integer or boolean has its JSON spelling."""
    unset = msgspec.UNSET
    values = list(fields)
    absent = None
    if unset in values:
        absent = _array_literal([n for n, v in zip(names, values, strict=True) if v is unset])
        values = [None if v is unset else v for v in values]
    for i in json_positions:
        if values[i] is not None:
            values[i] = json_text(values[i])
    if not _TEXT.issuperset(map(type, values)):
        values = [v if type(v) in _TEXT else json.dumps(v) for v in values]
    return line_number, values, None, None, None, absent


def _invalid_json(exc: Exception) -> str:
    """The reason for a line json cannot read; a number or nesting beyond its limits is named as such."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON ({exc.msg} at column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "invalid JSON (nested too deeply)"
    return "invalid JSON (a number too long)"


def _unreadable(line_number: int, line: str, width: int, error: str, column: str | None = None) -> Row:
    """The row of a line that is not a JSON object Postgres can hold: its first 10,000 characters
    are kept in `_raw` (an escaped NUL stays text; a raw one is shown as NUL_SHOWN_AS)."""
    kept = line.rstrip("\r\n")[:10000].replace(NUL, NUL_SHOWN_AS)
    column = None if column is None else column.replace(NUL, NUL_SHOWN_AS)
    return line_number, [None] * width, {"_raw": kept}, column, error, None


def _read_jsonl(text: io.TextIOBase, source: Source) -> Iterator[Row]:
    seen_content = False
    for row in jsonl_rows(enumerate(text, start=1), source):
        seen_content = True
        yield row
    if not seen_content:
        raise FileRejected("empty file")


def jsonl_rows(numbered_lines: Iterable[tuple[int, str]], source: Source) -> Iterator[Row]:
    """The rows of JSON lines (each with its line break, as a text file reads it), blank lines skipped."""
    names = source.column_names
    known = frozenset(names)
    width = len(names)
    json_positions = [i for i, c in enumerate(source.columns) if c.type is ColumnType.JSON]
    scalar_names = [c.name for c in source.columns if c.type is not ColumnType.JSON]
    loads, scan, decode = _json_decoder.decode, _scan_json, _object_decoder(source)
    undecoded = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
    for line_number, line in numbered_lines:
        if line.isspace() or not line:
            continue
        if JSON_NUL not in line:  # a NUL inside a string is a defect json's path names
            try:
                fields = decode(line)
            except undecoded:
                pass
            else:
                if float not in map(type, fields):  # only json's path keeps a float's spelling
                    yield _decoded_row(line_number, fields, names, json_positions)
                    continue
        try:
            try:
                obj, end = scan(line, 0)
                if end != len(line) and line[end:].strip(_JSON_SPACE):
                    raise ValueError("more than one value")
            except (StopIteration, ValueError):
                obj = loads(line)  # the outcome, or the error, as json.loads has it
        except (ValueError, RecursionError) as exc:  # json's own error, or a limit of Python's
            yield _unreadable(line_number, line, width, _invalid_json(exc))
            continue
        if type(obj) is not dict:
            yield _unreadable(line_number, line, width, "not a JSON object")
            continue
        unstorable = _unstorable(obj, names)
        if unstorable is not None:
            column, error = unstorable
            yield _unreadable(line_number, line, width, error, column)
            continue
        # The careful path for the rare row: unknown keys, or a scalar column holding anything but
        # a string (numbers, booleans and nested values need their spelling or their defect).
        if not known.issuperset(obj) or not _TEXT.issuperset(map(type, map(obj.get, scalar_names))):
            yield _jsonl_row(line_number, obj, source)
            continue
        values = list(map(obj.get, names))
        for i in json_positions:
            if values[i] is not None:
                values[i] = json_text(values[i])
        # Known keys only here: the object has every column when it has as many keys.
        absent = None if len(obj) == width else _array_literal([n for n in names if n not in obj])
        yield line_number, values, None, None, None, absent
