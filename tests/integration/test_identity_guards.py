"""Linking rules that guard against over-merging, on the real dbt project and the embedded Postgres.

1. The unique-namespace guard (`cdp.resolve_unique_conflicts`, run through dbt run-operation
   label_unique_conflicts) against a sequential replay in Python: links taken one at a time by
   rank, a link refused when it would put two values of a unique namespace in one group. Random
   graphs with one to three unique namespaces, conflicts arising through chains, not only on one
   record.
2. The rules end to end (`dbt build` on a small landing): a store kiosk over its hub limit links
   nobody, a household conflict that only arises through a chain of records is cut where the
   replay cuts it, the profile size cap keeps the strongest and most recent identities, blocked
   values never link, and a rule change rebuilds the graph and keeps the profile ids (the part
   holding a profile's anchor keeps the id when it splits; a profile whose anchor is blocked
   keeps it on its best remaining identity).
"""

from __future__ import annotations

import hashlib
import math
from datetime import date

import numpy as np
import psycopg2
import pytest
from identity_support import (
    build_identity,
    canonical_partition,
    copy_columns,
    fetch_map,
    insert_raw,
    private_database,
    profile_of,
    rows,
    run_operation,
)

from cdp.identity.normalize import normalize_identifiers
from cdp.identity.rules import load_rules, parse_rules
from cdp.ingest.loader import ensure_tables

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-10"


# --- 1. the guard against a sequential replay -----------------------------------------------------


def replay(masks: dict[int, int], links: list[tuple[int, int, int]]) -> dict[int, int]:
    """The rule as stated: links in rank order, one at a time; a link joining two groups whose
    unique-namespace masks overlap is not made. Returns node -> group representative."""
    parent = {node: node for node in masks}
    group_mask = dict(masks)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, a, b in sorted(links):
        ra, rb = find(a), find(b)
        if ra != rb and not group_mask[ra] & group_mask[rb]:
            parent[rb] = ra
            group_mask[ra] |= group_mask[rb]
    return {node: find(node) for node in masks}


