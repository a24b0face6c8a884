"""Reference for identity stitching: scipy's connected components over the links the dbt model used.

The graph is read back with the stitching model's own compiled query (columns node_id,
linked_node_id), through a binary COPY; reading it is timed apart from the reference, which
is what an in-memory union-find needs: dense ids, a sparse matrix, and the components.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BINARY_HEADER = 11 + 4 + 4  # signature, flags, header-extension length
LINK_ROW = np.dtype([("fields", ">i2"), ("a_len", ">i4"), ("a", ">i8"), ("b_len", ">i4"), ("b", ">i8")])


@dataclass
class Graph:
    a: np.ndarray
    b: np.ndarray
    read_seconds: float

    @property
    def rows(self) -> int:
        return len(self.a)

    @property
    def links(self) -> int:
        return int(np.count_nonzero(self.a != self.b))


@dataclass
class Components:
    count: int
    nodes: int
    seconds: float
    reindex_seconds: float
    matrix_seconds: float
    components_seconds: float


def read_graph(conn, graph_sql: str) -> Graph:
    """Every row of the model's graph query; a node-only row (no link) comes back as a self-link."""
    query = graph_sql.strip().rstrip(";")
    start = time.perf_counter()
    buffer = io.BytesIO()
    with conn.cursor() as cur:
        cur.copy_expert(
            "copy (select coalesce(node_id, linked_node_id)::bigint, coalesce(linked_node_id, node_id)::bigint"
            f" from (\n{query}\n) as graph where coalesce(node_id, linked_node_id) is not null) to stdout"
            " with (format binary)",
            buffer,
        )
    data = buffer.getbuffer()
    extension = int.from_bytes(data[15:19], "big")
    rows = np.frombuffer(data[BINARY_HEADER + extension : len(data) - 2], dtype=LINK_ROW)
    graph = Graph(rows["a"].astype(np.int64), rows["b"].astype(np.int64), 0.0)
    graph.read_seconds = time.perf_counter() - start
    return graph


def stitch(graph: Graph) -> Components:
    start = time.perf_counter()
    nodes, dense = np.unique(np.concatenate([graph.a, graph.b]), return_inverse=True)
    reindexed = time.perf_counter()
    n = len(nodes)
    a, b = dense[: graph.rows], dense[graph.rows :]
    matrix = coo_matrix((np.ones(graph.rows, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    built = time.perf_counter()
    count, _ = connected_components(matrix, directed=False)
    done = time.perf_counter()
    return Components(int(count), n, done - start, reindexed - start, built - reindexed, done - built)


def model_component_count(conn, relation: str) -> int | None:
    """Components in the stitching model's output, to check both stitched the same graph."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"select count(distinct root_node_id) from {relation}")
            return cur.fetchone()[0]
    except Exception:  # noqa: BLE001 - a reshaped model output only loses the cross-check
        conn.rollback()
        return None
