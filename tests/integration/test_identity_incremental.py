"""Stable profile ids and incremental stitching, through the pipeline's stages and dbt.

1. Generated data, four days: the daily runs (incremental after the first) give byte-identical
   identity tables to runs that rebuild the graph in full every day, and their final partition
   equals one full rebuild over all four days at once. The incremental days recompute only part
   of the graph.
2. A hand-made history: a merge keeps the older profile's id and is recorded at the run date; a
   rerun of a date (also after later dates ran) leaves identical tables; a deleted CRM record
   leaves its profile's id to the identities that remain; --full-refresh keeps the ids.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import psycopg2
import pytest
from identity_support import build_identity, canonical_partition, insert_raw, private_database, profile_of, rows

from cdp import pipeline
from cdp.contracts import SOURCES
from cdp.identity.normalize import normalize_identifiers
from cdp.ingest.loader import ensure_tables
from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.integration

START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(4)]
IDENTITY_TABLES = {
    "identity_map": "select * from identity.identity_map",
    "profile_merges": "select * from identity.profile_merges",
    "rejected_identities": "select * from identity.rejected_identities",
    "profile_ids": "select * from identity.stitch_profile_ids",
    "history": "select * from identity.stitch_identity_history",
    "links": "select * from identity.stitch_links",
    "records": "select * from identity.int_source_records_profiled",
    "profile_sizes": "select * from identity.stitch_profile_sizes",
}


# The statistics of a run that describe the whole graph (not the run's own work): an incremental
# run keeps some of them from run to run, and they must equal those a full run counts.
GRAPH_STATISTICS = (
    "select run_date, node_count, link_count, component_count, largest_component_size, rejected_link_count,"
    " cut_identity_count, profiles_minted, profiles_merged from identity.stitch_runs order by run_date"
)


def snapshot(conn) -> dict[str, list[tuple]]:
    return {name: sorted(rows(conn, sql), key=repr) for name, sql in IDENTITY_TABLES.items()}


def partition(conn) -> set[frozenset]:
    mapping = dict(rows(conn, "select namespace || ':' || identity_value, profile_id from identity.identity_map"))
    return canonical_partition(mapping)


def ingest(landing, dt: date) -> None:
    for source in SOURCES:
        if pipeline.drop_state(pipeline.LandingZone.from_uri(str(landing)), source, dt) == "complete":
            pipeline.ingest_source(str(landing), source, dt)
    pipeline.prepare_identifiers(dt)


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("landing")
    generate_landing_zone(root, customers=300, days=len(DAYS), start=START, seed=11)
    return root


@pytest.fixture(scope="module")
def daily_runs(embedded_server, landing, tmp_path_factory):
    """Two warehouses fed the same days: one stitching incrementally, one in full every day.
    Yields their snapshots after each day, the incremental run statistics and the final partition."""
    incremental, full = [], []
    with private_database(embedded_server, tmp_path_factory.mktemp("a")) as url_a:
        conn = psycopg2.connect(url_a)
        for dt in DAYS:
            ingest(landing, dt)
            build_identity(dt.isoformat())
            incremental.append(snapshot(conn))
        stats = rows(
            conn,
            "select run_date, mode, scope_node_count, node_count, profiles_merged from identity.stitch_runs order by 1",
        )
        final_partition = partition(conn)
        statistics = rows(conn, GRAPH_STATISTICS)
        conn.close()
    with private_database(embedded_server, tmp_path_factory.mktemp("b")) as url_b:
        conn = psycopg2.connect(url_b)
        for dt in DAYS:
            ingest(landing, dt)
            build_identity(dt.isoformat(), {"identity_full_rebuild": True})
            full.append(snapshot(conn))
        full_modes = rows(conn, "select mode from identity.stitch_runs order by run_date")
        full_statistics = rows(conn, GRAPH_STATISTICS)
        conn.close()
    yield {
        "incremental": incremental,
        "full": full,
        "stats": stats,
        "full_modes": full_modes,
        "statistics": (statistics, full_statistics),
        "final_partition": final_partition,
    }


def test_daily_runs_are_incremental_after_the_first(daily_runs):
    stats = daily_runs["stats"]
    assert [mode for _, mode, _, _, _ in stats] == ["full", "incremental", "incremental", "incremental"]
    for _, _, scope, nodes, _ in stats[1:]:
        assert 0 < scope < nodes / 2, stats  # only what the day's changes reach
    assert daily_runs["full_modes"] == [("full",)] * len(DAYS)


@pytest.mark.parametrize("day", range(len(DAYS)))
def test_incremental_day_equals_a_full_rebuild_byte_for_byte(daily_runs, day):
    incremental, full = daily_runs["incremental"][day], daily_runs["full"][day]
    for table in IDENTITY_TABLES:
        assert incremental[table] == full[table], f"{table} differs on day {day + 1}"


def test_incremental_runs_count_the_graph_as_full_runs_do(daily_runs):
    incremental, full = daily_runs["statistics"]
    assert len(incremental) == len(DAYS)
    assert incremental == full
    assert all(largest > 1 for _, _, _, _, largest, *_ in incremental)


def test_the_days_exercise_merges_and_rejections(daily_runs):
    last = daily_runs["incremental"][-1]
    assert sum(merged for *_, merged in daily_runs["stats"]) > 0
    reasons = {row[2] for row in last["rejected_identities"]}
    assert {"graph_limit", "unique_namespace_conflict"} <= reasons


def test_daily_runs_equal_one_full_rebuild_as_partitions(embedded_server, landing, daily_runs, tmp_path_factory):
    with private_database(embedded_server, tmp_path_factory.mktemp("c")) as url:
        conn = psycopg2.connect(url)
        for dt in DAYS:
            for source in SOURCES:
                if pipeline.drop_state(pipeline.LandingZone.from_uri(str(landing)), source, dt) == "complete":
                    pipeline.ingest_source(str(landing), source, dt)
        pipeline.prepare_identifiers(None)
        build_identity(DAYS[-1].isoformat())
        assert rows(conn, "select mode from identity.stitch_runs") == [("full",)]
        assert partition(conn) == daily_runs["final_partition"]
        conn.close()


# --- a hand-made history ------------------------------------------------------------------------


def _day(conn, dt: str, **sources) -> None:
    for source, source_rows in sources.items():
        insert_raw(conn, source, source_rows, dt)
    normalize_identifiers(conn, None)
    conn.commit()


def _identity_state(conn) -> dict[str, list[tuple]]:
    tables = rows(
        conn,
        "select table_name from information_schema.tables where table_schema = 'identity'"
        " and table_type = 'BASE TABLE' order by 1",
    )
    return {name: sorted(rows(conn, f'select * from identity."{name}"'), key=repr) for (name,) in tables}


@contextmanager
def _hand_made_warehouse(embedded_server, folder):
    """A private database with the raw tables, for days written by hand (_day)."""
    with private_database(embedded_server, folder) as url:
        conn = psycopg2.connect(url)
        ensure_tables(conn)
        conn.commit()
        try:
            yield conn
        finally:
            conn.close()


@pytest.fixture(scope="module")
def history(embedded_server, tmp_path_factory):
    with _hand_made_warehouse(embedded_server, tmp_path_factory.mktemp("h")) as conn:
        # day 1: an anonymous visitor signs up for the newsletter on their phone
        _day(
            conn,
            "2026-11-01",
            web_events=[
                {
                    "event_id": "e-1",
                    "event_type": "newsletter_signup",
                    "occurred_at": "2026-11-01T09:00:00Z",
                    "ecid": "ecid-m",
                    "email": "m@example.com",
                },
            ],
        )
        build_identity("2026-11-01")
        # day 2: a CRM customer with another email
        _day(
            conn,
            "2026-11-02",
            crm_customers=[
                {"customer_id": "C-40", "email": "n@example.com", "updated_at": "2026-11-02T09:00:00Z"},
            ],
        )
        build_identity("2026-11-02")
        # day 3: C-40 orders with the newsletter email: one person
        _day(
            conn,
            "2026-11-03",
            ecommerce_orders=[
                {
                    "order_id": "O-1",
                    "customer_id": "C-40",
                    "email": "m@example.com",
                    "ordered_at": "2026-11-03T09:00:00Z",
                    "updated_at": "2026-11-03T09:00:00Z",
                    "status": "placed",
                    "currency": "EUR",
                    "total_amount": 10,
                },
            ],
        )
        yield conn


def test_merge_keeps_the_older_id_and_is_recorded_at_the_run_date(history):
    anonymous = profile_of(history, "email", "m@example.com")
    customer = profile_of(history, "crm", "C-40")
    assert anonymous != customer
    build_identity("2026-11-03")
    assert profile_of(history, "crm", "C-40") == profile_of(history, "ecid", "ecid-m") == anonymous
    assert rows(history, "select from_profile_id, to_profile_id, at from identity.profile_merges") == [
        (customer, anonymous, date(2026, 11, 3))
    ]
    assert rows(history, "select mode, profiles_merged from identity.stitch_runs where run_date = '2026-11-03'") == [
        ("incremental", 1)
    ]


def test_rerun_of_a_date_leaves_identical_tables(history):
    before = _identity_state(history)
    build_identity("2026-11-03")
    assert _identity_state(history) == before  # stitch_runs included: replayed as the first time
    assert rows(history, "select mode, full_reason from identity.stitch_runs where run_date = '2026-11-03'") == [
        ("incremental", None)
    ]


def test_rerun_of_an_earlier_date_then_the_later_one_leaves_identical_tables(history):
    before = _identity_state(history)
    customer_before_merge = rows(history, "select from_profile_id from identity.profile_merges")[0][0]
    build_identity("2026-11-02")  # state as of 2026-11-02: the merge is not there yet
    assert rows(history, "select count(*) from identity.profile_merges") == [(0,)]
    assert profile_of(history, "crm", "C-40") == customer_before_merge
    build_identity("2026-11-03")
    assert _identity_state(history) == before


def test_full_refresh_recomputes_everything_and_keeps_the_ids(history):
    before = rows(history, "select * from identity.identity_map order by 1, 2")
    build_identity("2026-11-04")
    build_identity("2026-11-05")
    build_identity("2026-11-06", extra_args=["--full-refresh"])
    assert rows(
        history,
        "select run_date::text, mode, full_reason from identity.stitch_runs where run_date > '2026-11-03' order by 1",
    ) == [
        ("2026-11-04", "incremental", None),
        ("2026-11-05", "incremental", None),
        ("2026-11-06", "full", "full refresh"),
    ]
    assert rows(history, "select * from identity.identity_map order by 1, 2") == before


def test_deleted_record_leaves_the_profile_id_to_the_identities_that_remain(history):
    profile = profile_of(history, "email", "m@example.com")
    _day(
        history,
        "2026-11-07",
        crm_customers=[
            {"customer_id": "C-40", "email": "n@example.com", "updated_at": "2026-11-07T09:00:00Z", "is_deleted": True},
        ],
    )
    build_identity("2026-11-07")
    # n@example.com was only on the deleted CRM record; C-40 is still on the order
    assert profile_of(history, "email", "n@example.com") is None
    assert profile_of(history, "crm", "C-40") == profile == profile_of(history, "email", "m@example.com")
    gone = rows(
        history,
        "select count(*) from identity.stitch_identity_history where valid_to = '2026-11-07'"
        " and node_id not in (select node_id from identity.int_identity_components_stitched)",
    )
    assert gone == [(1,)]
    # the run's counts (the previous run's plus this run's changes) equal the tables'
    counted = "select node_count, link_count, cut_identity_count from identity.stitch_runs where run_date = %s"
    assert rows(history, counted, (date(2026, 11, 7),)) == rows(
        history,
        "select (select count(*) from identity.int_identity_components_stitched),"
        " (select count(*) from identity.int_identity_links_paired),"
        " (select count(*) from identity.int_identity_components_stitched where profile_id is null)",
    )


def test_a_run_without_the_profile_sizes_table_counts_them_again(history):
    """A warehouse stitched before stitch_profile_sizes existed: the next incremental run fills it,
    even when it changes nothing (whatever the earlier tests left, 2026-11-08 takes it in)."""
    build_identity("2026-11-08")
    with history.cursor() as cur:
        cur.execute("drop table identity.stitch_profile_sizes")
    history.commit()
    build_identity("2026-11-09")
    assert rows(history, "select mode, scope_node_count from identity.stitch_runs where run_date = '2026-11-09'") == [
        ("incremental", 0)
    ]
    sizes = rows(history, "select profile_id, identity_count from identity.stitch_profile_sizes order by 1")
    # as it must be: the model's table grouped by profile
    assert sizes == rows(
        history,
        "select profile_id, count(*) from identity.int_identity_components_stitched"
        " where profile_id is not null group by profile_id order by 1",
    )
    assert sizes and profile_of(history, "crm", "C-40") in dict(sizes)
    # its unique index, created because it was missing
    index = "select indexname from pg_indexes where tablename = 'stitch_profile_sizes'"
    assert rows(history, index) == [("stitch_profile_sizes_pkey_idx",)]
    counted = "select component_count, largest_component_size from identity.stitch_runs where run_date = '2026-11-09'"
    assert rows(history, counted) == [(len(sizes), max(count for _, count in sizes))]


def test_a_guarded_component_is_recomputed_when_its_recency_changes_and_left_alone_otherwise(
    embedded_server, tmp_path_factory
):
    """Two CRM ids share an email: the guard keeps the more recent link. A later order of the
    other customer with that email changes no link, only the link's recency: the next incremental
    run must flip the email over, as a full rebuild does; a day without changes leaves it alone."""
    with _hand_made_warehouse(embedded_server, tmp_path_factory.mktemp("g")) as conn:
        _day(
            conn,
            "2026-11-01",
            crm_customers=[{"customer_id": "C-1", "email": "s@example.com", "updated_at": "2026-11-01T09:00:00Z"}],
            loyalty_members=[
                {
                    "loyalty_id": "L-1",
                    "customer_id": "C-2",
                    "email": "s@example.com",
                    "updated_at": "2026-11-01T10:00:00Z",
                }
            ],
        )
        build_identity("2026-11-01")
        assert profile_of(conn, "email", "s@example.com") == profile_of(conn, "crm", "C-2")
        assert profile_of(conn, "crm", "C-1") != profile_of(conn, "crm", "C-2")
        links = rows(conn, "select node_id_a, node_id_b from identity.int_identity_links_paired order by 1, 2")

        order = {"order_id": "O-1", "customer_id": "C-1", "email": "s@example.com", "status": "placed"}
        order.update({"ordered_at": "2026-11-02T09:00:00Z", "updated_at": "2026-11-02T09:00:00Z"})
        order.update({"currency": "EUR", "total_amount": 10})
        _day(conn, "2026-11-02", ecommerce_orders=[order])
        build_identity("2026-11-02")
        assert rows(conn, "select node_id_a, node_id_b from identity.int_identity_links_paired order by 1, 2") == links
        assert profile_of(conn, "email", "s@example.com") == profile_of(conn, "crm", "C-1")
        assert profile_of(conn, "loyalty", "L-1") == profile_of(conn, "crm", "C-2")

        _day(conn, "2026-11-03")
        build_identity("2026-11-03")
        runs = "select run_date::text, mode, scope_node_count, rejected_link_count from identity.stitch_runs order by 1"
        assert rows(conn, runs) == [
            ("2026-11-01", "full", 4, 1),
            ("2026-11-02", "incremental", 4, 1),  # recomputed: its guard inputs changed
            ("2026-11-03", "incremental", 0, 1),  # left alone, its rejected link still counted
        ]
        assert rows(conn, "select count(*) from identity.stitch_guard_inputs") == [(1,)]
        incremental = rows(conn, "select * from identity.identity_map order by 1, 2")
        build_identity("2026-11-04", {"identity_full_rebuild": True})
        assert rows(conn, "select * from identity.identity_map order by 1, 2") == incremental
