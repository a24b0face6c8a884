"""One benchmark day: the pipeline's stages in the pipeline's order, each measured, each reference beside it."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import psycopg2

from bench import (
    bare_hashing,
    identity_increment,
    ingest_pairs,
    send_capacity,
    stitch_floor,
    stitch_statements,
    union_find,
)
from bench.dbt_layers import Stitching, read_build_timings
from bench.meter import Meter, Reference, StageResult
from cdp import pipeline
from cdp.activation.config import load_activations
from cdp.activation.engine import run_activation
from cdp.contracts import SOURCES
from cdp.governance import check_activation, load_manifest
from cdp.landing import LandingZone
from cdp.warehouse import connect as warehouse_connection

DBT_BUILD = "dbt build"


@contextmanager
def _connect():
    conn = psycopg2.connect(os.environ["WAREHOUSE_URL"], application_name="cdp-bench")
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


class BenchDay:
    def __init__(self, meter: Meter, landing: Path, dt: date, label: str, work: Path, profiler):
        self.meter, self.landing, self.dt, self.label = meter, landing, dt, label
        self.work, self.profile = work, profiler
        self.zone = LandingZone.from_uri(str(landing))
        self.failed = False
        self.findings: list[str] = []

    def _stage(self, name: str, unit: str = "rows"):
        return self.meter.stage(self.label, name, unit)

    def _done(self, stage: StageResult) -> bool:
        """True when the stage worked; a failed stage ends the day (as it ends the pipeline's)."""
        self.failed = self.failed or stage.error is not None
        return not self.failed

    def run(self) -> dict:
        steps = (self.ingest, self.raw_gate, self.identifiers, self.build, self.outputs_gate, self.activation)
        for step in steps:
            if self.failed:
                break
            step()
        mine = [r for r in self.meter.results if r.day == self.label and r.part_of is None]
        ingest = next((r for r in mine if r.stage == "ingest"), None)
        return {
            "label": self.label,
            "dt": self.dt.isoformat(),
            "seconds": round(sum(r.seconds for r in mine), 2),
            "rows": ingest.rows if ingest else None,
            "failed": self.failed,
            "findings": self.findings,
        }

    # -- stages --------------------------------------------------------------------------------

    def ingest(self) -> None:
        per_source, files = {}, {}
        with self._stage("ingest") as stage, self.profile(f"ingest-{self.dt}"):
            for source in SOURCES:
                if not self.zone.is_complete(source, self.dt):
                    continue
                files[source] = [Path(f.uri) for f in self.zone.drop_files(source, self.dt)]
                start = time.perf_counter()
                report = pipeline.ingest_source(str(self.landing), source, self.dt)
                seconds = time.perf_counter() - start
                per_source[source] = {
                    "seconds": round(seconds, 3),
                    "rows_read": report.rows_read,
                    "rows_per_second": round(report.rows_read / seconds, 1) if seconds else None,
                    "quarantined": report.rows_quarantined,
                    "files_rejected": report.files_rejected,
                }
            stage.rows = sum(s["rows_read"] for s in per_source.values())
            stage.detail = {"sources": per_source}
        if not self._done(stage):
            return
        with _connect() as conn:
            plain = ingest_pairs.plain_copy_by_source(conn, files)
        size = sum(path.stat().st_size for paths in files.values() for path in paths)
        seconds, rows = (sum(values) for values in zip(*plain.values(), strict=True))
        note = f"{sum(map(len, files.values()))} files, {size / 1e6:.0f} MB on disk"
        stage.reference = Reference("plain COPY of the same files", seconds, rows, note)
        loads = {source: detail["seconds"] for source, detail in per_source.items()}
        first = {"loader": loads, "plain": {source: copy[0] for source, copy in plain.items()}}
        url = os.environ["WAREHOUSE_URL"]
        more = ingest_pairs.more_rounds(url, self.landing, self.dt, files, ingest_pairs.ROUNDS - 1)
        stage.detail["paired"] = paired = ingest_pairs.share([first, *more])
        slowest = max(per_source.items(), key=lambda item: item[1]["seconds"])
        self.findings.append(
            f"ingest: {paired['share']:.0%} of plain COPY's speed (medians of {paired['rounds']} rounds, each"
            f" source's load followed by COPY of its files: {paired['loader_seconds']:.1f} s against"
            f" {paired['plain_copy_seconds']:.1f} s; the rounds' totals {paired['round_seconds']});"
            f" slowest source {slowest[0]} ({slowest[1]['seconds']:.1f} s, {slowest[1]['rows_per_second']:,.0f} rows/s)"
        )

    def raw_gate(self) -> None:
        with self._stage("raw gate (Great Expectations)", unit="expectations") as stage:
            stage.rows = len(pipeline.raw_gate(self.dt).outcomes)
        self._done(stage)

    def identifiers(self) -> None:
        profile = self.profile(f"identifiers-{self.dt}")
        with self._stage("identifier normalization", unit="new values") as stage, profile:
            counts = pipeline.prepare_identifiers(self.dt)
            stage.rows = counts["normalized"] + counts["rejected"]
            stage.detail = counts
        self._done(stage)

    def build(self) -> None:
        with self._stage(DBT_BUILD, unit="model rows") as stage:
            build = pipeline.build_warehouse(self.dt)
            stage.rows = sum(build.rows_by_model.values())
            stage.detail = {"models": build.models, "tests": build.tests}
        if not self._done(stage):
            return
        timings = read_build_timings(Path(os.environ["DBT_TARGET_PATH"]))
        for layer in timings.layers:
            self.meter.add(
                StageResult(
                    self.label,
                    f"dbt {layer.name}",
                    seconds=layer.wall_seconds,
                    rows=layer.rows or None,
                    unit="rows written",
                    part_of=DBT_BUILD,
                    detail={"node_seconds": round(layer.node_seconds, 2), "models": layer.models, "tests": layer.tests},
                )
            )
        if timings.stitching:
            self._stitching(timings.stitching)
        self.meter.add(
            StageResult(
                self.label,
                "dbt overhead (start, parse, compile, between nodes)",
                seconds=max(stage.seconds - timings.node_wall_seconds, 0.0),
                part_of=DBT_BUILD,
            )
        )
        slow = ", ".join(f"{uid.split('.')[-1]} {s:.1f} s" for uid, s in timings.slowest[:5])
        self.findings.append(f"dbt slowest nodes: {slow}")

    def _stitching(self, stitching: Stitching) -> None:
        stitch = StageResult(
            self.label, f"identity stitching ({stitching.model})", seconds=stitching.seconds,
            unit="links", part_of=DBT_BUILD,
        )  # fmt: skip
        with _connect() as conn:
            graph = union_find.read_graph(conn, stitching.nodes_sql, stitching.links_relation)
            model_components = union_find.model_component_count(conn, stitching.relation)
            stitch.detail["stitch_run"] = identity_increment.stitch_run(conn, self.dt, stitching.model)
            mode = (stitch.detail["stitch_run"] or {}).get("mode", "")
            # only a full run writes the whole table: the floor is measured after one
            table_write = stitch_floor.write_table(conn, stitching.relation) if mode == "full" else None
        components = union_find.stitch(graph)
        statements = stitch_statements.last_run(Path(os.environ["DBT_LOG_PATH"]) / "dbt.log", stitching.model)
        components_seconds = stitch_statements.seconds_of(statements, stitch_statements.CANDIDATE_COMPONENTS)
        stitch.rows = graph.links
        stitch.detail.update(
            {
                "nodes": components.nodes,
                "components_model": model_components,
                "components_scipy": components.count,
                "graph_read_seconds": round(graph.read_seconds, 2),
                "connected_components_seconds": round(components_seconds, 2),
            }
        )
        if table_write:
            stitch.detail["table_write_seconds"] = round(table_write.seconds, 2)
        stitch.reference = Reference(
            "scipy connected_components, same links",
            components.seconds,
            graph.links,
            f"reindex {components.reindex_seconds:.2f} s + CSR {components.matrix_seconds:.2f} s"
            f" + components {components.components_seconds:.2f} s",
        )
        self.meter.add(stitch)
        if components_seconds and components.seconds > 0:
            # The goal is set on the whole model; this says how much of the gap is the components themselves.
            self.findings.append(
                f"stitching ({mode} run): its candidate connected components took {components_seconds:.1f} s"
                f" of the model's {stitching.seconds:.1f} s"
                f" ({components_seconds / components.seconds:.1f}× union-find);"
                " the rest applies the guards, assigns the profile ids and writes the history"
            )
        if table_write and components.seconds > 0:
            finding = (
                f"stitching (full run): writing its table alone ({table_write.rows:,} rows, {table_write.indexes}"
                f" indexes, on a copy) took {table_write.seconds:.2f} s"
                f" ({table_write.seconds / components.seconds:.1f}× union-find)"
            )
            if components_seconds:
                before_guards = (table_write.seconds + components_seconds) / components.seconds
                finding += f"; with its candidate components, {before_guards:.1f}× before any guard, profile id"
                finding += " or history"
            self.findings.append(finding)
        if model_components is not None and model_components != components.count:
            self.findings.append(
                f"stitching: the model found {model_components:,} candidate components, scipy {components.count:,}"
            )

    def outputs_gate(self) -> None:
        with self._stage("outputs gate (Great Expectations)", unit="expectations") as stage:
            stage.rows = len(pipeline.outputs_gate(self.dt).outcomes)
        self._done(stage)

    def activation(self) -> None:
        """The pipeline's activation step, split: policy check, planning (a dry run), sending (the rest)."""
        activations = load_activations()
        with self._stage("activation policy check", unit="activations") as check:
            manifest = load_manifest()
            for activation in activations:
                check_activation(activation, manifest)
            check.rows = len(activations)
        if not self._done(check):
            return
        profile = self.profile(f"activation-planning-{self.dt}")
        with self._stage("activation planning (dry run)", unit="records") as plan, profile:
            planned = {a.name: _activate(a, self.dt, dry_run=True) for a in activations}
            plan.rows = sum(r.members for r in planned.values())
            plan.detail = {name: r.counts() for name, r in planned.items()}
        if not self._done(plan):
            return
        with _connect() as conn:
            values = [v for a in activations for v in bare_hashing.identifiers(conn, a)]
        seconds = bare_hashing.hash_all(values)
        plan.reference = Reference("bare hashlib.sha256 of their identifiers", seconds, len(values))

        profile = self.profile(f"activation-sending-{self.dt}")
        with self._stage("activation sending (run minus its plan)", unit="records") as send, profile:
            results = {a.name: _activate(a, self.dt) for a in activations}
            send.detail = {name: r.counts() for name, r in results.items()}
            send.rows = sum(r.sent + r.rejected + r.failed for r in results.values())
            stopped = [f"{name}: {r.error}" for name, r in results.items() if r.error]
            if stopped:
                raise RuntimeError("; ".join(stopped))
        send.detail["run_seconds"] = round(send.seconds, 3)
        send.seconds = max(send.seconds - plan.seconds, 0.0)
        if not self._done(send):
            return
        seconds = 0.0
        with _connect() as conn:
            for activation in activations:
                result = results[activation.name]
                records = result.sent + result.rejected + result.failed
                batches = send_capacity.prepared_batches(conn, activation, self.dt, records)
                seconds += send_capacity.post_batches(activation, batches, self.work / "scratch" / activation.name)
        send.reference = Reference("the destinations' clients posting prepared batches", seconds, send.rows)


def _activate(activation, dt: date, dry_run: bool = False):
    with warehouse_connection() as conn:
        return run_activation(conn, activation, dt, dry_run=dry_run)


def rerun_unchanged(meter: Meter, dt: date) -> None:
    """Every activation again for the same date with nothing changed: it must send nothing."""
    with meter.stage("rerun", f"activation rerun for {dt}, nothing changed", unit="records sent") as stage:
        results = [_activate(a, dt) for a in load_activations()]
        stage.rows = sum(r.sent for r in results)
        stage.detail = {r.activation: r.counts() for r in results}


def goals(results: dict, full_day_goal_seconds: float, goal_scale: int) -> list[dict]:
    stages = results["stages"]
    days = results["days"]

    def find(day: str, prefix: str) -> dict | None:
        return next((s for s in stages if s["day"] == day and s["stage"].startswith(prefix)), None)

    def ratio_goal(goal: str, target: str, stage: dict | None, limit: float, invert: bool) -> dict:
        ref = stage and stage.get("reference")
        if not ref or not ref["time_ratio"]:
            return {"goal": goal, "target": target, "measured": "not measured", "met": None}
        ratio = ref["time_ratio"]
        if invert:  # a speed share: reference time / stage time
            return {"goal": goal, "target": target, "measured": f"{100 / ratio:.0f}%", "met": 1 / ratio >= limit}
        return {"goal": goal, "target": target, "measured": f"{ratio:.1f}×", "met": ratio <= limit}

    first = days[0]["label"]
    full = days[0]["seconds"]
    at_scale = results["scale"] >= goal_scale
    out = [
        {
            "goal": f"full day at {goal_scale:,} customers",
            "target": f"≤ {full_day_goal_seconds / 60:.0f} min on 2 cores",
            "measured": f"{full:.0f} s" + ("" if at_scale else f" (at {results['scale']:,} customers)"),
            "met": (full <= full_day_goal_seconds) if at_scale else None,
        }
    ]
    if len(days) > 1 and not days[1]["failed"]:
        share = days[1]["seconds"] / full if full else 0
        rows = (days[1]["rows"] or 0) / (days[0]["rows"] or 1)
        out.append(
            {
                "goal": "incremental day as share of the full day",
                "target": "≤ 10%",
                "measured": f"{share * 100:.0f}% (its input is {rows * 100:.0f}% of day 1's rows)",
                "met": share <= 0.10,
            }
        )
    out += identity_increment.goals(stages, find(days[-1]["label"], "identity stitching") if len(days) > 1 else None)
    out.append(_ingest_goal(find(first, "ingest")))
    out.append(ratio_goal("stitching time vs union-find", "≤ 3×", find(first, "identity stitching"), 3.0, False))
    plan = find(first, "activation planning")
    if plan and plan["rows_per_second"]:
        rate = plan["rows_per_second"]
        out.append(
            {
                "goal": "activation planning and hashing",
                "target": "≥ 100,000 records/s",
                "measured": f"{rate:,.0f} records/s",
                "met": rate >= 100_000,
            }
        )
    rerun = next((s for s in stages if s["day"] == "rerun"), None)
    if rerun and rerun["error"] is None:
        sent = rerun["rows"]
        out.append({"goal": "unchanged rerun sends", "target": "0 records", "measured": f"{sent}", "met": sent == 0})
    return out


def _ingest_goal(stage: dict | None) -> dict:
    """The ingest's share of plain COPY's speed, from the medians of the paired rounds."""
    goal = {"goal": "ingest speed vs plain COPY", "target": "≥ 50%"}
    paired = stage and stage["detail"].get("paired")
    if not paired or not paired["share"]:
        return {**goal, "measured": "not measured", "met": None}
    measured = f"{paired['share']:.0%} (medians of {paired['rounds']} rounds)"
    return {**goal, "measured": measured, "met": paired["share"] >= 0.5}
