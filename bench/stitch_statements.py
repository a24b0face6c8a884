"""Where a stitching run's time goes, statement by statement, from dbt's debug log file.

The bench sets DBT_LOG_LEVEL_FILE=debug, so dbt.log holds every statement a model ran
("On model.<project>.<model>: <sql>") followed by its outcome ("SQL status: <status> in <s>
seconds"). A statement is named by the work table it fills or the table it changes, so that the
runs of two days can be set side by side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_STAMP = re.compile(r"^(?:\x1b\[\d+m)?\d\d:\d\d:\d\d\.\d+ ")
_STATUS = re.compile(r"SQL status: (.*) in ([\d.]+) seconds")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CREATED = re.compile(r"create (?:unlogged )?table (\S+) as", re.IGNORECASE)
_CHANGED = re.compile(r"^(insert into|update|delete from) (\S+)", re.IGNORECASE)


# The work tables of the candidate connected components (macros/identity/connected_components.sql
# under the prefix stitch.sql gives them): the part of a run an in-memory union-find also does.
CANDIDATE_COMPONENTS = "cand__cc_"


@dataclass
class Statement:
    name: str
    status: str
    seconds: float


def _table(relation: str, model: str) -> str:
    """A relation's table name, without the model's prefix of its work tables."""
    table = relation.replace('"', "").rsplit(".", 1)[-1]
    return table.removeprefix(f"{model}__").removeprefix("w_")


def _name(sql: str, model: str) -> str:
    """A short name: the work table a statement fills, the verb and table it changes, or its first words."""
    text = " ".join(_COMMENT.sub("", sql).split())
    created = _CREATED.search(text)
    if created:
        return _table(created.group(1), model)
    changed = _CHANGED.match(text)
    if changed:
        return f"{changed.group(1).split()[0].lower()} {_table(changed.group(2), model)}"
    return " ".join(text.split()[:3])


def _entries(log: Iterable[str]) -> Iterator[list[str]]:
    """dbt's log entries: each stamped line with the lines that follow it (a statement's SQL)."""
    entry: list[str] | None = None
    for raw in log:
        line = raw.rstrip("\n")
        if _STAMP.match(line):
            if entry:
                yield entry
            entry = [line]
        elif entry is not None:
            entry.append(line)
    if entry:
        yield entry


def last_run(log_path: Path, model: str) -> list[Statement]:
    """The statements of the model's last run in the log (empty when the log has none)."""
    if not log_path.exists():
        return []
    runs: list[list[Statement]] = []
    sql: str | None = None  # the statement whose outcome comes next
    began, statement = "Began running node model.", f".{model}: "
    with log_path.open(errors="replace") as log:  # the whole build's log: read line by line
        for first, *more in _entries(log):
            if began in first and first.rstrip().rsplit(".", 1)[-1] == model:
                runs.append([])
            status = _STATUS.search(first)
            if status and sql is not None and runs:
                runs[-1].append(Statement(_name(sql, model), status.group(1), float(status.group(2))))
            ran = runs and statement in first and "On model." in first
            sql = "\n".join([first.split(statement, 1)[1], *more]) if ran else None
    return runs[-1] if runs else []


def seconds_of(statements: list[Statement], work_table: str) -> float:
    """Seconds of the statements that fill, change, analyze or rename the work tables whose names
    hold `work_table` (e.g. CANDIDATE_COMPONENTS): one step of the run, set apart."""
    return sum(s.seconds for s in statements if work_table in s.name)


def summary(statements: list[Statement], slowest: int = 6, small: float = 0.1) -> str:
    """One line: the count and total, the slowest statements, and the many small ones together."""
    if not statements:
        return "no statements found in dbt's log"
    total = sum(s.seconds for s in statements)
    ranked = sorted(statements, key=lambda s: s.seconds, reverse=True)[:slowest]
    minor = [s for s in statements if s.seconds < small]
    slow = ", ".join(f"{s.name} {s.seconds:.2f} s" for s in ranked)
    return (
        f"{len(statements)} statements, {total:.1f} s; slowest: {slow};"
        f" {len(minor)} under {small} s: {sum(s.seconds for s in minor):.1f} s"
    )
