"""Incremental identity stitching against a full rebuild, measured after the last bench day.

The reference's goal for the incremental run is stated for a day that brings at most 1% new
links: such a run should take at most 10% of a full rebuild. The generated days bring more (a
day of web sessions links several percent of the identities anew), so the bench also makes such
a day on purpose, with the stitching model alone:

1. 1% of the links (a fixed sample) are held back from the links table;
2. the model is rebuilt in full for the last day without them (what `cdp identity rebuild`
   does to it): the yardstick;
3. the links come back and the model runs, incrementally, for the next date.

The last bench day's own incremental stitching is compared with the same rebuild. The warehouse
is left with one more stitching run; nothing runs after this.
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from bench import stitch_statements
from bench.dbt_layers import STITCHING_MODEL, read_build_timings
from bench.meter import Meter
from cdp.transform import build
from cdp.warehouse import connect

HELD_BACK = "bench_held_back_links"
# A fixed 1% of the links: their node ids are already hashes, so any residue class is a fair sample.
SAMPLE = "abs(node_id_a % 100) = 7"
GOAL_SHARE = 0.10
REBUILD = "identity stitching, full rebuild"
QUIET_DAY = "identity stitching, incremental run"


def stitch_run(conn, dt: date, model: str) -> dict | None:
    """The statistics the stitching model recorded for this run (mode, rounds, counts)."""
    try:
        with conn.cursor() as cur:
            cur.execute("select * from identity.stitch_runs where run_date = %s and model_name = %s", (dt, model))
            row = cur.fetchone()
            names = [c.name for c in cur.description]
    except psycopg2.Error:
        conn.rollback()
        return None
    return {n: v for n, v in zip(names, row, strict=True) if n not in ("run_date", "model_name")} if row else None


def _run_stitching(dt: date, full: bool) -> tuple[float, dict, str]:
    """The stitching model alone (and its tests) for `dt`: the model's own seconds (dbt's timing),
    its stitch_runs row and where its time went (dbt's log). A failed model or test raises BuildFailed."""
    build(dt.isoformat(), STITCHING_MODEL, dbt_vars={"identity_full_rebuild": full})
    stitching = read_build_timings(Path(os.environ["DBT_TARGET_PATH"])).stitching
    with connect() as conn:
        run = stitch_run(conn, dt, stitching.model)
    mode = "full" if full else "incremental"
    if not run or run["mode"] != mode:
        raise RuntimeError(f"the stitching of {dt} did not run {mode}: {run}")
    statements = stitch_statements.last_run(Path(os.environ["DBT_LOG_PATH"]) / "dbt.log", stitching.model)
    return stitching.seconds, run, stitch_statements.summary(statements)


def measure(meter: Meter, last_day: date) -> list[str]:
    """The rebuild and the quiet day as bench stages; returns a finding per run: its statements."""
    links = read_build_timings(Path(os.environ["DBT_TARGET_PATH"])).stitching.links_relation
    with connect() as conn, conn.cursor() as cur:
        cur.execute(f"drop table if exists {HELD_BACK}; create table {HELD_BACK} (like {links})")
        cur.execute(
            f"with held as (delete from {links} where {SAMPLE} returning *) insert into {HELD_BACK} select * from held"
        )
        held = cur.rowcount
    try:
        with meter.stage("identity", f"{REBUILD} of {last_day} without 1% of links", unit="links") as stage:
            seconds, run, rebuild_statements = _run_stitching(last_day, full=True)
            stage.rows = run["link_count"]
            stage.detail = {"model_seconds": round(seconds, 2), "held_back_links": held, "stitch_run": run}
    finally:  # the links come back whatever happened
        with connect() as conn, conn.cursor() as cur:
            cur.execute(f"insert into {links} select * from {HELD_BACK}; drop table {HELD_BACK}")
    if stage.error:
        return []
    next_day = last_day + timedelta(days=1)
    with meter.stage("identity", f"{QUIET_DAY} of {next_day}: the 1% come back", unit="new links") as stage:
        seconds, run, quiet_statements = _run_stitching(next_day, full=False)
        stage.rows = held
        stage.detail = {"model_seconds": round(seconds, 2), "stitch_run": run}
    findings = [f"stitching statements, full rebuild: {rebuild_statements}"]
    if not stage.error:
        findings.append(f"stitching statements, incremental run with 1% new links: {quiet_statements}")
    return findings


def goals(stages: list[dict], last_day_stitching: dict | None) -> list[dict]:
    """The incremental goal, for the quiet day and for the last bench day, against the rebuild."""
    rebuild = next((s for s in stages if s["stage"].startswith(REBUILD)), None)
    quiet = next((s for s in stages if s["stage"].startswith(QUIET_DAY)), None)
    if not rebuild or rebuild["error"]:
        return []
    runs = []  # (label, seconds, the run's stitch_runs row)
    if quiet and not quiet["error"]:
        runs.append(("a day with 1% new links", quiet["detail"]["model_seconds"], quiet["detail"]["stitch_run"]))
    if last_day_stitching:
        last_run = last_day_stitching["detail"].get("stitch_run")
        runs.append(("the last bench day", last_day_stitching["seconds"], last_run))
    full_seconds = rebuild["detail"]["model_seconds"]
    out = []
    for label, seconds, run in runs:
        reach = ""
        if run and run.get("scope_node_count") and run.get("node_count"):
            reach = f"; its changes reach {run['scope_node_count'] / run['node_count']:.1%} of the identities"
        out.append(
            {
                "goal": f"incremental identity stitching vs a full rebuild: {label}",
                "target": f"≤ {GOAL_SHARE:.0%}",
                "measured": f"{seconds / full_seconds:.0%} ({seconds:.1f} s of {full_seconds:.1f} s){reach}",
                "met": seconds / full_seconds <= GOAL_SHARE,
            }
        )
    return out
