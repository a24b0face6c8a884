"""The run summary a person reads: what was loaded, built, gated and activated."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from cdp import settings
from cdp.activation.config import load_activations
from cdp.audiences.membership import latest_change_counts
from cdp.governance.withheld import withheld_by_reason
from cdp.pipeline import DayResult
from cdp.quality import gate_log
from cdp.quality.audience_sizes import audience_sizes
from cdp.warehouse import connect


def _count(cur, table: str) -> int:
    """Rows in `table`, or 0 when the build has not created it yet."""
    cur.execute("select to_regclass(%s)", (table,))
    if cur.fetchone()[0] is None:
        return 0
    cur.execute(f"select count(*) from {table}")
    return cur.fetchone()[0]


def warehouse_totals(conn) -> dict:
    """Profiles, identities and audience sizes as the warehouse holds them now."""
    with conn.cursor() as cur:
        totals = {
            "profiles": _count(cur, "profiles.profiles"),
            "identities": _count(cur, "identity.identity_map"),
            "rejected_identities": _count(cur, "identity.rejected_identities"),
            "audiences": audience_sizes(cur),
            "audience_changes": latest_change_counts(cur),
        }
    totals["withheld"] = withheld_by_reason(conn)
    return totals


def _table(headers: list[str], rows: list[list]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
    line = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    out = [line.format(*headers), line.format(*["-" * w for w in widths])]
    out += [line.format(*[str(x) for x in row]) for row in rows]
    return ["  " + x for x in out]


def render(results: list[DayResult], totals: dict | None = None) -> str:
    if totals is None:
        with connect() as conn:
            totals = warehouse_totals(conn)
    lines = ["", "Run summary", "==========="]
    if results:
        lines.append(f"days: {results[0].dt} .. {results[-1].dt} ({len(results)})")

    per_source = defaultdict(lambda: [0, 0, 0, 0, 0])
    for day in results:
        for drop in day.drops:
            counts = per_source[drop.source]
            counts[0] += len(drop.files)
            counts[1] += drop.rows_read
            counts[2] += drop.rows_loaded
            counts[3] += drop.rows_quarantined
            counts[4] += drop.files_rejected
    lines += ["", "Ingest (rows per source)"]
    lines += _table(
        ["source", "files", "read", "loaded", "quarantined", "rejected files"],
        [[s, *c] for s, c in sorted(per_source.items())] or [["(nothing loaded)", 0, 0, 0, 0, 0]],
    )
    missing = sorted({f"{s} {d.dt}" for d in results for s in d.missing_drops})
    if missing:
        lines.append(f"  no drop delivered: {', '.join(missing)}")

    lines += ["", "Identity and profiles"]
    new_ids = sum(d.identifiers.get("normalized", 0) for d in results)
    new_rejected = sum(d.identifiers.get("rejected", 0) for d in results)
    lines.append(f"  identifier values normalized: {new_ids}, rejected (placeholder or invalid): {new_rejected}")
    lines.append(f"  identities stitched: {totals['identities']}   profiles: {totals['profiles']}")
    builds = [d.build for d in results if d.build]
    if builds:
        lines.append(f"  dbt build: {builds[-1].models} models, {builds[-1].tests} tests passed (last day)")

    lines += ["", "Audiences (members now; entered and exited on the latest run date)"]
    changes = totals.get("audience_changes", {})
    lines += _table(
        ["audience", "members", "entered", "exited"],
        [[a, n, *changes.get(a, ("-", "-"))] for a, n in totals["audiences"].items()] or [["(none)", 0, 0, 0]],
    )

    activated = {}
    for day in results:
        for a in day.activations:
            counts = activated.setdefault((a.activation, a.destination), [0, 0, 0, 0, 0, 0, 0])
            counts[0] += len(a.plan.adds)
            counts[1] += len(a.plan.updates) + len(a.plan.removes)
            counts[2] += a.sent
            counts[3] += a.rejected
            counts[4] += a.failed
            if not a.skipped:  # the last day that ran says who is withheld and delivered now
                counts[5], counts[6] = len(a.plan.withheld), a.delivered_rows
    lines += ["", "Activation (records per destination; adds, updates and sends over all days)"]
    headers = ["activation", "destination", "adds", "updates+removes", "sent", "rejected", "failed"]
    lines += _table(
        [*headers, "withheld now", "rows delivered"],
        [[name, dest, *c] for (name, dest), c in activated.items()] or [["(none)", "", 0, 0, 0, 0, 0, 0, 0]],
    )
    stopped = [f"{d.dt} {a.activation}: {a.error}" for d in results for a in d.activations if a.error]
    lines += [f"  STOPPED (the next run resumes): {line}" for line in stopped]
    skipped = [f"{d.dt} {a.activation}" for d in results for a in d.activations if a.skipped]
    if skipped:
        lines.append(f"  not re-sent (destination holds a newer date): {', '.join(skipped)}")
    lines += ["", "Withheld (profiles per reason, latest run of each activation)"]
    lines += _withheld_table(totals.get("withheld") or [])

    lines += ["", "Quality gates"]
    for day in results:
        for gate in day.gates:
            status = "passed" if gate.success else "FAILED"
            lines.append(f"  {day.dt} {gate.checkpoint}: {status} ({len(gate.outcomes)} expectations)")
            lines += ["  " + x for x in gate.report_lines()[1:] if "FAILED" in x]
    docs = next((g.data_docs for d in results for g in d.gates if g.data_docs), None)
    if docs:
        lines.append(f"  Data Docs: {docs}")
    errors = [f"{d.dt}: {d.error}" for d in results if d.error]
    errors += [f"{d.dt}: activation {a.activation} stopped" for d in results for a in d.activations if a.error]
    lines += ["", "Result: " + ("FAILED — " + "; ".join(errors) if errors else "all stages succeeded"), ""]
    return "\n".join(lines)


def _rows(cur, table: str, sql: str, params: tuple) -> list[tuple]:
    """The query's rows, or none when `table` does not exist yet."""
    cur.execute("select to_regclass(%s)", (table,))
    if cur.fetchone()[0] is None:
        return []
    cur.execute(sql, params)
    return cur.fetchall()


