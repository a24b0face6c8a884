"""Reference for identity stitching: scipy's connected components over the links the dbt model used.

The identities are read back with the stitching model's own compiled query, the links from the
table of its links model, both through a binary COPY; reading them is timed apart from the
reference, which is what an in-memory union-find needs: dense ids, a sparse matrix, the components.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

BINARY_HEADER = 11 + 4 + 4  # signature, flags, header-extension length
ONE_BIGINT = np.dtype([("fields", ">i2"), ("length", ">i4"), ("a", ">i8")])
TWO_BIGINTS = np.dtype([("fields", ">i2"), ("a_length", ">i4"), ("a", ">i8"), ("b_length", ">i4"), ("b", ">i8")])


@dataclass
class Graph:
    nodes: np.ndarray
    a: np.ndarray
    b: np.ndarray
    read_seconds: float

    @property
    def links(self) -> int:
        return len(self.a)


@dataclass
class Components:
    count: int
    nodes: int
    seconds: float
    reindex_seconds: float
    matrix_seconds: float
    components_seconds: float


def _copy_bigints(cur, query: str, dtype: np.dtype) -> np.ndarray:
    """Rows of non-null bigint columns, read with a binary COPY straight into numpy."""
    buffer = io.BytesIO()
    cur.copy_expert(f"copy ({query}) to stdout with (format binary)", buffer)
    data = buffer.getbuffer()
    extension = int.from_bytes(data[15:19], "big")
    return np.frombuffer(data[BINARY_HEADER + extension : len(data) - 2], dtype=dtype)


def read_graph(conn, nodes_sql: str, links_relation: str | None) -> Graph:
    """The identities the model stitched and the links between them."""
    start = time.perf_counter()
    with conn.cursor() as cur:
        nodes_query = (
            f"select node_id::bigint from (\n{nodes_sql.strip().rstrip(';')}\n) as nodes where node_id is not null"
        )
        nodes = _copy_bigints(cur, nodes_query, ONE_BIGINT)["a"].astype(np.int64)
        links = np.zeros(0, dtype=TWO_BIGINTS)
        if links_relation:
            links_query = (
                f"select node_id_a::bigint, node_id_b::bigint from {links_relation}"
                " where node_id_a is not null and node_id_b is not null"
            )
            links = _copy_bigints(cur, links_query, TWO_BIGINTS)
    return Graph(nodes, links["a"].astype(np.int64), links["b"].astype(np.int64), time.perf_counter() - start)


def stitch(graph: Graph, repeats: int = 3) -> Components:
    """The fastest of `repeats` runs: the first one also pays for numpy's and scipy's warm-up."""
    return min((_stitch_once(graph) for _ in range(repeats)), key=lambda run: run.seconds)


def _stitch_once(graph: Graph) -> Components:
    start = time.perf_counter()
    nodes, dense = np.unique(np.concatenate([graph.a, graph.b, graph.nodes]), return_inverse=True)
    reindexed = time.perf_counter()
    n, links = len(nodes), graph.links
    a, b = dense[:links], dense[links : 2 * links]
    matrix = coo_matrix((np.ones(links, dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    built = time.perf_counter()
    count, _ = connected_components(matrix, directed=False)
    done = time.perf_counter()
    return Components(int(count), n, done - start, reindexed - start, built - reindexed, done - built)


def model_component_count(conn, relation: str) -> int | None:
    """Candidate components (before any guard) in the stitching model's table, to check both saw one graph."""
    try:
        with conn.cursor() as cur:
            cur.execute(f"select count(distinct component_node_id) from {relation}")
            return cur.fetchone()[0]
    except Exception:  # noqa: BLE001 - a reshaped model output only loses the cross-check
        conn.rollback()
        return None
