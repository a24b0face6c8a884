"""Rows in Postgres's binary COPY format, built a column at a time with Arrow and numpy.

In text COPY, Postgres reads every field with its type's text parser: a timestamp through its
general date-time parser, the costliest part of a raw row. In binary COPY a field is its
length and its bytes in the type's own form (a timestamp its eight bytes of microseconds), which
Postgres stores nearly as sent: on the generated CSV drops a fifth less of Postgres's time.

The values given are the CSV reader's ready values (cdp.ingest.columnar), each in a form the
ready test let through (cdp.ingest.checks.raw_ready_test) or empty (NULL, as CSV rows are sent);
the conversions here read exactly those forms, as Postgres would read them with the session in
UTC. A source with a type not encoded here (numeric's base-10,000 digits) is sent as text.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cdp.contracts import ColumnType, Source
from cdp.ingest.lineage import COPY_COLUMNS, Lineage

ENCODED_TYPES = frozenset(
    {ColumnType.STRING, ColumnType.INTEGER, ColumnType.BOOLEAN, ColumnType.DATE, ColumnType.TIMESTAMP}
)
# A COPY's signature, flags (none) and header extension length (none); the trailer ends it.
HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
TRAILER = b"\xff\xff"
NULL = b"\xff\xff\xff\xff"  # a field's length of -1
JSONB = b"\x01"  # what a jsonb value starts with: the version of its binary form
POSTGRES_EPOCH = date(2000, 1, 1)  # Postgres's day 0 for dates and timestamps
POSTGRES_EPOCH_DAYS = (POSTGRES_EPOCH - date(1970, 1, 1)).days  # (Arrow's and numpy's day 0)
MICROS_PER_SECOND = 1_000_000
# A ready timestamp's fixed positions: YYYY-MM-DD[Thh:mm[:ss[.ffffff]]][Z|+hh:mm]
_HOUR, _MINUTE, _SECOND, _FRACTION = 11, 14, 17, 20
_WITH_TIME, _WITH_SECONDS, _OFFSET_LENGTH = 16, 19, 6
# The widest gather past a value's start: a fraction's sixth digit.
_PADDING = _FRACTION + 6
# A writer of a segment's ready rows: their contract values (a text array per column), line
# numbers and `_extra` JSON texts (None when the file has no unknown column) to COPY data.
RowsWriter = Callable[[list[pa.Array], np.ndarray, pa.Array | None], list[bytes | memoryview]]
# A field is given as its pieces, which the row's join puts one after the other (a text value
# and its length are not joined first: that would copy every value once more).
Field = list[pa.Array | pa.Scalar]


def encodes(source: Source) -> bool:
    """Whether every column of the source has a binary form here."""
    return all(column.type in ENCODED_TYPES for column in source.columns)


def raw_rows(source: Source, lineage: Lineage, file_name: str, absent: str | None = None) -> RowsWriter:
    """The writer of ready rows for raw.<source> as binary COPY data (an empty text is NULL).
    `absent`: the `_absent` JSON text of the file's rows."""
    header = row_header(len(source.columns) + len(COPY_COLUMNS))
    dt_and_file = [*constant_field(date_value(lineage.dt)), *constant_field(file_name.encode())]
    load_id = constant_field(lineage.load_id.encode())
    no_extra = constant_field(None)
    absent_field = constant_field(None if absent is None else JSONB + absent.encode())

    def write(values: list[pa.Array], lines: np.ndarray, extra: pa.Array | None) -> list[bytes | memoryview]:
        if len(lines) == 0:
            return []
        typed = [typed_field(value, column.type) for value, column in zip(values, source.columns, strict=True)]
        extra_field = no_extra if extra is None else text_field(extra, JSONB)
        return copy_data([header, *typed, dt_and_file, integer_field(lines), load_id, extra_field, absent_field])

    return write


def row_header(fields: int) -> Field:
    """What starts every row: its number of fields."""
    return [pa.scalar(fields.to_bytes(2, "big"), pa.binary())]


def constant_field(value: bytes | None) -> Field:
    """A field every row holds the same of (None: NULL)."""
    return [pa.scalar(NULL if value is None else len(value).to_bytes(4, "big") + value, pa.binary())]


def date_value(day: date) -> bytes:
    return (day - POSTGRES_EPOCH).days.to_bytes(4, "big", signed=True)


def text_field(values: pa.Array, type_byte: bytes = b"") -> Field:
    """Text values as fields (an empty one NULL); `type_byte` goes before each value (jsonb's
    format version)."""
    lengths = pc.binary_length(values)
    sizes = lengths.to_numpy(zero_copy_only=False).astype(np.int64)
    prefixes = _fixed(np.where(sizes == 0, -1, sizes + len(type_byte)).astype(">i4"))
    if type_byte:
        prefixes = pc.if_else(pc.equal(lengths, 0), prefixes, pc.binary_join_element_wise(prefixes, type_byte, b""))
    return [prefixes, values.cast(pa.binary())]