def _withheld_table(withheld) -> list[str]:
    return _table(
        ["activation", "reason", "profiles"],
        [[w.activation, w.reason, w.profiles] for w in withheld] or [["(none)", "", 0]],
    )


def day_report(dt: date, activations: dict[str, dict | None] | None = None, stopped: str | None = None) -> str:
    """One day's chain in Airflow (ingest, build, activation), from what the warehouse recorded for `dt`.

    `activations` holds each activation task's counts (None when it failed or did not run); None
    when the chain stopped before activation, and `stopped` then says where. The gates' outcomes
    for `dt` come from quality.gate_runs, whichever DAG ran them.
    """
    with connect() as conn, conn.cursor() as cur:
        totals = warehouse_totals(conn)
        gates = gate_log.for_day(conn, dt)
        loads = _rows(
            cur,
            "ingest.load_report",
            "select source, count(*), sum(rows_read), sum(rows_loaded), sum(rows_quarantined),"
            " count(rejected_reason) from ingest.load_report where dt = %s group by source order by source",
            (dt,),
        )
        merges = _rows(cur, "identity.profile_merges", "select count(*) from identity.profile_merges", ())
        changes = _rows(
            cur,
            "audiences.membership_changes",
            "select audience, count(*) filter (where change = 'entered'), count(*) filter (where change = 'exited')"
            " from audiences.membership_changes where run_date = %s group by audience order by audience",
            (dt,),
        )
    lines = ["", f"Daily run summary for {dt}", "=" * 34, "", "Ingest (rows per source)"]
    lines += _table(
        ["source", "files", "read", "loaded", "quarantined", "rejected files"],
        [list(row) for row in loads] or [["(nothing loaded)", 0, 0, 0, 0, 0]],
    )
    lines += ["", "Identity and profiles"]
    lines.append(f"  identities stitched: {totals['identities']}   profiles: {totals['profiles']}")
    lines.append(
        f"  identities rejected: {totals['rejected_identities']}   profile merges: {merges[0][0] if merges else 0}"
    )
    lines += ["", "Audiences (members now; entered and exited on this date)"]
    changed = {audience: (entered, exited) for audience, entered, exited in changes}
    lines += _table(
        ["audience", "members", "entered", "exited"],
        [[a, n, *changed.get(a, (0, 0))] for a, n in totals["audiences"].items()] or [["(none)", 0, 0, 0]],
    )
    lines += ["", "Activation (records per destination)"]
    unfinished = []
    if activations is None:
        lines.append("  not run: the chain stopped before activation")
    else:
        destinations = {a.name: f"{a.destination} ({a.connection_id})" for a in load_activations()}
        counts = ("sent", "withheld", "rejected", "failed")
        lines += _table(
            ["activation", "destination", *counts],
            [
                [name, destinations.get(name, "?"), *(c.get(k, 0) for k in counts)]
                if c
                else [name, destinations.get(name, "?"), "not finished (see its task log)", "", "", ""]
                for name, c in activations.items()
            ]
            or [["(none)", "", 0, 0, 0, 0]],
        )
        unfinished = sorted(name for name, c in activations.items() if not c)
        lines += ["", "Withheld (profiles per reason, latest run of each activation)"]
        lines += _withheld_table(totals["withheld"])
    lines += ["", "Quality gates"]
    lines += [f"  {gate.line()}" for gate in gates] or ["  none ran for this date"]
    lines.append(f"  Data Docs: {settings.data_docs_dir() / 'index.html'}")
    problems = [stopped] if stopped else []
    problems += [f"activation not finished: {name}" for name in unfinished]
    lines += ["", "Result: " + ("FAILED — " + "; ".join(problems) if problems else "all stages succeeded"), ""]
    return "\n".join(lines)


def as_markdown(title: str, report: str) -> str:
    """A report as a Markdown file: the fixed-width tables kept in a text block."""
    return f"# {title}\n\n```text\n{report.strip()}\n```\n"


def write_report(name: str, title: str, report: str) -> Path:
    """`<reports dir>/<name>.md`, replaced when the same run or day is reported again."""
    path = settings.reports_dir() / f"{name}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(as_markdown(title, report), encoding="utf-8")
    return path
