"""Run the benchmark: `python -m bench.run --scale 50000` (what `make bench SCALE=...` does).

Everything runs in this one process against a private embedded warehouse in a temporary
folder (the demo's warehouse and `.cdp/` are not touched); dbt writes its target there too.
Each day runs the pipeline's own stage functions in the pipeline's order, each stage timed
on its own, and each physical-limit reference is measured right after the stage it bounds.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
FULL_DAY_GOAL_SECONDS = 600
GOAL_SCALE = 1_000_000

log = logging.getLogger("bench")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=50_000, help="customers (default 50,000; 1,000,000 = headline)")
    parser.add_argument("--days", type=int, default=2, help="days: the first is a full load, later ones incremental")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results", help="where JSON and Markdown go")
    parser.add_argument(
        "--landing", type=Path, help="use this landing zone (generated with the same --scale) instead of generating"
    )
    parser.add_argument(
        "--profile", action="store_true", help="write pyinstrument profiles of ingest, identifiers and activation"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (warehouse stopped) for study")
    args = parser.parse_args(argv)
    if args.days < 2:
        parser.error("--days must be at least 2: a full day and an incremental one")
    return args


def _isolate(work: Path) -> None:
    """Point every piece of state at the temporary folder before anything reads it."""
    os.environ.update(
        {
            "CDP_HOME": str(work / "state"),
            "DBT_TARGET_PATH": str(work / "dbt" / "target"),
            "DBT_LOG_PATH": str(work / "dbt" / "logs"),
            # every statement in dbt.log, for the stitching runs' breakdown (bench.stitch_statements)
            "DBT_LOG_LEVEL_FILE": "debug",
        }
    )


def _machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")
    meminfo = Path("/proc/meminfo").read_text().split() if Path("/proc/meminfo").exists() else ["", "0"]
    memory_gb = int(meminfo[1]) / 1024 / 1024
    cores = os.cpu_count()
    description = f"{cores} cores ({model or platform.processor()}), {memory_gb:.0f} GB RAM, Linux {platform.release()}"
    return {"description": description, "cores": cores, "cpu_model": model, "memory_gb": round(memory_gb, 1)}


def _postgres_facts(url: str) -> dict:
    names = ("server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "max_parallel_workers_per_gather")
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select name, setting || coalesce(unit, '') from pg_settings where name = any(%s)", (list(names),))
        facts = dict(cur.fetchall())
    conn.close()
    return facts


class Profiler:
    """pyinstrument around chosen stages when --profile is given; a no-op otherwise."""

    def __init__(self, out_dir: Path | None):
        self.out_dir = out_dir

    def __call__(self, name: str):
        if self.out_dir is None:
            return _Nothing()
        from pyinstrument import Profiler as Pyinstrument

        out_dir = self.out_dir

        class _Profile:
            def __enter__(self):
                self.profiler = Pyinstrument(interval=0.005)
                self.profiler.start()

            def __exit__(self, *exc):
                self.profiler.stop()
                out_dir.mkdir(parents=True, exist_ok=True)
                (out_dir / f"{name}.txt").write_text(self.profiler.output_text(unicode=True, show_all=False))
                (out_dir / f"{name}.html").write_text(self.profiler.output_html())

        return _Profile()


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="cdp-bench-"))
    _isolate(work)
    # Imported after the state folder is set, so nothing resolves the demo's paths first.
    from bench.dag_parse import measure as measure_dag_parse
    from bench.day import BenchDay, goals, rerun_unchanged
    from bench.identity_increment import measure as measure_identity_increment
    from bench.meter import Meter, PostgresProcesses
    from bench.report import markdown, write
    from cdp.warehouse.embedded import EmbeddedWarehouse

    warehouse = EmbeddedWarehouse(work / "warehouse")
    measured_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"bench: {args.scale:,} customers, {args.days} days; private warehouse in {work}", flush=True)
    try:
        os.environ["WAREHOUSE_URL"] = warehouse.start()
        postgres = PostgresProcesses.of_data_directory(warehouse.pgdata)
        profiler = Profiler(args.out / "profiles" if args.profile else None)
        with Meter(postgres) as meter:
            landing = args.landing or work / "landing"
            if args.landing is None:
                _generate(meter, landing, args)
            days = []
            for index in range(args.days):
                label = "day 1 (full load)" if index == 0 else f"day {index + 1} (incremental)"
                day = BenchDay(meter, landing, args.start + timedelta(days=index), label, work, profiler)
                days.append(day.run())
                print(f"bench: {label} done in {days[-1]['seconds']:.1f} s", flush=True)
                if days[-1]["failed"]:
                    break
            stitching_findings = []
            if not days[-1]["failed"]:
                rerun_unchanged(meter, date.fromisoformat(days[-1]["dt"]))
                stitching_findings = measure_identity_increment(meter, date.fromisoformat(days[-1]["dt"]))
            dag_parse = measure_dag_parse(meter, work)
            load = meter.machine_load()
        results = {
            "scale": args.scale,
            "seed": args.seed,
            "measured_at": measured_at,
            "machine": _machine(),
            "postgres": _postgres_facts(os.environ["WAREHOUSE_URL"]),
            "python": platform.python_version(),
            "sample_seconds": 0.25,
            "machine_load": load,
            "days": days,
            "stages": [r.as_dict() for r in meter.results],
        }
        results["goals"] = goals(results, FULL_DAY_GOAL_SECONDS, GOAL_SCALE)
        results["findings"] = [*days[0].get("findings", []), *stitching_findings, dag_parse]
    finally:
        warehouse.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    json_path, md_path = write(results, args.out)
    print(markdown(results))
    print(f"bench: results in {json_path} and {md_path}")
    return 1 if any(day["failed"] for day in days) else 0


def _generate(meter, landing: Path, args: argparse.Namespace) -> None:
    from cdp.sample_data import generate_landing_zone

    with meter.stage("setup", "generate landing zone") as stage:
        stats = generate_landing_zone(landing, args.scale, args.days, args.start, seed=args.seed)
        stage.rows = stats.total_rows
        stage.detail = {k: v for k, v in stats.as_dict().items()}
    if stage.error:
        raise RuntimeError(f"generating the landing zone failed: {stage.error}")
    print(f"bench: generated {stats.total_rows:,} rows in {stage.seconds:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
