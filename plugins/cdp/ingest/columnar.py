"""Reading a CSV landing file with Arrow: parsed, checked and written out a column at a time.

The row reader (cdp.ingest.reader) parses and checks a row at a time in Python, which costs
several times what Postgres spends copying the row. Here Arrow's CSV parser reads the whole file
into text columns, the readiness test (the one `cdp.ingest.checks.raw_ready_test` makes for a
row) runs as a few vectorized tests per column, and the ready rows' COPY data is joined by
Arrow too: binary (cdp.ingest.binary_copy) where every column of the source has a binary form,
text otherwise. The rows that are not ready become the row reader's rows (mostly for the staging
table).

Only a file both parsers read the same way is read here: every line one record (no blank line,
no line break inside a value), every quote in RFC 4180 form (a value wholly quoted, a quote
inside it doubled), no NUL, no carriage return outside a CRLF line end, valid UTF-8, as many
fields on every line as in the header. For any other file `read_csv_segments` returns None and
the row reader reads it (and finds its defects, with their lines).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from cdp.contracts import ColumnType, Source
from cdp.ingest import binary_copy
from cdp.ingest.binary_copy import RowsWriter
from cdp.ingest.checks import (
    MAX_PLAIN_DECIMAL_LENGTH,
    PLAIN_DECIMAL,
    READY_DATE,
    READY_INTEGER,
    READY_TIMESTAMP,
    real_date,
)
from cdp.ingest.lineage import Lineage
from cdp.ingest.reader import CsvColumns, FileRejected, Row, csv_columns, json_text

# A line of RFC 4180 fields: each either unquoted (no quote, comma or line break) or wholly
# quoted (a quote inside doubled). Python's csv module and Arrow read such a line the same way.
_FIELD = r'(?:[^",\r\n]*|"(?:[^"\r\n]|"")*")'
_RFC_LINE = rf"^{_FIELD}(?:,{_FIELD})*\r?$"
# A required text value is surely present when it starts with a printable ASCII character (no
# blank): what the checks' first test of presence accepts without trimming.
_PRESENT = r"^[!-~]"
_JSON_ESCAPED = r'[\x00-\x1f"\\]'


@dataclass
class Segment:
    """Up to `segment_rows` consecutive rows of a file, as a reader that takes a whole file gives them."""

    ready: list[bytes | memoryview]  # COPY data of ready rows for raw.<source> (see copy_lines)
    rows: list[Row]  # the others, as the row reader reads them: copy_lines sorts them
    count: int  # rows read
    binary: bool = False  # whether `ready` is in binary COPY format (then every row in `rows` is staged)


def read_csv_segments(
    data: bytes, source: Source, lineage: Lineage, file_name: str, segment_rows: int, threads: bool = False
) -> Iterator[Segment] | None:
    """The file's segments, each checked when it is taken (while Postgres copies the one before),
    or None when the file is not one this reader takes (see above). The ready rows are binary
    COPY data where every column of the source has a binary form (cdp.ingest.binary_copy), COPY
    text otherwise. `threads`: Arrow may parse on every core (nothing else has work yet);
    otherwise on one, beside Postgres."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    if b"\x00" in data or b"\x01" in data or (b"\r" in data and data.count(b"\r") != data.count(b"\r\n")):
        return None
    header_end = data.find(b"\n")
    if header_end < 0 or b'"' in data[:header_end]:
        return None
    try:
        columns = csv_columns(data[:header_end].decode("utf-8").removesuffix("\r").split(","), source)
    except (UnicodeDecodeError, FileRejected):
        return None
    body = pa.py_buffer(data).slice(header_end + 1)  # (no copy)
    quoted = b'"' in data
    try:
        table = _read(body, [f"c{i}" for i in range(len(columns.names))], threads)
        # Every line one record (a blank line would be skipped: the row reader numbers lines around
        # it), every quote in RFC 4180 form (without a quote, counting the lines is enough).
        if quoted:
            lines = _read(body, ["line"], threads, quote_char=False, delimiter="\x01", ignore_empty_lines=False)
            line_count = lines.num_rows
        else:
            line_count = data.count(b"\n", header_end + 1) + (0 if data.endswith(b"\n") else 1)
    except pa.ArrowInvalid:  # a line of another width, or not UTF-8
        return None
    if table.num_rows == 0 or table.num_rows != line_count or (quoted and not _quotes_in_rfc_form(lines.column(0))):
        return None
    file_columns = [column.combine_chunks() for column in table.columns]
    file_columns.append(pa.array([""] * table.num_rows, pa.string()))  # what a column the file lacks reads
    values = [file_columns[i] for i in columns.positions]
    extras = [(name, file_columns[i]) for i, name in columns.extras]
    ready = _ready_mask(values, [extra for _, extra in extras], source)
    binary = binary_copy.encodes(source)
    if binary:
        write = binary_copy.raw_rows(source, lineage, file_name, columns.absent)
    else:  # (a backslash or a tab in a value must be escaped in COPY text; most files hold neither)
        write = _text_rows(lineage, file_name, columns.absent, escape=b"\\" in data or b"\t" in data)
    extra = _extra_json(extras) if extras else None
    return _segments(table, values, extra, ready, columns, write, binary, segment_rows)


