"""Row checks of the contract, as SQL over a staging table of text columns.

Checking in the database is set-based: one statement classifies every row of a drop, and
the same definitions cast the good rows into their typed raw columns. Each check yields
(column, condition that means "bad", reason); the first failing check names the row's reason.
Postgres does not share work between expressions, so a row's checks are written to be
evaluated once (one CASE giving the number of the first failing check) and kept cheap:
non-capturing groups in the regular expressions, one JSON parse per value.

The pattern tests are the costly part in Postgres, and the reader has every value in hand: it
marks a row `well_formed` when each of its typed values already matches its pattern (tested by
`well_formed_test` in Python, which accepts only strings Postgres's pattern accepts too). Postgres
skips the pattern (and the trimming) for such a row and still tests the value's range
(`pg_input_is_valid`); any other row is tested in full, so a row's outcome and reason do not
depend on the mark.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from functools import lru_cache

from cdp.contracts import SQL_TYPES, Column, ColumnType, Source

ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
ISO_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$"
INTEGER = r"^[+-]?\d+$"
DECIMAL = r"^[+-]?(?:\d+(?:[.]\d*)?|[.]\d+)(?:[eE][+-]?\d+)?$"
# What Python's str.strip() removes (str.isspace()): a value is trimmed of these at both ends, in
# Postgres by btrim with the same characters, and a value of only these is missing.
BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_BLANKS_SQL = "E'" + "".join(f"\\u{ord(c):04x}" for c in BLANKS) + "'"


# The patterns above in Python's `re`, where `\d` is an ASCII digit (re.ASCII), which Postgres's `\d` also matches.
_PATTERNS = {
    t: re.compile(p[1:-1], re.ASCII).fullmatch
    for t, p in (
        (ColumnType.DATE, ISO_DATE),
        (ColumnType.TIMESTAMP, ISO_TIMESTAMP),
        (ColumnType.INTEGER, INTEGER),
    )
}
# A decimal is marked only without an exponent and at most 1,000 characters long: a number Postgres's
# numeric holds (it refuses more than 131,072 digits before the point or 16,383 after it).
PLAIN_DECIMAL = r"[+-]?(?:\d+(?:[.]\d*)?|[.]\d+)"
MAX_PLAIN_DECIMAL_LENGTH = 1000
_PLAIN_DECIMAL = re.compile(PLAIN_DECIMAL, re.ASCII).fullmatch
_PATTERNS[ColumnType.DECIMAL] = lambda v: len(v) <= MAX_PLAIN_DECIMAL_LENGTH and _PLAIN_DECIMAL(v) is not None


def well_formed_test(source: Source) -> Callable[[Sequence[str | None]], bool]:
    """Whether a staged row's typed values are well-formed, from the reader's text values (in the
    contract's column order; None or "" for a missing value).

    A match of the Python pattern on the value itself implies a match of the SQL pattern on its
    trimmed value (the patterns neither start nor end with a blank). JSON values count only for
    JSONL sources, whose reader writes them by encoding a parsed object or array: such text is
    valid JSON unless it spells a non-finite number (NaN, Infinity), which the reader quarantines
    before (the test still refuses it).
    """
    tests = [(i, _PATTERNS[c.type]) for i, c in enumerate(source.columns) if c.type in _PATTERNS]
    jsonl = source.file_format == "jsonl"
    json_positions = [i for i, c in enumerate(source.columns) if jsonl and c.type is ColumnType.JSON]

    def well_formed(values: Sequence[str | None]) -> bool:
        for i, matches in tests:
            value = values[i]
            if value and not matches(value):
                return False
        for i in json_positions:
            value = values[i]
            if value and not _written_json(value):
                return False
        return True

    return well_formed


# A row ready for raw skips the staging table: its values go into the typed raw columns as they
# are, so each must be one Postgres reads as the checks would have let it through. The forms are
# narrower than the patterns: a timestamp's time and offset in range (hours to 23, minutes and
# seconds to 59, at most six fractional digits, an offset of at most 14 hours), its date and a
# date one Python reads (which refuses what Postgres refuses: a 30 February, a month 13, year 0),
# an integer of at most 18 digits (inside bigint). Anything else takes the staging table and its
# checks; should Postgres still refuse a value, the loader loads the file again through them.
READY_DATE = ISO_DATE[1:-1]  # (unanchored, as the patterns below are)
READY_TIMESTAMP = (
    READY_DATE + r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.]\d{1,6})?)?)?(?:Z|[+-](?:0\d|1[0-4]):[0-5]\d)?"
)
READY_INTEGER = r"[+-]?\d{1,18}"
_READY_TIMESTAMP = re.compile(READY_TIMESTAMP, re.ASCII).fullmatch
_READY_INTEGER = re.compile(READY_INTEGER, re.ASCII).fullmatch


@lru_cache(maxsize=100_000)
def real_date(text: str) -> bool:
    """Whether an ISO date (YYYY-MM-DD) is one Python reads; kept (a drop's values fall on few dates)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _written_json(value: str) -> bool:
    """Whether JSON text the JSONL reader wrote is one Postgres's jsonb reads: an object or an array,
    no non-finite number (NaN, Infinity)."""
    return value[0] in "{[" and "NaN" not in value and "Infinity" not in value


def raw_ready_test(source: Source) -> Callable[[Sequence[str | None]], bool]:
    """Whether a row the reader found no defect in passes every check as it is delivered, and its
    values are what the typed insert would write (`RowChecks.typed_value`): each required value
    present, each value of a set one of the set's exactly, each typed value in a ready form (see
    above; JSON as `well_formed_test` takes it). None or "" is a missing value."""
    iso_date = _PATTERNS[ColumnType.DATE]

    def ready_timestamp(value: str) -> bool:
        return _READY_TIMESTAMP(value) is not None and real_date(value[:10])

    ready_forms = {
        ColumnType.DATE: lambda v: iso_date(v) is not None and real_date(v),
        ColumnType.TIMESTAMP: ready_timestamp,
        ColumnType.INTEGER: lambda v: _READY_INTEGER(v) is not None,
        ColumnType.DECIMAL: _PATTERNS[ColumnType.DECIMAL],
        ColumnType.BOOLEAN: lambda v: v.lower() in ("true", "false"),
        ColumnType.JSON: _written_json,
    }
    if source.file_format != "jsonl":  # a CSV value is not JSON the reader wrote: the checks read it
        ready_forms[ColumnType.JSON] = lambda v: False
    columns = list(enumerate(source.columns))
    # (position, allowed values): a required one must be among them, an optional one missing or among them
    in_set = [(i, frozenset(c.allowed)) for i, c in columns if c.allowed and c.required]
    in_set_or_missing = [(i, frozenset(c.allowed)) for i, c in columns if c.allowed and not c.required]
    present = [i for i, c in columns if c.required and not c.allowed]
    typed = [(i, ready_forms[c.type]) for i, c in columns if c.type in ready_forms]

    def ready(values: Sequence[str | None]) -> bool:
        for i in present:
            value = values[i]
            if not value or value.isspace():
                return False
        for i, members in in_set:
            if values[i] not in members:
                return False
        for i, members in in_set_or_missing:
            value = values[i]
            if value and value not in members:
                return False
        for i, reads in typed:
            value = values[i]
            if value and not reads(value):
                return False
        return True

    return ready


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class RowChecks:
    """SQL fragments for one source; `valid_fn` is pg_input_is_valid or the fallback for Postgres < 16."""

    def __init__(self, source: Source, valid_fn: str = "pg_input_is_valid"):
        self.source = source
        self.valid_fn = valid_fn

    def _value(self, column: Column) -> str:
        return f"btrim({_ident(column.name)}, {_BLANKS_SQL})"

    def _present(self, column: Column) -> str:
        # A first character that is printable ASCII (no blank) makes a value present without trimming it.
        name = _ident(column.name)
        return f"((ascii({name}) between 33 and 126) is true or nullif({self._value(column)}, '') is not null)"

    def _allowed(self, column: Column) -> str:
        return ", ".join(_quote(a) for a in column.allowed)

    def _not_allowed(self, column: Column) -> str:
        # A value delivered as an allowed one (none has a blank) is not trimmed: btrim is the costly part.
        name, allowed = _ident(column.name), self._allowed(column)
        return f"{name} not in ({allowed}) and {self._value(column)} not in ({allowed})"

    def _marked(self, column: Column) -> bool:
        """Whether the well-formed mark covers the column (see well_formed_test)."""
        return column.type in _PATTERNS or (column.type is ColumnType.JSON and self.source.file_format == "jsonl")

    def _type_failure(self, column: Column) -> tuple[str, str] | None:
        # In a row marked well-formed, a value of a marked column matches its pattern, so the
        # pattern test is skipped and the value needs no trimming (no pattern admits a blank at
        # either end).
        name, v, t, valid = _ident(column.name), self._value(column), column.type, self.valid_fn

        def in_range(pattern: str, type_name: str) -> str:
            return (
                f"not (case when well_formed then {valid}({name}, '{type_name}')"
                f" else {v} ~ {_quote(pattern)} and {valid}({v}, '{type_name}') end)"
            )

        if t is ColumnType.INTEGER:
            return in_range(INTEGER, "bigint"), "not an integer"
        if t is ColumnType.DECIMAL:
            pattern = f"{v} ~ {_quote(DECIMAL)} and {valid}({v}, 'numeric')"
            return f"not (well_formed or ({pattern}))", "not a decimal number (digits with '.' separator)"
        if t is ColumnType.BOOLEAN:
            return f"lower({v}) not in ('true', 'false')", "not a boolean (true or false)"
        if t is ColumnType.DATE:
            return in_range(ISO_DATE, "date"), "not a date (YYYY-MM-DD)"
        if t is ColumnType.TIMESTAMP:
            return in_range(ISO_TIMESTAMP, "timestamptz"), "not an ISO-8601 timestamp"
        if t is ColumnType.JSON:
            # A valid JSON text is an object or an array when its first non-blank character (the
            # trimmed value's first) says so.
            opens = f"left({v}, 1) in ('{{', '[')"
            json_value = f"{opens} and {valid}({v}, 'jsonb')"
            if self._marked(column):
                json_value = f"well_formed or ({json_value})"
            return f"not ({json_value})", "not a JSON object or array"
        return None

    def checks(self) -> list[tuple[str, str, str]]:
        """(column, SQL condition true for a bad row, reason) in the order they are tried."""
        result = []
        for column in self.source.columns:
            if column.required:
                result.append((column.name, f"not ({self._present(column)})", "missing required value"))
        for column in self.source.columns:
            failure = self._type_failure(column)
            if failure:
                condition, reason = failure
                result.append((column.name, f"({self._present(column)} and {condition})", reason))
            if column.allowed:
                result.append(
                    (
                        column.name,
                        f"({self._present(column)} and {self._not_allowed(column)})",
                        f"value not allowed (expected one of: {', '.join(column.allowed)})",
                    )
                )
        return result

    def first_failure(self) -> str:
        """SQL giving the number of a staged row's first failing check (1-based, as in `checks()`),
        0 for a row the reader already found defective, NULL for a good row."""
        whens = " ".join(f"when {condition} then {n}" for n, (_, condition, _) in enumerate(self.checks(), start=1))
        return f"case when s.parse_error is not null then 0 {whens} end"

    def failure_columns(self) -> list[str]:
        """The column each check names, by check number."""
        return [column for column, _, _ in self.checks()]

    def failure_reasons(self) -> list[str]:
        return [reason for _, _, reason in self.checks()]

    def typed_value(self, column: Column) -> str:
        """The SQL expression casting a good row's text value to the raw column's type."""
        name, v, t = _ident(column.name), self._value(column), column.type
        if t is ColumnType.STRING:
            # Strings are kept exactly as delivered, except an allowed value: the one its check
            # matched, without the blanks the check trims.
            if not column.allowed:
                return name
            return f"case when {name} in ({self._allowed(column)}) then {name} else {v} end"
        if t is ColumnType.BOOLEAN:
            v = f"lower({v})"
        cast = f"nullif({v}, '')::{SQL_TYPES[t]}"
        if self._marked(column):  # a well-formed row's value has no blank to trim
            return f"case when well_formed then nullif({name}, '')::{SQL_TYPES[t]} else {cast} end"
        return cast

    def record_json(self) -> str:
        """The row as delivered, as JSON, for the quarantine table (unknown columns included)."""
        pairs = ", ".join(f"{_quote(c.name)}, s.{_ident(c.name)}" for c in self.source.columns)
        return f"jsonb_strip_nulls(jsonb_build_object({pairs})) || coalesce(s.extra::jsonb, '{{}}'::jsonb)"
