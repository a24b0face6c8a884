"""Where a stitching run's time goes, statement by statement, from dbt's debug log file.

The bench sets DBT_LOG_LEVEL_FILE=debug, so dbt.log holds every statement a model ran
("On model.<project>.<model>: <sql>") followed by its outcome ("SQL status: <status> in <s>
seconds"). A statement is named by the work table it fills or the table it changes, so that the
runs of two days can be set side by side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_STAMP = re.compile(r"^(?:\x1b\[\d+m)?\d\d:\d\d:\d\d\.\d+ ")
_STATUS = re.compile(r"SQL status: (.*) in ([\d.]+) seconds")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_CREATED = re.compile(r"create (?:unlogged )?table (\S+) as", re.IGNORECASE)
_CHANGED = re.compile(r"^(insert into|update|delete from) (\S+)", re.IGNORECASE)


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


def last_run(log_path: Path, model: str) -> list[Statement]:
    """The statements of the model's last run in the log (empty when the log has none)."""
    runs: list[list[Statement]] = []
    sql: list[str] | None = None
    if not log_path.exists():
        return []
    for line in log_path.read_text(errors="replace").splitlines():
        if _STAMP.match(line):
            if "Began running node model." in line:
                running = line.rsplit("model.", 1)[1].strip()
                if running.endswith(f".{model}") or running == model:
                    runs.append([])
                continue
            if runs and f".{model}: " in line and "On model." in line:
                sql = [line.split(f".{model}: ", 1)[1]]
                continue
            status = _STATUS.search(line)
            if status and sql is not None and runs:
                runs[-1].append(Statement(_name("\n".join(sql), model), status.group(1), float(status.group(2))))
            sql = None
        elif sql is not None:
            sql.append(line)
    return runs[-1] if runs else []


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
