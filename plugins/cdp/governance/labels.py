"""Data usage labels from the dbt manifest, following lineage from sources to the models built on them.

Labels are declared in dbt YAML under `config: meta: data_labels: [...]`, on a source (every
table of it), a source table, a model or a column. A model carries every label of its parents
(table labels); a column carries the labels of the same-named columns of its parents, whether
documented there or not (dbt's manifest has no column lineage: a model that renames or derives
a labelled column labels the new column in its own YAML). Labels only accumulate downstream.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

LABELS_KEY = "data_labels"
RELATION_TYPES = ("model", "seed", "snapshot")


def _declared(*properties: dict | None) -> frozenset[str]:
    """The labels under `data_labels` in any of a node's meta dictionaries."""
    labels: set[str] = set()
    for meta in properties:
        value = (meta or {}).get(LABELS_KEY) or []
        labels.update([value] if isinstance(value, str) else (str(v) for v in value))
    return frozenset(labels)


def _node_meta(node: dict) -> list[dict | None]:
    return [node.get("meta"), (node.get("config") or {}).get("meta")]


def _merged_meta(node: dict) -> dict:
    return {k: v for meta in _node_meta(node) for k, v in (meta or {}).items()}


@dataclass(frozen=True)
class Node:
    unique_id: str
    name: str  # how a person reads it: "crm.crm_customers" for a source table, the model's name otherwise
    parents: tuple[str, ...]
    labels: frozenset[str]  # declared on the node itself
    column_labels: dict[str, frozenset[str]]  # declared on its columns (lower-case names)
    columns: tuple[str, ...]  # documented columns
    meta: dict  # the node's own meta (config and top-level merged)


def _nodes(manifest: dict) -> dict[str, Node]:
    nodes: dict[str, Node] = {}
    parent_map = manifest.get("parent_map", {})
    for uid, source in manifest.get("sources", {}).items():
        columns = source.get("columns", {})
        nodes[uid] = Node(
            uid,
            f"{source['source_name']}.{source['name']}",
            (),
            _declared(source.get("source_meta"), *_node_meta(source)),
            {c.lower(): _declared(*_node_meta(col)) for c, col in columns.items()},
            tuple(c.lower() for c in columns),
            _merged_meta(source),
        )
    for uid, node in manifest.get("nodes", {}).items():
        if node.get("resource_type") not in RELATION_TYPES:
            continue
        columns = node.get("columns", {})
        nodes[uid] = Node(
            uid,
            node["name"],
            tuple(parent_map.get(uid) or node.get("depends_on", {}).get("nodes", [])),
            _declared(*_node_meta(node)),
            {c.lower(): _declared(*_node_meta(col)) for c, col in columns.items()},
            tuple(c.lower() for c in columns),
            _merged_meta(node),
        )
    return nodes


class Lineage:
    """Every source and model of a dbt project with the labels it declares and the labels it carries."""

    def __init__(self, manifest: dict):
        self.nodes = _nodes(manifest)
        self.table: dict[str, frozenset[str]] = {}
        self.columns: dict[str, dict[str, frozenset[str]]] = {}
        graph = {uid: [p for p in node.parents if p in self.nodes] for uid, node in self.nodes.items()}
        for uid in TopologicalSorter(graph).static_order():
            node = self.nodes[uid]
            table = set(node.labels)
            columns: dict[str, set[str]] = {c: set(labels) for c, labels in node.column_labels.items()}
            for parent in graph[uid]:
                table |= self.table[parent]
                for column, labels in self.columns[parent].items():
                    columns.setdefault(column, set()).update(labels)
            self.table[uid] = frozenset(table)
            self.columns[uid] = {c: frozenset(labels) for c, labels in columns.items() if labels}

    @classmethod
    def from_file(cls, path: Path) -> Lineage:
        with open(path, encoding="utf-8") as fh:
            return cls(json.load(fh))

    def model(self, name: str) -> str | None:
        """The unique id of the model (or seed, snapshot) called `name`."""
        return next(
            (uid for uid, n in self.nodes.items() if n.name == name and not n.unique_id.startswith("source.")), None
        )

    def column_labels(self, uid: str, column: str) -> frozenset[str]:
        return self.columns[uid].get(column.lower(), frozenset())

    def declared(self) -> list[tuple[str, str | None, str]]:
        """(node name, column or None, label) for every label written in the project's YAML."""
        found = []
        for node in self.nodes.values():
            found += [(node.name, None, label) for label in sorted(node.labels)]
            for column, labels in sorted(node.column_labels.items()):
                found += [(node.name, column, label) for label in sorted(labels)]
        return found

    def trace(self, uid: str, label: str, column: str | None = None) -> list[str]:
        """The path along which `label` reaches the node (or its column), from a node that declares it.

        Breadth first towards the parents that carry the label, so the path is a shortest one.
        """
        column = column.lower() if column else None

        def carries(n: str) -> bool:
            return label in (self.column_labels(n, column) if column else self.table[n])

        def declares(n: str) -> bool:
            node = self.nodes[n]
            return label in (node.column_labels.get(column, frozenset()) if column else node.labels)

        came_from: dict[str, str | None] = {uid: None}
        queue = deque([uid])
        while queue:
            current = queue.popleft()
            if declares(current):
                path = []
                step: str | None = current
                while step is not None:
                    path.append(f"{self.nodes[step].name}.{column}" if column else self.nodes[step].name)
                    step = came_from[step]
                return path
            for parent in self.nodes[current].parents:
                if parent in self.nodes and parent not in came_from and carries(parent):
                    came_from[parent] = current
                    queue.append(parent)
        raise ValueError(f"label {label} does not reach {self.nodes[uid].name}")
