"""Reading a JSONL landing file in batches of lines, checked and written out a column at a time.

The row reader (cdp.ingest.reader) decodes and checks a line at a time, with several Python steps
per value. Here msgspec decodes a batch of lines as one JSON array of structs, a JSON column kept
as the text it was delivered in (jsonb reads it as the row reader's spelling of it: the same
keys, values and digits). Each of the batch's columns is then tested as a whole, one pass of C
code per test (a set, a membership, one regular expression over the joined values), for what
`cdp.ingest.checks.raw_ready_test` asks of a ready row; when every row passes, the batch's COPY
text for raw is joined column by column. A batch with any other row (a defect, an absent key, a
number or a boolean in a text column, an escaped NUL or a unicode escape, a number with an
exponent or of 16 digits and more in a JSON column, a blank line) is read by the row reader, line
by line: a batch is all or nothing, so every row read here is one the row reader finds ready.

Only a file of valid UTF-8 with no carriage return and no byte-order mark is read here; for any
other `read_jsonl_segments` returns None and the row reader reads it (and names its defects).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from operator import attrgetter
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from cdp.contracts import ColumnType, Source
from cdp.ingest.columnar import Segment, typed_ready
from cdp.ingest.reader import jsonl_rows
from cdp.warehouse.bulk import copy_field

BATCH_LINES = 2000
_UNSET = msgspec.UNSET
# In a JSON column's values joined after NULs: one that is not an object, an array or null.
_NOT_NESTED = re.compile(rb"\x00(?:[^{\[n]|n(?!ull(?:\x00|$)))")
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")


def _plain_fraction(text: str) -> int:
    """msgspec's float hook for a JSON column's numbers: a number with an exponent, or too long
    for a float, is the row reader's to read (json's reading of it may differ from jsonb's)."""
    if "e" in text or "E" in text or len(text) > 300:
        raise ValueError("not a plain fraction")
    return 0


# A JSON column's values, decoded only to be looked at (their text is what is kept).
_decode_json_values = msgspec.json.Decoder(float_hook=_plain_fraction).decode
_ESCAPED = ("\\", "\t", "\n", "\r")
_TEXT = frozenset((str, type(None)))


class _Spelled(str):
    """A JSON number with a fraction or an exponent, as it was spelled (msgspec's float hook)."""


# A decimal, integer or boolean column may be delivered as a JSON number or boolean (any value: a
# nested one makes the batch the row reader's); a text, date or timestamp column only as a string.
_FIELD_TYPES = {ColumnType.JSON: msgspec.Raw, ColumnType.DECIMAL: Any, ColumnType.INTEGER: Any, ColumnType.BOOLEAN: Any}


def _numbers(values: Sequence[object]) -> list[str | None] | None:
    """A decimal or integer column's values as the row reader spells them (an integer as its digits,
    a fraction as delivered), None for a value of another kind."""
    spelled = []
    for value in values:
        kind = type(value)
        if kind is int:
            value = str(value)
        elif kind is not _Spelled and kind not in _TEXT:
            return None
        spelled.append(value)
    return spelled


def _booleans(values: Sequence[object]) -> list[str | None] | None:
    if not _TEXT.union((bool,)).issuperset(map(type, values)):
        return None
    return [("true" if v else "false") if type(v) is bool else v for v in values]


_SPELLINGS = {ColumnType.DECIMAL: _numbers, ColumnType.INTEGER: _numbers, ColumnType.BOOLEAN: _booleans}


def read_jsonl_segments(
    data: bytes, source: Source, lineage: tuple[str, str], segment_rows: int
) -> Iterator[Segment] | None:
    """The file's segments, each read when it is taken, or None when the file is not one this
    reader takes (see above). `lineage`: as for cdp.ingest.columnar.read_csv_segments."""
    if data.startswith(b"\xef\xbb\xbf") or b"\r" in data:
        return None
    if not data.isascii():  # (ASCII is UTF-8: no need to decode it to know)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return None
    lines = data.split(b"\n")
    ends_with_break = not lines[-1]
    if ends_with_break:
        lines.pop()
    if not any(line.strip() for line in lines):  # an empty file: the row reader rejects it
        return None
    return _segments(lines, ends_with_break, _BatchReader(source, lineage), segment_rows)


def _segments(lines: list[bytes], ends_with_break: bool, reader: _BatchReader, segment_rows: int) -> Iterator[Segment]:
    for start in range(0, len(lines), segment_rows):
        ready, rows, count = [], [], 0
        for first in range(start, min(start + segment_rows, len(lines)), BATCH_LINES):
            batch = lines[first : min(first + BATCH_LINES, start + segment_rows, len(lines))]
            text = reader.ready_text(batch, first + 1)
            if text is not None:
                ready.append(text.encode("utf-8"))
                count += len(batch)
                continue
            numbered = [(first + 1 + k, line.decode("utf-8") + "\n") for k, line in enumerate(batch)]
            if not ends_with_break and first + len(batch) == len(lines):
                numbered[-1] = (numbered[-1][0], numbered[-1][1][:-1])
            read = list(jsonl_rows(numbered, reader.source))  # a row per line that is not blank
            rows += read
            count += len(read)
        yield Segment(ready, rows, count)


