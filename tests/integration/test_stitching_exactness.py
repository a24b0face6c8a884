"""The connected-components macro the identity stitching runs, against an in-memory union-find.

Adversarial graphs (chains of 10^5 nodes with ascending, descending, random and random 64-bit
ids; stars of 10^5 leaves with the hub holding the smallest and the largest id; a 10^5 cycle;
cliques; a binary tree; a random graph at the percolation threshold; duplicate links,
self-loops and isolated nodes) go through `cdp.connected_components` (dbt run-operation
label_connected_components, the same macro the identity model calls) on the embedded Postgres,
and the labels must equal scipy's connected components node for node: every node's label is
the smallest node_id of its component. The rounds must grow with log(component size).
"""

from __future__ import annotations

import math

import numpy as np
import psycopg2
import pytest
from identity_support import copy_columns, fetch_map, private_database, run_operation
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

pytestmark = pytest.mark.integration

N = 100_000
RNG = np.random.default_rng(20261102)


def _path(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ids[:-1], ids[1:]


def _cycle(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ids, np.roll(ids, -1)


def _cliques(sizes: list[int], start: int) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for size in sizes:
        members = RNG.permutation(size) + start
        i, j = np.triu_indices(size, k=1)
        a.append(members[i])
        b.append(members[j])
        start += size
    return np.concatenate(a), np.concatenate(b)


def _edge_cases() -> tuple[list, list]:
    """Duplicate links in both orientations, self-loops, isolated nodes declared with null or
    with themselves, a node that only has a self-loop, and a small chain written twice."""
    a = [10, 11, 10, 11, 10, 20, 21, 30, 40, 41, 42, 50, 51, 52, 51]
    b = [11, 10, 11, 10, 10, None, 21, 30, 41, 42, 40, 51, 52, 51, 50]
    return a, b


def _graphs() -> dict[str, tuple]:
    random_ids = RNG.choice(np.iinfo(np.int64).max, size=N, replace=False) * RNG.choice([-1, 1], size=N)
    percolation_ids = RNG.permutation(N) + 1
    tree_ids = RNG.permutation(N) + 1
    return {
        "chain_ascending": _path(np.arange(1, N + 1)),
        "chain_descending": _path(np.arange(N, 0, -1)),
        "chain_random": _path(RNG.permutation(N) + 1),
        "chain_random_int64": _path(random_ids),
        "star_hub_smallest": (np.full(N, 1), np.arange(2, N + 2)),
        "star_hub_largest": (np.full(N, N + 1), np.arange(1, N + 1)),
        "cycle_random": _cycle(RNG.permutation(N) + 1),
        "cliques": _cliques([2, 3, 10, 60, 250], start=1),
        "binary_tree_random": (tree_ids[np.arange(1, N) // 2], tree_ids[1:]),
        "random_percolation": (
            percolation_ids[RNG.integers(0, N, N // 2)],
            percolation_ids[RNG.integers(0, N, N // 2)],
        ),
        "edge_cases": _edge_cases(),
    }


def _union_find_roots(node_ids: list, linked_ids: list) -> dict[int, int]:
    """node -> smallest node of its component, by scipy's connected_components."""
    a = np.asarray(node_ids, dtype=object)
    b = np.asarray(linked_ids, dtype=object)
    linked = np.array([x is not None for x in b])
    nodes = np.unique(np.concatenate([a.astype(np.int64), b[linked].astype(np.int64)]))
    ia = np.searchsorted(nodes, a[linked].astype(np.int64))
    ib = np.searchsorted(nodes, b[linked].astype(np.int64))
    graph = coo_matrix((np.ones(ia.size, dtype=np.int8), (ia, ib)), shape=(nodes.size, nodes.size))
    _, component = connected_components(graph, directed=False)
    smallest = np.full(component.max() + 1, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, component, nodes)
    return dict(zip(nodes.tolist(), smallest[component].tolist(), strict=True))


@pytest.fixture(scope="module")
def labelled(embedded_server, tmp_path_factory):
    """Every graph loaded, labelled by the SQL macro in one dbt invocation; yields
    {shape: (expected roots, actual roots, stats)}."""
    graphs = _graphs()
    with private_database(embedded_server, tmp_path_factory.mktemp("state")) as url:
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("create schema cc_exactness")
            conn.commit()
            jobs = []
            for shape, (a, b) in graphs.items():
                copy_columns(conn, f"cc_exactness.{shape}", {"node_id": list(a), "linked_node_id": list(b)})
                jobs.append({"graph": f"cc_exactness.{shape}", "labels": f"cc_exactness.{shape}_labels"})
            run_operation("label_connected_components", {"jobs": jobs})
            results = {}
            for shape, (a, b) in graphs.items():
                actual = fetch_map(conn, f"select node_id, root_node_id from cc_exactness.{shape}_labels")
                with conn.cursor() as cur:
                    cur.execute(
                        f"select node_count, link_count, rounds, jump_passes from cc_exactness.{shape}_labels_stats"
                    )
                    stats = dict(zip(("nodes", "links", "rounds", "jump_passes"), cur.fetchone(), strict=True))
                results[shape] = (_union_find_roots(list(a), list(b)), actual, stats)
            yield results
        finally:
            conn.close()


@pytest.mark.parametrize(
    "shape",
    [
        "chain_ascending",
        "chain_descending",
        "chain_random",
        "chain_random_int64",
        "star_hub_smallest",
        "star_hub_largest",
        "cycle_random",
        "cliques",
        "binary_tree_random",
        "random_percolation",
        "edge_cases",
    ],
)
def test_partition_equals_union_find_node_for_node(labelled, shape):
    expected, actual, _ = labelled[shape]
    assert actual.keys() == expected.keys(), "the labels must cover exactly the graph's nodes"
    wrong = {node: (actual[node], root) for node, root in expected.items() if actual[node] != root}
    assert not wrong, f"{len(wrong)} nodes labelled differently, e.g. {list(wrong.items())[:5]}"


@pytest.mark.parametrize(
    "shape",
    [
        "chain_ascending",
        "chain_descending",
        "chain_random",
        "chain_random_int64",
        "star_hub_smallest",
        "star_hub_largest",
        "cycle_random",
        "binary_tree_random",
        "random_percolation",
    ],
)
def test_rounds_grow_with_the_log_of_the_component_size(labelled, shape):
    expected, _, stats = labelled[shape]
    largest = max(np.unique(list(expected.values()), return_counts=True)[1])
    bound = 2 * math.ceil(math.log2(largest)) + 5
    assert 1 <= stats["rounds"] <= bound, stats
    assert stats["jump_passes"] <= 4 * bound, stats


def test_edge_cases_keep_isolated_nodes_and_ignore_self_loops_and_duplicates(labelled):
    expected, actual, stats = labelled["edge_cases"]
    assert actual[20] == 20 and actual[21] == 21 and actual[30] == 30  # isolated: null, self, self-loop
    assert actual[10] == actual[11] == 10
    assert {actual[n] for n in (40, 41, 42)} == {40}
    assert {actual[n] for n in (50, 51, 52)} == {50}
    assert stats["links"] == 6  # 10-11, 40-41, 41-42, 40-42, 50-51, 51-52: duplicates and self-loops dropped
    assert stats["nodes"] == len(expected) == 11
