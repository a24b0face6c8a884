"""Rebuild the identity graph in full: `cdp identity rebuild [--date YYYY-MM-DD]`.

For a change of config/identity_rules.yml to reach past data: the identifier values already
normalized are checked again against the rules file (blocked values and patterns), the linking
rules are written to prep.identity_rules, and `dbt build` runs for the date with
identity_full_rebuild, which recomputes every connected component and applies the rules to all of
them. Profile ids are kept: merges the new rules cause are recorded in identity.profile_merges,
and a profile they split keeps its id on the part holding its anchor. (A daily run whose rules
fingerprint changed does the same by itself; this command does it now, for the latest run date by
default, so that a rerun of that date is what the next scheduled run continues from.)
"""

from __future__ import annotations

import logging
from datetime import date

from cdp.identity.normalize import normalize_identifiers
from cdp.transform import BuildResult, build
from cdp.warehouse import connect

log = logging.getLogger(__name__)


def latest_run_date(conn) -> date | None:
    with conn.cursor() as cur:
        cur.execute("select to_regclass('identity.stitch_runs') is not null")
        if not cur.fetchone()[0]:
            return None
        cur.execute("select max(run_date) from identity.stitch_runs")
        return cur.fetchone()[0]


def rebuild(run_date: date | None = None) -> tuple[date, BuildResult, dict]:
    """Re-normalize, then build `run_date` (default: the latest stitched date) with a full identity
    rebuild. Returns the date, dbt's result and that run's row of identity.stitch_runs."""
    with connect() as conn:
        run_date = run_date or latest_run_date(conn)
        if run_date is None:
            raise LookupError("no identity run yet: give --date, or run the pipeline first")
        normalize_identifiers(conn, None)
    log.info("identity: full rebuild for run date %s", run_date)
    result = build(run_date.isoformat(), dbt_vars={"identity_full_rebuild": True})
    with connect() as conn, conn.cursor() as cur:
        cur.execute("select * from identity.stitch_runs where run_date = %s", (run_date,))
        names = [column.name for column in cur.description]
        stats = dict(zip(names, cur.fetchone(), strict=True))
    return run_date, result, stats