def _random_graphs(rng: np.random.Generator) -> tuple[dict[int, int], list[tuple[int, int]]]:
    masks: dict[int, int] = {}
    pairs: list[tuple[int, int]] = []
    next_id = -(2**40)  # negative and positive ids, as the hashed node ids are
    for _ in range(400):
        n = int(rng.integers(2, 40))
        unique_namespaces = int(rng.choice([1, 1, 1, 2, 3]))
        share = float(rng.choice([0.1, 0.3, 0.6]))
        ids = [next_id + int(i) * 7919 for i in rng.permutation(n)]
        next_id += n * 7919 + 2**33
        for node in ids:
            masks[node] = 1 << int(rng.integers(unique_namespaces)) if rng.random() < share else 0
        for _ in range(int(rng.integers(n // 2, 3 * n))):
            a, b = rng.choice(n, 2)
            pairs.append((ids[a], ids[b]))  # duplicates and self-loops included
    # a conflict that arises only through a chain: crm 1 - email - loyalty - phone - crm 2
    chain = [10**15 + i for i in range(5)]
    masks.update(dict(zip(chain, [1, 0, 0, 0, 1], strict=True)))
    pairs += list(zip(chain, chain[1:], strict=False))
    # one big component: 3,000 nodes, 5% crm
    big = [2 * 10**15 + i for i in rng.permutation(3000)]
    masks.update({node: 1 if rng.random() < 0.05 else 0 for node in big})
    pairs += [(big[int(a)], big[int(b)]) for a, b in rng.integers(0, 3000, (6000, 2))]
    # two unique namespaces alternating along a chain (the slow case of phase B)
    alternating = [3 * 10**15 + i for i in range(40)]
    masks.update({node: 1 << (i % 2) for i, node in enumerate(alternating)})
    pairs += list(zip(alternating, alternating[1:], strict=False))
    return masks, pairs


@pytest.fixture(scope="module")
def replayed(embedded_server, tmp_path_factory):
    rng = np.random.default_rng(20261110)
    masks, pairs = _random_graphs(rng)
    ranks = rng.permutation(len(pairs)) + 1
    links = [(int(r), a, b) for r, (a, b) in zip(ranks, pairs, strict=True)]
    with private_database(embedded_server, tmp_path_factory.mktemp("state")) as url:
        conn = psycopg2.connect(url)
        try:
            with conn.cursor() as cur:
                cur.execute("create schema guard")
            conn.commit()
            copy_columns(conn, "guard.nodes", {"node_id": list(masks), "unique_mask": list(masks.values())})
            copy_columns(
                conn,
                "guard.links",
                {
                    "node_id_a": [a for _, a, _ in links],
                    "node_id_b": [b for _, _, b in links],
                    "link_rank": [r for r, _, _ in links],
                },
            )
            run_operation(
                "label_unique_conflicts",
                {"jobs": [{"nodes": "guard.nodes", "links": "guard.links", "labels": "guard.labels"}]},
            )
            actual = fetch_map(conn, "select node_id, group_node_id from guard.labels")
            (rounds,) = rows(conn, "select rounds from guard.labels_stats")[0]
        finally:
            conn.close()
    yield masks, links, actual, rounds


def test_guard_equals_the_sequential_replay(replayed):
    masks, links, actual, _ = replayed
    expected = replay(masks, links)
    assert actual.keys() == expected.keys()
    assert canonical_partition(actual) == canonical_partition(expected)


def test_no_group_holds_two_values_of_a_unique_namespace(replayed):
    masks, _, actual, _ = replayed
    seen: dict[tuple[int, int], int] = {}
    for node, group in actual.items():
        if masks[node]:
            key = (group, masks[node])
            assert key not in seen, f"group {group} holds {seen[key]} and {node}"
            seen[key] = node


def test_transitive_conflict_is_cut(replayed):
    _, _, actual, _ = replayed
    chain = [10**15 + i for i in range(5)]
    assert actual[chain[0]] != actual[chain[4]]


def test_guard_rounds_stay_bounded(replayed):
    # Phase A halves the free groups per round; the alternating 40-node chain of two unique
    # namespaces needs about one phase-B round per pair.
    _, _, _, rounds = replayed
    assert rounds <= 2 * math.ceil(math.log2(3000)) + 5 + 20


# --- 2. the rules end to end ---------------------------------------------------------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


CAP_RULES = {"max_identities_per_profile": 4}


def rules_with(**changes):
    """The project's rules file with some rules changed (the same blocked values and patterns)."""
    base = load_rules()
    document = {
        "namespace_priority": list(base.namespace_priority),
        "unique_namespaces": sorted(base.unique_namespaces),
        "link_limits": {ns: {} for ns, _ in base.link_limits},
        "max_identities_per_profile": base.max_identities_per_profile,
        "blocked_values": {ns: sorted(v) for ns, v in base.blocked_values.items()},
        "blocked_patterns": {ns: [p.pattern for p in ps] for ns, ps in base.blocked_patterns.items()},
    }
    for (ns, other), limit in base.link_limits.items():
        document["link_limits"][ns][other] = limit
    document.update(changes)
    return parse_rules(document)


def _landing(conn) -> None:
    ensure_tables(conn)
    conn.commit()
    crm = [
        # five customers who log in on one store kiosk (hub limit ecid -> crm is 3)
        *[
            {"customer_id": f"C-{i}", "email": f"kiosk.user{i}@example.com", "updated_at": "2026-10-01T10:00:00Z"}
            for i in range(1, 6)
        ],
        # a household conflict through a chain: C-10's email is on loyalty card L-10 (no CRM id),
        # whose phone is C-11's phone; the most recent links win
        {"customer_id": "C-10", "email": "shared@example.com", "updated_at": "2026-11-01T10:00:00Z"},
        {"customer_id": "C-11", "phone": "+33611111111", "updated_at": "2026-11-05T10:00:00Z"},
        # a customer with many devices (the cap test sets max_identities_per_profile to 4)
        {"customer_id": "C-20", "email": "many.devices@example.com", "updated_at": "2026-10-01T10:00:00Z"},
        # two customers with a placeholder email: blocked, never a link
        {"customer_id": "C-30", "email": "test@test.com", "updated_at": "2026-10-01T10:00:00Z"},
        {"customer_id": "C-31", "email": "TEST@test.com", "updated_at": "2026-10-02T10:00:00Z"},
    ]
    insert_raw(conn, "crm_customers", crm, "2026-11-05")
    insert_raw(
        conn,
        "loyalty_members",
        [
            {
                "loyalty_id": "L-10",
                "email": "shared@example.com",
                "phone": "+33611111111",
                "updated_at": "2026-11-03T10:00:00Z",
            }
        ],
        "2026-11-05",
    )
    events = [
        {
            "event_id": f"kiosk-{i}",
            "event_type": "login",
            "occurred_at": f"2026-11-0{i}T15:00:00Z",
            "ecid": "ecid-kiosk",
            "customer_id": f"C-{i}",
        }
        for i in range(1, 6)
    ]
    events += [
        {
            "event_id": f"device-{k}",
            "event_type": "login",
            "occurred_at": f"2026-10-0{k}T09:00:00Z",
            "ecid": f"ecid-20-{k}",
            "customer_id": "C-20",
        }
        for k in range(1, 6)
    ]
    insert_raw(conn, "web_events", events, "2026-11-05")
    conn.commit()


@pytest.fixture(scope="module")
def world(embedded_server, tmp_path_factory):
    """The landing above, built with the project's rules but a profile cap of 4."""
    with private_database(embedded_server, tmp_path_factory.mktemp("state")) as url:
        conn = psycopg2.connect(url)
        conn.autocommit = True
        try:
            conn.autocommit = False
            _landing(conn)
            normalize_identifiers(conn, None, rules_with(**CAP_RULES))
            conn.commit()
            conn.autocommit = True
            build_identity(RUN_DATE)
            yield conn
        finally:
            conn.close()


def test_kiosk_over_its_hub_limit_links_nobody(world):
    assert profile_of(world, "ecid", "ecid-kiosk") is None
    profiles = {profile_of(world, "crm", f"C-{i}") for i in range(1, 6)}
    assert len(profiles) == 5 and None not in profiles
    assert rows(
        world, "select namespace, other_namespace, linked_count, max_linked from identity.int_identity_hubs_detected"
    ) == [("ecid", "crm", 5, 3)]
    assert rows(
        world,
        "select identity_value, source from identity.rejected_identities where reason = 'graph_limit'"
        " and namespace = 'ecid' and identity_value = 'ecid-kiosk'",
    ) == [("ecid-kiosk", "web_events")]
    # a kiosk session still belongs to the customer who logged in
    assert rows(world, "select profile_id from identity.int_source_records_profiled where record_id = 'kiosk-3'") == [
        (profile_of(world, "crm", "C-3"),)
    ]


def test_conflict_through_a_chain_keeps_the_most_recent_links(world):
    # Replay, most recent first: C-11 - phone (11-05); L-10 - email and L-10 - phone (11-03,
    # the stronger link first); C-10 - email (11-01) would join C-10 to C-11's group: not made.
    carol = profile_of(world, "crm", "C-11")
    assert profile_of(world, "phone", "+33611111111") == carol
    assert profile_of(world, "loyalty", "L-10") == carol
    assert profile_of(world, "email", "shared@example.com") == carol
    assert profile_of(world, "crm", "C-10") not in (None, carol)
    assert rows(
        world,
        "select namespace, identity_value, source from identity.rejected_identities"
        " where reason = 'unique_namespace_conflict'",
    ) == [("email", sha256_hex("shared@example.com"), "crm_customers")]
    # C-10's record keeps C-10's profile, though its email went to the other profile
    assert rows(world, "select profile_id from identity.int_source_records_profiled where record_id = 'C-10'") == [
        (profile_of(world, "crm", "C-10"),)
    ]


def test_profile_cap_keeps_the_strongest_and_most_recent_identities(world):
    profile = profile_of(world, "crm", "C-20")
    assert sorted(
        rows(world, "select namespace, identity_value from identity.identity_map where profile_id = %s", (profile,))
    ) == [
        ("crm", "C-20"),
        ("ecid", "ecid-20-4"),
        ("ecid", "ecid-20-5"),
        ("email", "many.devices@example.com"),
    ]
    assert sorted(
        rows(
            world,
            "select identity_value from identity.rejected_identities"
            " where reason = 'graph_limit' and namespace = 'ecid' and identity_value like 'ecid-20-%%'",
        )
    ) == [("ecid-20-1",), ("ecid-20-2",), ("ecid-20-3",)]


def test_blocked_values_never_link(world):
    assert profile_of(world, "crm", "C-30") != profile_of(world, "crm", "C-31")
    assert profile_of(world, "email", "test@test.com") is None


def test_the_run_is_recorded(world):
    assert rows(
        world,
        "select mode, full_reason, conflict_component_count, cut_identity_count from identity.stitch_runs",
    ) == [("full", "first run", 1, 3)]


def test_rule_change_rebuilds_in_full_and_keeps_profile_ids(world):
    """No unique namespace, a higher kiosk limit and the default cap merge people; restoring the
    rules splits them again, the part holding each profile's anchor keeping its id."""
    before = dict(rows(world, "select namespace || ':' || identity_value, profile_id from identity.identity_map"))

    world.autocommit = False
    normalize_identifiers(world, None, rules_with(unique_namespaces=[], link_limits={"ecid": {"crm": 10}}))
    world.commit()
    world.autocommit = True
    build_identity("2026-11-11")
    assert rows(world, "select mode, full_reason from identity.stitch_runs where run_date = '2026-11-11'") == [
        ("full", "identity rules changed")
    ]
    # the household is one profile again; both profiles were minted on the same day, so the
    # smaller id survives and the other is recorded as merged into it
    household = min(before["crm:C-10"], before["crm:C-11"])
    merged = max(before["crm:C-10"], before["crm:C-11"])
    assert profile_of(world, "crm", "C-10") == profile_of(world, "crm", "C-11") == household
    assert (merged, household) in rows(
        world, "select from_profile_id, to_profile_id from identity.profile_merges where at = '2026-11-11'"
    )
    # the kiosk is no hub any more: the five who logged in on it are one profile, C-1's (the
    # profiles were minted on the same day: the smallest id survives)
    kiosk = profile_of(world, "ecid", "ecid-kiosk")
    assert {profile_of(world, "crm", f"C-{i}") for i in range(1, 6)} == {kiosk}
    assert kiosk == min(before[f"crm:C-{i}"] for i in range(1, 6))
    # C-20's devices over the old cap are stitched again, into C-20's profile
    assert profile_of(world, "ecid", "ecid-20-1") == before["crm:C-20"]

    world.autocommit = False
    normalize_identifiers(world, None, rules_with(**CAP_RULES))
    world.commit()
    world.autocommit = True
    build_identity("2026-11-12")
    after = dict(rows(world, "select namespace || ':' || identity_value, profile_id from identity.identity_map"))
    # the household splits again: the part holding the surviving profile's anchor keeps its id,
    # the other part gets a new id recorded as split from it
    (anchor,) = rows(world, "select anchor_value from identity.stitch_profile_ids where profile_id = %s", (household,))[
        0
    ]
    other = "C-11" if anchor == "C-10" else "C-10"
    assert after[f"crm:{anchor}"] == household
    assert after[f"crm:{other}"] not in (household, merged)
    assert rows(
        world,
        "select split_from_profile_id, minted_on from identity.stitch_profile_ids where profile_id = %s",
        (after[f"crm:{other}"],),
    ) == [(household, date(2026, 11, 12))]
    # the partition is the one of the first build
    assert canonical_partition(after) == canonical_partition(before)


def test_explain_shows_profile_links_sources_and_rejections(world):
    from cdp.identity.explain import explain

    shared = explain(world, "email", "  Shared@Example.com ").lines()
    text = "\n".join(shared)
    carol = profile_of(world, "crm", "C-11")
    assert "normalized: 'shared@example.com'" in text
    assert f"Profile {carol} (crm 1, loyalty 1, email 1, phone 1)" in text
    assert "made" in text and "loyalty 'L-10' [same profile]" in text
    assert f"NOT MADE (unique_namespace_conflict) crm 'C-10' [profile {profile_of(world, 'crm', 'C-10')}]" in text
    assert "crm_customers C-10 at 2026-11-01 10:00: crm_customers/dt=2026-11-05/part-0 line 7 (dt=2026-11-05)" in text
    assert "unique_namespace_conflict from crm_customers" in text

    kiosk = "\n".join(explain(world, "ecid", "ecid-kiosk").lines())
    assert "HUB: seen with 5 distinct crm identities (limit 3)" in kiosk
    assert "graph_limit from web_events" in kiosk

    cut = "\n".join(explain(world, "ecid", "ecid-20-1").lines())
    assert "CUT: its profile would hold more than 4 identities" in cut
    assert "no profile (cut by the cap)" in cut

    blocked = "\n".join(explain(world, "email", "TEST@test.com").lines())
    assert "normalization rejects it: blocked_value" in blocked
    assert "blocked_value from crm_customers" in blocked


def test_a_profile_that_loses_its_anchor_keeps_its_id_on_its_best_remaining_identity(world):
    """C-20's profile was minted for its CRM id (its strongest identity), which linked its email
    (CRM record) and its devices (logins). Blocking that value (a rules change: a full rebuild)
    leaves them unlinked: the group holding the best remaining identity, the email, keeps the
    profile id; each device gets a new one, split from it when it was in the profile."""
    profile = profile_of(world, "crm", "C-20")
    anchor_sql = "select anchor_namespace, anchor_value from identity.stitch_profile_ids where profile_id = %s"
    assert rows(world, anchor_sql, (profile,)) == [("crm", "C-20")]
    blocked = {ns: sorted(values) for ns, values in load_rules().blocked_values.items()}
    blocked["crm"] = sorted({*blocked.get("crm", []), "C-20"})

    world.autocommit = False
    normalize_identifiers(world, None, rules_with(**CAP_RULES, blocked_values=blocked))
    world.commit()
    world.autocommit = True
    build_identity("2026-11-13")
    assert rows(world, "select mode, full_reason from identity.stitch_runs where run_date = '2026-11-13'") == [
        ("full", "identity rules changed")
    ]
    assert profile_of(world, "crm", "C-20") is None
    assert profile_of(world, "email", "many.devices@example.com") == profile
    # the two devices the cap kept in the profile, and the three it cut, are profiles of their own
    assert rows(
        world,
        "select anchor_value, split_from_profile_id from identity.stitch_profile_ids"
        " where minted_on = '2026-11-13' order by anchor_value",
    ) == [("ecid-20-1", None), ("ecid-20-2", None), ("ecid-20-3", None), ("ecid-20-4", profile), ("ecid-20-5", profile)]


def test_a_run_after_one_recorded_without_the_cut_count_counts_the_cut_identities(world):
    """A warehouse whose last run was recorded before stitch_runs had cut_identity_count: the next
    incremental run counts the identities the cap cut in the model's table, instead of adding its
    changes to nothing."""
    world.autocommit = False
    normalize_identifiers(world, None, rules_with(**CAP_RULES))  # C-20 no longer blocked: 3 devices cut
    world.commit()
    world.autocommit = True
    build_identity("2026-11-14")
    with world.cursor() as cur:
        cur.execute("update identity.stitch_runs set cut_identity_count = null where run_date = '2026-11-14'")
    build_identity("2026-11-15")
    cut = "select count(*) from identity.int_identity_components_stitched where profile_id is null"
    assert rows(world, cut) == [(3,)]
    assert rows(world, "select mode, cut_identity_count from identity.stitch_runs where run_date = '2026-11-15'") == [
        ("incremental", 3)
    ]
