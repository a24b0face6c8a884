"""Splitting one `dbt build` into its layers with dbt's own per-node timings (run_results.json).

A node's layer is its folder under models/ (`intermediate/<layer>` counts as `<layer>`); a test
belongs to the layer of the model it tests. With several dbt threads nodes overlap, so a layer's
wall time is the union of its nodes' execution intervals, and node-seconds are given beside it.
The stitching model is the one whose materialization takes a `links_model` (identity_stitch):
its own SQL selects the identities (node_id) and the links model holds the links it stitches.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

LAYER_ORDER = ("staging", "identity", "profiles", "audiences")
STITCHING_MODEL = "int_identity_components_stitched"  # used when no model declares a links_model


@dataclass
class Layer:
    name: str
    intervals: list[tuple[float, float]] = field(default_factory=list)
    node_seconds: float = 0.0
    models: int = 0
    tests: int = 0
    rows: int = 0  # rows written by its table models

    @property
    def wall_seconds(self) -> float:
        return _union_length(self.intervals)


@dataclass
class Stitching:
    model: str
    seconds: float
    relation: str  # the model's table: one row per identity, with its component
    nodes_sql: str  # the model's compiled SQL: the identities it stitched (node_id)
    links_relation: str | None  # the table of links it stitched (node_id_a, node_id_b)


@dataclass
class BuildTimings:
    layers: list[Layer]
    node_wall_seconds: float  # union over every node: the rest of a build is dbt's own overhead
    stitching: Stitching | None
    slowest: list[tuple[str, float]]  # the slowest nodes, for the findings


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def _execute_interval(result: dict) -> tuple[float, float] | None:
    for timing in result.get("timing") or []:
        if timing.get("name") == "execute" and timing.get("started_at") and timing.get("completed_at"):
            return _seconds(timing["started_at"]), _seconds(timing["completed_at"])
    return None


def _model_layer(node: dict) -> str:
    folders = node.get("fqn", [])[1:-1]
    if folders and folders[0] == "intermediate" and len(folders) > 1:
        return folders[1]
    return folders[0] if folders else "other"


def _layer_rank(name: str) -> int:
    return LAYER_ORDER.index(name) if name in LAYER_ORDER else len(LAYER_ORDER)


def _node_layer(unique_id: str, nodes: dict) -> str:
    node = nodes.get(unique_id, {})
    if node.get("resource_type") == "model":
        return _model_layer(node)
    tested = node.get("attached_node") or node.get("tested_node_unique_id")
    if tested in nodes:
        return _model_layer(nodes[tested])
    models = [d for d in node.get("depends_on", {}).get("nodes", []) if d.startswith("model.") and d in nodes]
    layers = [_model_layer(nodes[m]) for m in models]
    return max(layers, key=_layer_rank) if layers else "other"


def read_build_timings(target_path: Path) -> BuildTimings:
    run_results = json.loads((target_path / "run_results.json").read_text())
    manifest = json.loads((target_path / "manifest.json").read_text())
    nodes = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}
    layers: dict[str, Layer] = {}
    every_interval, timed = [], []
    stitching = None
    for result in run_results["results"]:
        unique_id = result["unique_id"]
        node = nodes.get(unique_id, {})
        layer = layers.setdefault(_node_layer(unique_id, nodes), Layer(_node_layer(unique_id, nodes)))
        interval = _execute_interval(result)
        if interval:
            layer.intervals.append(interval)
            every_interval.append(interval)
        seconds = float(result.get("execution_time") or 0.0)
        layer.node_seconds += seconds
        timed.append((unique_id, seconds))
        if node.get("resource_type") == "model":
            layer.models += 1
            rows = (result.get("adapter_response") or {}).get("rows_affected")
            if isinstance(rows, int) and rows > 0:
                layer.rows += rows
            links_model = node.get("config", {}).get("links_model")
            if links_model or (stitching is None and node.get("name") == STITCHING_MODEL):
                links = next((n for n in nodes.values() if n.get("name") == links_model), {})
                stitching = Stitching(
                    node["name"], seconds, result.get("relation_name"), result.get("compiled_code") or "",
                    links.get("relation_name"),
                )  # fmt: skip
        else:
            layer.tests += 1
    ordered = sorted(layers.values(), key=lambda lay: (_layer_rank(lay.name), lay.name))
    return BuildTimings(
        layers=ordered,
        node_wall_seconds=_union_length(every_interval),
        stitching=stitching,
        slowest=sorted(timed, key=lambda t: -t[1])[:8],
    )