def typed_field(values: pa.Array, column_type: ColumnType) -> Field:
    """Ready texts of a column as fields in the type's binary form (an empty one NULL)."""
    if column_type is ColumnType.STRING:
        return text_field(values)
    missing = pc.equal(values, "")
    present = pc.if_else(missing, _PLACEHOLDER[column_type], values)
    if column_type is ColumnType.INTEGER:
        fields = _fixed_with_length(pc.cast(pc.utf8_ltrim(present, characters="+"), pa.int64()).to_numpy(), ">i8")
    elif column_type is ColumnType.BOOLEAN:
        fields = _fixed_with_length(pc.equal(pc.utf8_lower(present), "true").to_numpy(zero_copy_only=False), "u1")
    elif column_type is ColumnType.DATE:
        fields = _fixed_with_length(_days(present) - POSTGRES_EPOCH_DAYS, ">i4")
    elif column_type is ColumnType.TIMESTAMP:
        fields = _fixed_with_length(timestamp_micros(present) - POSTGRES_EPOCH_DAYS * 86_400 * MICROS_PER_SECOND, ">i8")
    else:
        raise ValueError(f"no binary form for {column_type}")
    return [pc.if_else(missing, pa.scalar(NULL, pa.binary()), fields) if pc.any(missing).as_py() else fields]


# What an empty value is read as before its field is made NULL (any ready form would do).
_PLACEHOLDER = {
    ColumnType.INTEGER: "0",
    ColumnType.BOOLEAN: "false",
    ColumnType.DATE: "2000-01-01",
    ColumnType.TIMESTAMP: "2000-01-01",
}


def integer_field(values: np.ndarray) -> Field:
    """Integers (numpy) as int4 fields."""
    return [_fixed_with_length(values, ">i4")]


def timestamp_micros(values: pa.Array) -> np.ndarray:
    """Microseconds since 1970-01-01 UTC of ready timestamps (none empty): a value without an
    offset is UTC (the loader's session time zone), a date alone its midnight."""
    offsets, data = _text_buffers(values)
    start, length = offsets[:-1], np.diff(offsets)
    zulu = data[start + length - 1] == ord("Z")
    sign = data[start + length - _OFFSET_LENGTH]  # (for a value of 16 characters or more)
    with_offset = (length >= _WITH_TIME) & ((sign == ord("+")) | (sign == ord("-")))
    core = length - zulu - _OFFSET_LENGTH * with_offset  # the date and time, without the offset
    seconds = _days(values).astype(np.int64) * 86_400
    minutes = _number(data, start + _HOUR, 2) * 60 + _number(data, start + _MINUTE, 2)
    seconds += np.where(core >= _WITH_TIME, minutes * 60, 0)
    seconds += np.where(core >= _WITH_SECONDS, _number(data, start + _SECOND, 2), 0)
    offset_at = start + length - _OFFSET_LENGTH + 1
    offset_minutes = _number(data, offset_at, 2) * 60 + _number(data, offset_at + 3, 2)
    seconds -= np.where(with_offset, np.where(sign == ord("-"), -offset_minutes, offset_minutes) * 60, 0)
    fraction_digits = np.maximum(core - _FRACTION, 0)
    micros = np.zeros(len(start), np.int64)
    for k in range(6):
        digit = data[start + _FRACTION + k].astype(np.int64) - ord("0")
        micros = micros * 10 + np.where(k < fraction_digits, digit, 0)
    return seconds * MICROS_PER_SECOND + micros


def copy_data(row: list[Field]) -> list[bytes | memoryview]:
    """One COPY's data, in pieces: the header, the rows (each the fields in `row`), the trailer."""
    pieces: list[pa.Array | pa.Scalar] = []
    for piece in (piece for field in row for piece in field):
        if pieces and isinstance(piece, pa.Scalar) and isinstance(pieces[-1], pa.Scalar):
            piece = pa.scalar(pieces.pop().as_py() + piece.as_py(), pa.binary())  # (fewer pieces, a faster join)
        pieces.append(piece)
    rows = pc.binary_join_element_wise(*pieces, b"")
    _, offsets, data = rows.buffers()
    offsets = memoryview(offsets).cast("i")
    return [HEADER, memoryview(data)[offsets[rows.offset] : offsets[rows.offset + len(rows)]], TRAILER]


def _days(values: pa.Array) -> np.ndarray:
    """Days since 1970-01-01 of each value's first ten characters (an ISO date)."""
    dates = pc.cast(pc.utf8_slice_codeunits(values, 0, 10), pa.date32())
    return dates.cast(pa.int32()).to_numpy(zero_copy_only=False)


def _number(data: np.ndarray, at: np.ndarray, digits: int) -> np.ndarray:
    """The decimal number of `digits` digits at each position."""
    number = np.zeros(len(at), np.int64)
    for k in range(digits):
        number = number * 10 + data[at + k] - ord("0")
    return number


def _text_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A text array's value offsets and its bytes, padded so that reading past a short value's
    end stays inside the buffer."""
    _, offsets, data = values.buffers()
    offsets = np.frombuffer(offsets, np.int32)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    return offsets.astype(np.int64), np.concatenate([data[: offsets[-1]], np.zeros(_PADDING, np.uint8)])


def _fixed_with_length(values: np.ndarray, dtype: str) -> pa.Array:
    """Values of a fixed size as fields: the size, then the value (big-endian)."""
    record = np.dtype([("size", ">i4"), ("value", dtype)])
    fields = np.empty(len(values), record)
    fields["size"] = record["value"].itemsize
    fields["value"] = values
    return _fixed(fields)


def _fixed(records: np.ndarray) -> pa.Array:
    """Records of one size (a numpy array) as a binary array, without a copy."""
    size = records.dtype.itemsize
    offsets = np.arange(0, (len(records) + 1) * size, size, dtype=np.int32)
    data = pa.py_buffer(np.ascontiguousarray(records).view(np.uint8))
    return pa.BinaryArray.from_buffers(pa.binary(), len(records), [None, pa.py_buffer(offsets), data])
