"""How long the scheduler takes to parse the DAG files, with the dbt build as one task and as a
task per model (Cosmos, rendered from the manifest).

The scheduler parses every DAG file again and again, so this cost recurs all day. Each mode is
parsed in a fresh interpreter, as a DAG processor does; the stage's CPU time is that
interpreter's own (imports included), read from inside it. The per-model mode reads a manifest
written for the bench (in its own folder): the project's manifest may be older than the dbt files,
and then cdp_build falls back to one task, which is not what that mode measures.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.meter import Meter
from cdp.dbt_tasks import write_manifest

DAG_FOLDER = Path(__file__).resolve().parents[1] / "dags"
MODES = ("build", "models")
PARSE = """
import json, runpy, time
from pathlib import Path
started = time.process_time()
parsed = [runpy.run_path(str(path)) for path in sorted(Path({folder!r}).glob("*.py"))]
cpu = time.process_time() - started
from airflow.sdk import DAG
dags = [value for namespace in parsed for value in namespace.values() if isinstance(value, DAG)]
from cdp.dbt_tasks import per_model_tasks
per_model, why = per_model_tasks()
print(json.dumps({{
    "cpu_seconds": cpu, "dags": len(dags), "tasks": sum(len(d.tasks) for d in dags),
    "per_model": per_model, "why": why,
}}))
"""


def measure(meter: Meter, work: Path) -> str:
    """One setup stage per mode (wall time of the parse, its CPU seconds, the tasks it made); returns
    the finding for the report (the parse's CPU is another process's: the table counts it as other)."""
    manifest = work / "manifest.json"
    # A stage of its own: a failed `dbt parse` is recorded (the per-model parse then says the
    # manifest is missing) instead of ending the bench before it writes its results.
    with meter.stage("setup", "dbt parse: the manifest the per-model DAG renders from", unit="files") as written:
        write_manifest(manifest)
        written.rows = 1
    parts = []
    for mode in MODES:
        with meter.stage("setup", f"parse the DAG files (dbt as {mode})", unit="tasks") as stage:
            out = subprocess.run(
                [sys.executable, "-c", PARSE.format(folder=str(DAG_FOLDER))],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "CDP_DBT_TASKS": mode, "CDP_DBT_MANIFEST": str(manifest)},
            )
            parsed = json.loads(out.stdout.strip().splitlines()[-1])
            stage.rows = parsed["tasks"]
            stage.detail = {
                "parse_cpu_seconds": round(parsed["cpu_seconds"], 2),
                "dags": parsed["dags"],
                "task_per_model": parsed["per_model"],
            }
        if not stage.error:
            tasks = f"{parsed['tasks']} tasks"
            if mode == "models" and not parsed["per_model"]:
                tasks += f"; not a task per model: {parsed['why']}"
            parts.append(f"{parsed['cpu_seconds']:.1f} s of CPU with dbt as {mode} ({tasks})")
    return "DAG files: a parse takes " + ("; ".join(parts) or "not measured (failed)")