def _read(body: pa.Buffer, names: list[str], threads: bool, **parse_options) -> pa.Table:
    """The CSV text as text columns (an empty field is the empty string)."""
    return pa_csv.read_csv(
        body,
        read_options=pa_csv.ReadOptions(column_names=names, use_threads=threads),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False, **parse_options),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False, quoted_strings_can_be_null=False
        ),
    )


def _quotes_in_rfc_form(lines: pa.ChunkedArray) -> bool:
    quoted = pc.filter(lines, pc.match_substring(lines, '"'))
    return len(quoted) == 0 or pc.all(pc.match_substring_regex(quoted, _RFC_LINE)).as_py()


def _segments(
    table: pa.Table,
    values: list[pa.Array],
    extra: pa.Array | None,
    ready: pa.Array,
    columns: CsvColumns,
    write: RowsWriter,
    binary: bool,
    segment_rows: int,
) -> Iterator[Segment]:
    """The segments' ready rows (as `write` gives them) and other rows; `values`: the contract's
    columns, `extra`: the `_extra` JSON text, `ready`: the mask."""
    line_numbers = pa.array(range(2, table.num_rows + 2), pa.int64())
    for start in range(0, table.num_rows, segment_rows):
        length = min(segment_rows, table.num_rows - start)
        mask = ready.slice(start, length)
        lines = line_numbers.slice(start, length)
        others = pc.indices_nonzero(pc.invert(mask))
        ready_values = [_taken(column.slice(start, length), mask, len(others)) for column in values]
        ready_extra = None if extra is None else _taken(extra.slice(start, length), mask, len(others))
        data = write(ready_values, _taken(lines, mask, len(others)).to_numpy(), ready_extra)
        rows = _rows(table.slice(start, length), others, lines, columns) if len(others) else []
        yield Segment(data, rows, length, binary)


def _text_rows(lineage: Lineage, file_name: str, absent: str | None, escape: bool) -> RowsWriter:
    """Ready rows as COPY text (as cdp.ingest.staging.copy_lines writes them; an empty field is NULL)."""
    dt_and_file, load_id = lineage.copy_text(file_name)
    before_line, absent_end = pa.scalar(dt_and_file), pa.scalar(f"{absent or ''}\n")

    def write(values: list[pa.Array], lines: np.ndarray, extra: pa.Array | None) -> list[bytes | memoryview]:
        if escape:
            values = [_escaped(value) for value in values]
        after_line = [pa.scalar(load_id), pa.scalar("") if extra is None else extra, absent_end]
        return [_copy_text([*values, before_line], pa.array(lines), after_line)]

    return write


def _ready_mask(values: list[pa.Array], extras: list[pa.Array], source: Source) -> pa.Array:
    """Per row, whether it is ready for raw (sound, not exact: a row this calls not ready may
    still be good; the staging table's checks decide)."""
    # A value in a column the contract does not know is kept in _extra as a JSON string: one that
    # JSON would escape leaves the row to the row reader.
    tests = [pc.invert(pc.match_substring_regex(extra, _JSON_ESCAPED)) for extra in extras]
    for column, value in zip(source.columns, values, strict=True):
        missing = pc.equal(value, "")
        if column.allowed:
            members = pa.array(column.allowed, pa.string())
            test = pc.is_in(value, value_set=members)
            test = test if column.required else pc.or_(test, missing)
        elif column.type is ColumnType.STRING:
            test = pc.match_substring_regex(value, _PRESENT) if column.required else None
        else:
            test = typed_ready(value, column.type)
            test = test if column.required else pc.or_(test, missing)
        if test is not None:
            tests.append(test)
    ready = pa.array([True] * len(values[0]))
    for test in tests:
        ready = pc.and_(ready, test)
    return ready


