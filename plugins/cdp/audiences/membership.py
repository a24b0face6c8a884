"""Reading the audience membership history that the dbt build records (models/audiences/membership).

For activation and the run summary: who entered and who left an audience on a run date
(audiences.membership_changes). The history is written by dbt only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class DayChanges:
    entered: list[str] = field(default_factory=list)  # profile ids, sorted
    exited: list[str] = field(default_factory=list)


def _recorded(cur) -> bool:
    cur.execute("select to_regclass('audiences.membership_changes') is not null")
    return cur.fetchone()[0]


def changes_of_day(cur, audience: str, run_date: date) -> DayChanges:
    """The profiles that entered and exited `audience` on `run_date` (empty before any build)."""
    changes = DayChanges()
    if not _recorded(cur):
        return changes
    cur.execute(
        "select change, profile_id from audiences.membership_changes"
        " where audience = %s and run_date = %s order by profile_id",
        (audience, run_date),
    )
    for change, profile_id in cur.fetchall():
        (changes.entered if change == "entered" else changes.exited).append(profile_id)
    return changes


def latest_change_counts(cur) -> dict[str, tuple[int, int]]:
    """audience -> (entered, exited) on the latest run date whose membership was recorded."""
    if not _recorded(cur):
        return {}
    cur.execute(
        "select runs.audience,"
        " count(case when changes.change = 'entered' then 1 end),"
        " count(case when changes.change = 'exited' then 1 end)"
        " from audiences.membership_runs as runs"
        " left join audiences.membership_changes as changes"
        "   on changes.audience = runs.audience and changes.run_date = runs.run_date"
        " where runs.run_date = (select max(run_date) from audiences.membership_runs)"
        " group by runs.audience order by runs.audience"
    )
    return {audience: (entered, exited) for audience, entered, exited in cur.fetchall()}