class _BatchReader:
    """A source's batch decoder and column tests."""

    def __init__(self, source: Source, lineage: tuple[str, str]):
        self.source = source
        fields = [
            (
                f"c{i}",
                _FIELD_TYPES.get(c.type, str | None) | msgspec.UnsetType,
                msgspec.field(default=_UNSET, name=c.name),
            )
            for i, c in enumerate(source.columns)
        ]
        # (gc=False: the batch's structs hold only scalars and raw texts, no cycle for the collector to look for)
        row_type = msgspec.defstruct(f"{source.name}_batch_row", fields, forbid_unknown_fields=True, gc=False)
        self.decode = msgspec.json.Decoder(list[row_type], float_hook=_Spelled).decode
        self.fields = [attrgetter(f"c{i}") for i in range(len(source.columns))]
        self.tests = [_column_test(c) for c in source.columns]
        self.dt_and_file = lineage[0]
        self.after_line = f"{lineage[1]}\t\\N\t\\N\n"  # _load_id, _extra and _absent (none)

    def ready_text(self, batch: list[bytes], first_line: int) -> str | None:
        """The batch's COPY text for raw when every line is a ready row, else None."""
        joined = b",".join(batch)
        try:  # (a blank line leaves the array malformed)
            decoded = self.decode(b"[" + joined + b"]")
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None
        if len(decoded) != len(batch):  # a line of two values
            return None
        # Without a backslash no value holds a character COPY text escapes (JSON escapes every
        # control character in a string, and a NUL can only be escaped): most batches.
        escapes = b"\\" in joined
        columns = [list(map(field, decoded)) for field in self.fields]
        texts = []
        for test, column in zip(self.tests, columns, strict=True):
            if _UNSET in column:  # an absent key: the row reader records it in _absent
                return None
            text = test(column, escapes)
            if text is None:
                return None
            texts.append(text)
        lines = map(str, range(first_line, first_line + len(batch)))
        return "".join(map("\t".join, zip(*texts, repeat(self.dt_and_file), lines, repeat(self.after_line))))


def _column_test(column) -> Callable[[Sequence, bool], list[str] | None]:
    """A test of one column of a batch: its values as COPY text when every one is ready, else None.
    `escapes`: whether the batch's text holds a backslash (any escaped character)."""
    if column.type is ColumnType.JSON:

        def json_values(values: Sequence[msgspec.Raw], escapes: bool) -> list[str] | None:
            return None if column.required and b"null" in map(bytes, values) else _json_column(values, escapes)

        return json_values
    if column.type is ColumnType.STRING:
        allowed = frozenset(column.allowed) | (set() if column.required else {None, ""})

        def strings(values: Sequence[str | None], escapes: bool) -> list[str] | None:
            if column.allowed:
                if not allowed.issuperset(values):
                    return None
            elif column.required and (None in values or "" in values or any(map(str.isspace, values))):
                return None
            return _copy_texts(values, escapes, text=True)

        return strings
    spelled = _SPELLINGS.get(column.type)

    def typed(values: Sequence[object], escapes: bool) -> list[str] | None:
        if spelled is not None and not _TEXT.issuperset(map(type, values)):
            values = spelled(values)
            if values is None:
                return None
        present, empty = values, "" in values
        if empty or None in values:
            if column.required:
                return None
            present = [v for v in values if v]
        if present:
            if column.type is ColumnType.BOOLEAN:
                if not {"true", "false"}.issuperset(map(str.lower, present)):
                    return None
            elif not pc.all(typed_ready(pa.array(present, pa.string()), column.type)).as_py():
                return None
        # A JSONL row's empty text in a typed column is missing (NULL), as the typed insert reads it.
        return _copy_texts([v or None for v in values] if empty else values, escapes)

    return typed


def _json_column(values: Sequence[msgspec.Raw], escapes: bool) -> list[str] | None:
    """Each value an object, an array or null, with no unicode escape and no number the row reader
    reads otherwise (see `_plain_fraction`)."""
    joined = b"\x00" + b"\x00".join(values)
    if (escapes and b"\\u" in joined) or _NOT_NESTED.search(joined):
        return None
    digits = joined.translate(_DIGITS_AS_ZERO)
    if b"0e" in digits or b"0E" in digits or b"0" * 16 in digits:  # maybe such a number: look at them
        try:
            _decode_json_values(b"[" + b",".join(values) + b"]")
        except (msgspec.DecodeError, ValueError):
            return None
    # As COPY text: a backslash doubled, a tab (JSON's whitespace may hold one) escaped; a JSON text
    # has no other control character, and no line break here.
    if escapes:
        joined = joined.replace(b"\\", b"\\\\")
    if b"\t" in joined:
        joined = joined.replace(b"\t", b"\\t")
    texts = joined[1:].decode("utf-8").split("\x00")
    return ["\\N" if t == "null" else t for t in texts] if "null" in texts else texts


def _copy_texts(values: Sequence[str | None], escapes: bool, text: bool = False) -> list[str] | None:
    """Values as COPY text: escaped where needed, NULL as \\N. A text column's value with a NUL
    (an escaped one: a raw one is not JSON) is the row reader's to quarantine: None."""
    if escapes:
        present = [v for v in values if v is not None] if None in values else values
        whole = "\x01".join(present)
        if text and "\x00" in whole:
            return None
        if any(c in whole for c in _ESCAPED):
            values = [None if v is None else copy_field(v) for v in values]
    return ["\\N" if v is None else v for v in values] if None in values else list(values)