def typed_ready(value: pa.Array, column_type: ColumnType) -> pa.Array:
    """Per value (text), whether it is in a ready form for its type (cdp.ingest.checks.raw_ready_test)."""
    if column_type is ColumnType.TIMESTAMP:
        return pc.and_(pc.match_substring_regex(value, f"^{READY_TIMESTAMP}$"), _real_dates(value))
    if column_type is ColumnType.DATE:
        return pc.and_(pc.match_substring_regex(value, f"^{READY_DATE}$"), _real_dates(value))
    if column_type is ColumnType.INTEGER:
        return pc.match_substring_regex(value, f"^{READY_INTEGER}$")
    if column_type is ColumnType.DECIMAL:
        plain = pc.match_substring_regex(value, f"^{PLAIN_DECIMAL}$")
        return pc.and_(plain, pc.less_equal(pc.utf8_length(value), MAX_PLAIN_DECIMAL_LENGTH))
    if column_type is ColumnType.BOOLEAN:
        return pc.is_in(pc.utf8_lower(value), value_set=pa.array(["true", "false"]))
    return pa.array([False] * len(value))  # JSON in a CSV file: the staging table's checks read it


def _real_dates(value: pa.Array) -> pa.Array:
    """Whether each value's first ten characters are a date Python reads (no 30 February): a
    drop's values fall on few dates, each read once."""
    prefixes = pc.utf8_slice_codeunits(value, 0, 10)
    real = [prefix for prefix in pc.unique(prefixes).to_pylist() if real_date(prefix)]
    return pc.is_in(prefixes, value_set=pa.array(real, pa.string()))


def _taken(values: pa.Array, mask: pa.Array, others: int) -> pa.Array:
    """The segment's ready rows' values (all of them when no row is left out)."""
    return pc.filter(values, mask) if others else values


def _extra_json(extras: list[tuple[str, pa.Array]]) -> pa.Array:
    """Per row, its values in the columns the contract does not know as a JSON object (null when
    it has none), as the row reader writes `_extra`: only non-empty values, each a JSON string (a
    value that would need escaping in JSON leaves its row to the row reader, see _ready_mask)."""
    pieces = [
        pc.if_else(pc.equal(value, ""), None, pc.binary_join_element_wise(f'{json_text(name)}:"', value, '"', ""))
        for name, value in extras
    ]
    members = pieces[0]
    for piece in pieces[1:]:  # (the pieces that are not null, joined by commas)
        members = pc.coalesce(pc.binary_join_element_wise(members, piece, ","), members, piece)
    return pc.if_else(pc.is_null(members), "", pc.binary_join_element_wise("{", members, "}", ""))


def _copy_text(
    before_line: list[pa.Array | pa.Scalar], lines: pa.Array, after_line: list[pa.Array | pa.Scalar]
) -> memoryview | bytes:
    """The rows' COPY text lines for raw: the fields before the line number (escaped; an empty
    one is NULL), the line number, the fields after it (the last ends the line)."""
    if len(lines) == 0:
        return b""
    joined = pc.binary_join_element_wise(*before_line, pc.cast(lines, pa.string()), *after_line, "\t")
    # The rows lie one after another in the array's data buffer: that stretch of it is the text.
    _, offsets, data = joined.buffers()
    offsets = memoryview(offsets).cast("i")
    return memoryview(data)[offsets[joined.offset] : offsets[joined.offset + len(joined)]]


def _escaped(value: pa.Array) -> pa.Array:
    for plain, escape in (("\\", "\\\\"), ("\t", "\\t")):
        if pc.any(pc.match_substring(value, plain)).as_py():
            value = pc.replace_substring(value, plain, escape)
    return value


def _rows(segment: pa.Table, others: pa.Array, lines: pa.Array, columns: CsvColumns) -> list[Row]:
    """The row reader's rows for the given rows of the segment (cdp.ingest.reader._read_csv)."""
    taken = [column.to_pylist() for column in segment.take(others).columns]
    numbers = pc.take(lines, others).to_pylist()
    rows = []
    for k, line in enumerate(numbers):
        fields = [*(column[k] for column in taken), ""]  # (a column the file lacks reads the last)
        values = [fields[i] for i in columns.positions]
        extra = {n: fields[i] for i, n in columns.extras if fields[i] != ""} or None if columns.extras else None
        rows.append((line, values, extra, None, None, columns.absent))
    return rows
