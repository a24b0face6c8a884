"""Who was withheld from each activation and why: the latest run of each, from activation.sync_log.

Counts per reason only (no profile ids, no identifiers): what a person reads in the run summary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Withheld:
    activation: str
    destination: str
    reason: str
    profiles: int


def withheld_by_reason(conn) -> list[Withheld]:
    """Profiles withheld in each activation's latest run, per reason (most frequent first)."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('activation.sync_log')")
        if cur.fetchone()[0] is None:
            return []
        cur.execute(
            """
            with latest as (
                select distinct on (activation) activation, run_id
                from activation.sync_log
                order by activation, at desc, run_id desc
            )
            select s.activation, s.destination, coalesce(s.reason, 'no reason recorded'), count(distinct s.profile_id)
            from activation.sync_log s
            join latest using (activation, run_id)
            where s.outcome = 'withheld'
            group by 1, 2, 3
            order by 1, 4 desc, 3
            """
        )
        return [Withheld(*row) for row in cur.fetchall()]
