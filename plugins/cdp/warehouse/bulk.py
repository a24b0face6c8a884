"""Bulk writes with COPY: the one fast path into Postgres, shared by every writer."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence


def copy_field(value: str | None) -> str:
    """One field in COPY's text format: NULL as \\N, backslash and control characters escaped."""
    if value is None:
        return "\\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_line(fields: Iterable[str | None]) -> str:
    return "\t".join(copy_field(f) for f in fields) + "\n"


def copy_rows(cur, table: str, columns: Sequence[str], rows: Iterable[Iterable[str | None]]) -> None:
    """COPY text rows (already strings or None) into `table`'s `columns`."""
    buffer = io.StringIO()
    buffer.writelines(copy_line(row) for row in rows)
    buffer.seek(0)
    column_list = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
    cur.copy_expert(f"copy {table} ({column_list}) from stdin", buffer)
