"""The benchmark's results as JSON (everything) and a Markdown table (what a person reads)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.meter import StageResult

MB = 1024 * 1024


def _num(value: float | int | None, digits: int = 1) -> str:
    if value is None:
        return ""
    if isinstance(value, int) or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _mb(value: int | None) -> str:
    return "" if value is None else f"{value / MB:,.0f}"


def _cpu(r: StageResult) -> str:
    if r.cpu_seconds is None:
        return ""
    return f"{r.cpu_seconds:.1f} / {r.postgres_cpu_seconds:.1f} / {r.other_cpu_seconds:.1f}"


def _stage_row(r: StageResult) -> str:
    name = f"↳ {r.stage}" if r.part_of else r.stage
    if r.error:
        name += f" — FAILED: {r.error}"
    rows = f"{_num(r.rows)} {r.unit}" if r.rows is not None else ""
    peak = f"{_mb(r.peak_rss_bytes)} / {_mb(r.postgres_peak_bytes)}" if r.peak_rss_bytes else ""
    ref = r.reference
    ref_cells = ["", "", "", ""]
    if ref:
        ratio = f"{r.seconds / ref.seconds:.2f}×" if ref.seconds > 0 else ""
        rate = ref.rows / ref.seconds if ref.rows and ref.seconds > 0 else None
        ref_cells = [ref.name, _num(ref.seconds, 3), _num(rate, 0), ratio]
    cells = [name, _num(r.seconds, 2), rows, _num(r.rows_per_second, 0), _cpu(r), peak, *ref_cells]
    return "| " + " | ".join(cells) + " |"


HEADER = (
    "| stage | wall s | processed | per s | CPU s bench / Postgres / other | peak MB bench / Postgres"
    " | reference (same run, same input) | ref s | ref per s | time vs ref |\n"
    "|---|--:|--:|--:|--:|--:|---|--:|--:|--:|"
)


def markdown(results: dict) -> str:
    stages = [StageResult(**_stage_fields(s)) for s in results["stages"]]
    lines = [
        f"# cdp benchmark — {results['scale']:,} customers",
        "",
        f"Measured {results['measured_at']} on {results['machine']['description']}; "
        f"machine load during the run: {_load_sentence(results['machine_load'])}.",
        "",
    ]
    for day in results["days"]:
        lines += [f"## {day['label']}", "", HEADER]
        lines += [_stage_row(s) for s in stages if s.day == day["label"]]
        lines += [
            f"| **day total** | **{day['seconds']:.1f}** | {_num(day['rows'])} rows in | | | | | | | |",
            "",
        ]
    other = [s for s in stages if s.day not in {d["label"] for d in results["days"]}]
    if other:
        lines += ["## Setup and reruns", "", HEADER, *[_stage_row(s) for s in other], ""]
    lines += ["## Goals", "", "| goal | target | measured | met |", "|---|---|---|---|"]
    for goal in results["goals"]:
        met = {True: "yes", False: "**no**", None: "n/a"}[goal["met"]]
        lines.append(f"| {goal['goal']} | {goal['target']} | {goal['measured']} | {met} |")
    if results.get("findings"):
        lines += ["", "## Where the time goes", ""]
        lines += [f"- {finding}" for finding in results["findings"]]
    lines += [
        "",
        "CPU s: this process (loader, dbt, GX and activation run in it) / every Postgres process /"
        " every other process on the machine during the stage. Peak MB: this process's high-water"
        " mark during the stage / Postgres private memory of all its processes plus shared memory,"
        f" sampled every {results['sample_seconds']} s. ↳ rows are parts of the dbt build, from dbt's"
        " own per-node timings (wall = union of the layer's node intervals). time vs ref: the stage's"
        " wall time divided by the reference's (1.00× = as fast as the physical limit).",
    ]
    return "\n".join(lines) + "\n"


def _load_sentence(load: dict) -> str:
    return (
        f"{load['other_processes_share_of_machine'] * 100:.0f}% of the {load['cores']} cores used by other processes"
        f" ({load['other_processes_cpu_seconds']:.0f} CPU s), load average {load['load_average_start'][0]:.2f}"
        f" at start and {load['load_average_end'][0]:.2f} at end"
    )


def _stage_fields(stage: dict) -> dict:
    from bench.meter import Reference

    fields = {k: v for k, v in stage.items() if k not in ("rows_per_second", "reference")}
    ref = stage.get("reference")
    fields["reference"] = Reference(ref["name"], ref["seconds"], ref["rows"], ref["note"]) if ref else None
    return fields


def write(results: dict, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = results["measured_at"].replace(":", "").replace("-", "")[:13]
    base = out_dir / f"bench-{results['scale']}-{stamp}"
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown(results), encoding="utf-8")
    (out_dir / "latest.json").write_text(json_path.read_text(), encoding="utf-8")
    (out_dir / "latest.md").write_text(md_path.read_text(), encoding="utf-8")
    return json_path, md_path
