"""`dbt build` on the small_world landing (dbt_project/tests/fixtures/small_world.sql).

One database per module: the raw tables and prep.identifiers are created and filled with
the fixture, then `build("2026-11-02")` runs once; every test below reads the built tables.
The last tests build again (a rerun must change nothing; a build capped below the rounds
the identity graph needs must fail and leave the previous tables as they were).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import psycopg2
import pytest

from cdp import settings
from cdp.identity.normalize import DDL as PREP_DDL
from cdp.identity.rules import write_rules
from cdp.ingest.loader import ensure_tables
from cdp.transform import build, dbt_env, run_dbt

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-02"
FIXTURE = settings.dbt_project_dir() / "tests" / "fixtures" / "small_world.sql"
PURPOSES = {"email_marketing", "sms_marketing", "personalization", "ad_targeting"}
# Every relation dbt builds in the output schemas (the stitch_* state tables are written by the
# identity_stitch materialization).
OUTPUT_SCHEMAS = ("identity", "profiles", "audiences")
EXPECTED_RELATIONS = {
    "identity.identity_map",
    "identity.rejected_identities",
    "identity.stitch_runs",
    "identity.stitch_links",
    "identity.stitch_identity_history",
    "identity.stitch_profile_ids",
    "identity.stitch_profile_merges",
    "identity.stitch_profile_sizes",
    "identity.stitch_guard_inputs",
    "identity.profile_merges",
    "identity.int_identity_hubs_detected",
    "identity.int_identity_links_rejected",
    "identity.int_identity_components_stitched",
    "identity.int_identity_nodes_numbered",
    "identity.int_identity_links_paired",
    "identity.int_identity_occurrences_unioned",
    "identity.int_source_records_profiled",
    "profiles.profiles",
    "profiles.consent",
    "audiences.aud_recent_store_buyers_email",
    "audiences.aud_online_browsers_no_purchase_ads",
}
DUPLICATED_EVENT = "3f1c0a9e-0001-4000-8000-000000000006"
LATE_EVENT = "3f1c0a9e-0001-4000-8000-000000000007"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass
class World:
    url: str
    conn: object  # psycopg2 connection, autocommit (no transaction left open to block dbt's renames)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def value(self, sql: str, params: tuple = ()):
        rows = self.rows(sql, params)
        assert len(rows) == 1, f"expected one row, got {rows}"
        return rows[0][0]

    def profile_of(self, namespace: str, identity_value: str) -> str:
        """The profile an identity is stitched into; fails if it is not in identity_map."""
        return self.value(
            "select profile_id from identity.identity_map where namespace = %s and identity_value = %s",
            (namespace, identity_value),
        )

    def profile_of_record(self, source_name: str, record_id: str) -> str:
        return self.value(
            "select profile_id from identity.int_source_records_profiled where source_name = %s and record_id = %s",
            (source_name, record_id),
        )

    def consent(self, profile_id: str, purpose: str) -> tuple:
        return self.rows(
            "select status, decided_at, source from profiles.consent where profile_id = %s and purpose = %s",
            (profile_id, purpose),
        )[0]

    def snapshot(self) -> dict[str, tuple[int, str]]:
        """Every table (and view) of the output schemas -> (row count, md5 of its rows in order)."""
        relations = self.rows(
            "select table_schema || '.' || table_name from information_schema.tables"
            " where table_schema = any(%s) order by 1",
            (list(OUTPUT_SCHEMAS),),
        )
        digest = {}
        for (relation,) in relations:
            schema, name = relation.split(".")
            digest[relation] = self.rows(
                f"select count(*), md5(coalesce(string_agg(t::text, E'\\n' order by t::text), ''))"
                f' from "{schema}"."{name}" as t'
            )[0]
        return digest


@pytest.fixture(scope="module")
def world(embedded_server, tmp_path_factory):
    """A module-private database with small_world loaded and built once for RUN_DATE."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(embedded_server.url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    url = embedded_server.url(name)
    conn = None
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WAREHOUSE_URL", url)
            mp.setenv("CDP_HOME", str(tmp_path_factory.mktemp("state")))
            # run_dbt writes these into os.environ; registering them here restores them afterwards.
            for key, value in dbt_env(url).items():
                mp.setenv(key, value)

            conn = psycopg2.connect(url)
            ensure_tables(conn)
            with conn.cursor() as cur:
                cur.execute(PREP_DDL)
                cur.execute(FIXTURE.read_text())
            write_rules(conn)
            conn.commit()
            conn.autocommit = True

            build(RUN_DATE)
            yield World(url, conn)
    finally:
        if conn is not None:
            conn.close()
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()


# --- identity stitching ------------------------------------------------------------------


def test_build_writes_every_output_relation(world):
    relations = set(world.snapshot())
    assert EXPECTED_RELATIONS <= relations
    assert world.value("select count(*) from profiles.profiles") == 7


def identities(world, profile_id: str) -> list[tuple[str, str]]:
    return world.rows(
        "select namespace, identity_value from identity.identity_map where profile_id = %s order by 1, 2", (profile_id,)
    )


def test_shared_kiosk_device_goes_to_the_latest_login_and_keeps_alice_and_eve_apart(world):
    # CRM ids are unique per profile: the kiosk links Alice (login 2026-10-29) and Eve (login
    # 2026-10-31); replaying the links from the most recent, the kiosk joins Eve and the link to
    # Alice is not made (unique_namespace_conflict). Two logins are below the kiosk's hub limit.
    alice = world.profile_of("crm", "C-1001")
    eve = world.profile_of("crm", "C-1005")
    assert alice != eve
    assert identities(world, eve) == [
        ("crm", "C-1005"),
        ("ecid", "ecid-kiosk-paris-01"),
        ("email", "eve.schmidt@example.de"),
        ("phone", "+49301234567"),
    ]
    assert identities(world, alice) == [
        ("crm", "C-1001"),
        ("ecid", "ecid-alice-laptop"),
        ("email", "alice.martin@example.com"),
        ("loyalty", "L-5001"),
        ("phone", "+33612345678"),
    ]
    # Alice's kiosk login is still her record
    assert world.profile_of_record("web_events", "3f1c0a9e-0001-4000-8000-000000000003") == alice


def test_household_email_goes_to_carol_who_used_it_last(world):
    # Bob's CRM email (2026-10-20) is Carol's loyalty email (2026-10-22): the household email and
    # Carol's loyalty card stay with Carol; Bob keeps his CRM id and his phone.
    bob = world.profile_of("crm", "C-1002")
    carol = world.profile_of("crm", "C-1003")
    assert bob != carol
    assert identities(world, carol) == [
        ("crm", "C-1003"),
        ("email", "carol.smith@example.co.uk"),
        ("email", "smith.family@example.co.uk"),
        ("loyalty", "L-5003"),
        ("phone", "+447911123457"),
    ]
    assert identities(world, bob) == [("crm", "C-1002"), ("phone", "+447911123456")]
    # Bob's CRM record is Bob's, though its email went to Carol's profile
    assert world.profile_of_record("crm_customers", "C-1002") == bob
    assert world.profile_of_record("loyalty_members", "L-5003") == carol


def test_people_not_linked_stay_apart(world):
    profiles = {
        world.profile_of("crm", "C-1001"),  # Alice
        world.profile_of("crm", "C-1005"),  # Eve
        world.profile_of("crm", "C-1002"),  # Bob
        world.profile_of("crm", "C-1003"),  # Carol
        world.profile_of("crm", "C-1004"),  # Frank
        world.profile_of("email", "dan.lee@example.org"),  # Dan
        world.profile_of("ecid", "ecid-grace-tablet"),  # Grace
    }
    assert len(profiles) == 7
    assert set(world.rows("select profile_id from profiles.profiles")) == {(p,) for p in profiles}


def test_variant_spellings_of_one_identity_land_in_one_profile(world):
    alice = world.profile_of("crm", "C-1001")
    # One normalized identity each, whatever the landed spelling.
    assert world.rows(
        "select namespace, identity_value, profile_id from identity.identity_map"
        " where identity_value ilike '%%alice%%martin%%' or identity_value like '+336%%' order by 1",
    ) == [("email", "alice.martin@example.com", alice), ("phone", "+33612345678", alice)]
    # Records carrying each spelling: CRM ' Alice.Martin@Example.com ' / '+33 6 12 34 56 78',
    # loyalty 'alice.martin@example.com' / '0033612345678', a till receipt 'ALICE.MARTIN@EXAMPLE.COM'
    # (its only identity), the web shop 'alice.martin@example.com'.
    for source_name, record_id in [
        ("crm_customers", "C-1001"),
        ("loyalty_members", "L-5001"),
        ("pos_transactions", "T-9003"),
        ("ecommerce_orders", "O-7001"),
    ]:
        assert world.profile_of_record(source_name, record_id) == alice, (source_name, record_id)
    # Dan: ' Dan.Lee@Example.org' on the order, 'dan.lee@example.org' on the newsletter event.
    dan = world.profile_of("email", "dan.lee@example.org")
    assert world.profile_of_record("ecommerce_orders", "O-7201") == dan
    assert world.profile_of_record("web_events", "3f1c0a9e-0001-4000-8000-000000000005") == dan
    # No landed spelling leaks into the map as an identity of its own.
    assert (
        world.value(
            "select count(*) from identity.identity_map where identity_value in %s",
            (
                (
                    " Alice.Martin@Example.com ",
                    "ALICE.MARTIN@EXAMPLE.COM",
                    "06 12 34 56 78",
                    "0033612345678",
                    "+33 6 12 34 56 78",
                    " Dan.Lee@Example.org",
                    "Smith.Family@example.co.uk",
                ),
            ),
        )
        == 0
    )


# --- rejected identities -----------------------------------------------------------------

EXPECTED_REJECTIONS = {
    ("email", sha256_hex("N/A"), "blocked_value", "crm_customers"),
    ("email", sha256_hex("N/A"), "blocked_value", "consent_events"),
    ("email", sha256_hex("test@test.com"), "blocked_value", "loyalty_members"),
    ("phone", sha256_hex("0000000000"), "blocked_value", "crm_customers"),
    ("phone", sha256_hex("12345"), "invalid_format", "loyalty_members"),
    ("ecid", "ecid-missing-prep", "not_normalized", "web_events"),
    # links the unique-namespace guard did not make: the weaker identity, normalized (hashed if PII)
    ("ecid", "ecid-kiosk-paris-01", "unique_namespace_conflict", "web_events"),
    ("email", sha256_hex("smith.family@example.co.uk"), "unique_namespace_conflict", "crm_customers"),
    ("phone", sha256_hex("+447911123456"), "unique_namespace_conflict", "ecommerce_orders"),
}


def test_blocked_and_invalid_values_are_rejected_with_their_reason(world):
    rejected = set(world.rows("select namespace, identity_value, reason, source from identity.rejected_identities"))
    assert rejected == EXPECTED_REJECTIONS


def test_rejected_values_are_not_stitched(world):
    raw_values = ["N/A", "test@test.com", "0000000000", "12345", "ecid-missing-prep"]
    candidates = raw_values + [sha256_hex(v) for v in raw_values]
    assert (
        world.rows(
            "select namespace, identity_value from identity.identity_map where identity_value = any(%s)", (candidates,)
        )
        == []
    )
    # Frank's profile keeps only his ids: no email, no phone.
    frank = world.profile_of("crm", "C-1004")
    assert world.rows(
        "select namespace, identity_value from identity.identity_map where profile_id = %s order by 1", (frank,)
    ) == [("crm", "C-1004"), ("loyalty", "L-5004")]
    assert world.rows("select email, phone from profiles.profiles where profile_id = %s", (frank,)) == [(None, None)]


def test_rejected_email_and_phone_values_are_sha256_hex(world):
    values = world.rows("select identity_value from identity.rejected_identities where namespace in ('email', 'phone')")
    assert len(values) == 7
    for (value,) in values:
        assert re.fullmatch(r"[0-9a-f]{64}", value), value
    # Other namespaces keep the value.
    ecids = world.rows("select identity_value from identity.rejected_identities where namespace = 'ecid' order by 1")
    assert ecids == [("ecid-kiosk-paris-01",), ("ecid-missing-prep",)]


# --- consent -----------------------------------------------------------------------------


def test_consent_tie_at_the_same_instant_resolves_to_denied(world):
    # Alice, email_marketing: granted via email and denied via phone, both 2026-10-01T10:00Z.
    alice = world.profile_of("crm", "C-1001")
    assert world.consent(alice, "email_marketing") == ("denied", utc(2026, 10, 1, 10), "unsubscribe_link")


def test_latest_choice_across_identities_wins(world):
    alice = world.profile_of("crm", "C-1001")
    # sms_marketing denied via phone (2026-09-01), then granted via the CRM id (2026-10-05).
    assert world.consent(alice, "sms_marketing") == ("granted", utc(2026, 10, 5, 10), "preference_center")
    # A choice landed two days late still applies.
    assert world.consent(alice, "personalization") == ("granted", utc(2026, 9, 20, 10), "preference_center")
    # The household email: granted, then unsubscribed; the email is in Carol's profile.
    carol = world.profile_of("email", "smith.family@example.co.uk")
    assert carol == world.profile_of("crm", "C-1003")
    assert world.consent(carol, "email_marketing") == ("denied", utc(2026, 10, 15, 9), "unsubscribe_link")


def test_no_recorded_choice_means_denied_with_null_decided_at(world):
    grace = world.profile_of("ecid", "ecid-grace-tablet")
    frank = world.profile_of("crm", "C-1004")
    for profile in (grace, frank):
        for purpose in PURPOSES:
            assert world.consent(profile, purpose) == ("denied", None, None), (profile, purpose)
    dan = world.profile_of("email", "dan.lee@example.org")
    assert world.consent(dan, "sms_marketing") == ("denied", None, None)
    assert world.consent(dan, "ad_targeting") == ("granted", utc(2026, 10, 30, 21), "preference_center")


def test_every_profile_has_exactly_four_consent_rows(world):
    rows = world.rows(
        "select p.profile_id, array_agg(c.purpose order by c.purpose)"
        " from profiles.profiles as p left join profiles.consent as c on c.profile_id = p.profile_id"
        " group by p.profile_id"
    )
    assert len(rows) == 7
    for profile_id, purposes in rows:
        assert purposes == sorted(PURPOSES), profile_id
    assert world.value("select count(*) from profiles.consent") == 28
    assert (
        world.value(
            "select count(*) from profiles.consent where profile_id not in (select profile_id from profiles.profiles)"
        )
        == 0
    )


def test_consent_for_unknown_or_rejected_subjects_changes_nothing(world):
    # stranger@example.com and 'N/A' were both granted email_marketing at 2026-10-20T09:00Z.
    assert world.value("select count(*) from profiles.consent where decided_at = %s", (utc(2026, 10, 20, 9),)) == 0
    assert world.value("select count(*) from identity.identity_map where identity_value = 'stranger@example.com'") == 0


# --- events, drops and run_date ----------------------------------------------------------


def test_duplicated_event_is_counted_once(world):
    # Landed twice (dt 2026-11-01 and 2026-11-02) ...
    assert world.value("select count(*) from raw.web_events where event_id = %s", (DUPLICATED_EVENT,)) == 2
    # ... read once.
    assert (
        world.value(
            "select count(*) from identity.int_identity_occurrences_unioned"
            " where source_name = 'web_events' and record_id = %s",
            (DUPLICATED_EVENT,),
        )
        == 1
    )
    # ecid-dan-phone: order O-7201 and web events 05, 06, 07 (not 06 twice).
    assert (
        world.value(
            "select occurrence_count from identity.int_identity_nodes_numbered"
            " where namespace = 'ecid' and identity_value = 'ecid-dan-phone'"
        )
        == 4
    )
    # The consent row Dan's preference centre delivered twice also counts once.
    assert (
        world.value(
            "select count(*) from staging.stg_consent__events"
            " where subject_value_raw = 'DAN.LEE@example.org' and purpose = 'ad_targeting'"
        )
        == 1
    )


def test_late_event_is_kept(world):
    # Happened 2026-10-20, landed in the 2026-11-02 drop.
    dan = world.profile_of("ecid", "ecid-dan-phone")
    assert world.rows(
        "select identity_value, seen_at from identity.int_identity_occurrences_unioned"
        " where source_name = 'web_events' and record_id = %s",
        (LATE_EVENT,),
    ) == [("ecid-dan-phone", utc(2026, 10, 20, 7))]
    assert world.profile_of_record("web_events", LATE_EVENT) == dan


def test_drop_dated_after_run_date_is_ignored(world):
    # Henry is in the raw table (dt 2026-11-03) ...
    assert world.value("select count(*) from raw.crm_customers where customer_id = 'C-1006'") == 1
    # ... but nothing built for run_date 2026-11-02 knows him.
    assert (
        world.value(
            "select count(*) from identity.int_identity_occurrences_unioned"
            " where identity_value in ('C-1006', 'henry@example.com') or record_id = 'C-1006'"
        )
        == 0
    )
    assert (
        world.value(
            "select count(*) from identity.identity_map where identity_value in ('C-1006', 'henry@example.com')"
        )
        == 0
    )
    assert world.value("select count(*) from profiles.profiles where first_name = 'Henry'") == 0


def test_latest_crm_version_wins_and_orders_are_counted_once(world):
    # The stale re-send ('Durand-stale', dt 2026-11-02) loses to updated_at 2026-11-01 ('Martin').
    alice = world.profile_of("crm", "C-1001")
    assert world.rows(
        "select first_name, last_name, country, currency, store_revenue, online_revenue,"
        " store_order_count, online_order_count from profiles.profiles where profile_id = %s",
        (alice,),
    ) == [("Alice", "Martin", "FR", "EUR", Decimal("140.00"), Decimal("59.90"), 2, 1)]
    # T-9201 was re-sent in the next drop: one purchase for Frank.
    frank = world.profile_of("crm", "C-1004")
    assert world.rows(
        "select store_revenue, store_order_count, last_store_purchase_at from profiles.profiles where profile_id = %s",
        (frank,),
    ) == [(15, 1, utc(2026, 10, 31, 17, 30))]
    # The Smiths pay in GBP; the returned order is an order with no revenue. Carol's loyalty card
    # and the household email (on the order) are in Carol's profile.
    carol = world.profile_of("crm", "C-1003")
    assert world.rows(
        "select currency, store_revenue, online_revenue, online_order_count from profiles.profiles"
        " where profile_id = %s",
        (carol,),
    ) == [("GBP", 35, 0, 1)]


# --- audiences ---------------------------------------------------------------------------


def test_recent_store_buyers_audience(world):
    members = {p for (p,) in world.rows("select profile_id from audiences.aud_recent_store_buyers_email")}
    assert members == {
        world.profile_of("crm", "C-1001"),  # Alice, in store 2026-10-20
        world.profile_of("crm", "C-1003"),  # Carol's loyalty card, 2026-09-15
        world.profile_of("crm", "C-1004"),  # Frank, 2026-10-31
    }


def test_online_browsers_no_purchase_ads_audience(world):
    members = {p for (p,) in world.rows("select profile_id from audiences.aud_online_browsers_no_purchase_ads")}
    assert members == {
        world.profile_of("email", "dan.lee@example.org"),  # browsed 2026-11-01, bought 2026-09-10
        world.profile_of("ecid", "ecid-grace-tablet"),  # browsed 2026-10-29, never bought
        world.profile_of("crm", "C-1005"),  # Eve: logged in on the kiosk 2026-10-31, never bought
    }
    grace = world.profile_of("ecid", "ecid-grace-tablet")
    assert world.rows(
        "select namespace, identity_value from identity.identity_map where profile_id = %s", (grace,)
    ) == [("ecid", "ecid-grace-tablet")]


# --- stitch statistics -------------------------------------------------------------------


def test_stitch_runs_records_the_run(world):
    rows = world.rows(
        "select model_name, mode, full_reason, node_count, link_count, component_count, largest_component_size,"
        " rounds, jump_passes, max_rounds, conflict_component_count, rejected_link_count, cut_identity_count,"
        " profiles_minted, profiles_merged from identity.stitch_runs where run_date = %s",
        (RUN_DATE,),
    )
    assert len(rows) == 1
    (model_name, mode, reason, nodes, links, components, largest, rounds, jump_passes, max_rounds,
     conflicts, rejected, cut, minted, merged) = rows[0]  # fmt: skip
    assert (model_name, mode, reason) == ("int_identity_components_stitched", "full", "first run")
    assert nodes == world.value("select count(*) from identity.identity_map") == 22
    assert links == world.value("select count(*) from identity.int_identity_links_paired")
    assert components == world.value("select count(*) from profiles.profiles") == 7
    assert largest == 5  # Alice; Carol
    assert max_rounds == 64
    # the kiosk (Alice, Eve) and the household (Bob, Carol): three links not made
    assert (conflicts, rejected, cut) == (2, 3, 0)
    assert rejected == world.value("select count(*) from identity.int_identity_links_rejected")
    assert (minted, merged) == (7, 0)
    # The capped build below relies on this graph needing more than one round.
    assert 2 <= rounds <= max_rounds
    assert jump_passes >= rounds
    assert world.value("select count(*) from identity.stitch_runs") == 1


# --- rebuilds (keep these last: they rebuild the module's database) ---------------------


def test_second_build_leaves_every_output_table_identical(world):
    before = world.snapshot()
    assert EXPECTED_RELATIONS <= set(before)
    # small_world has no hub and no merge (one build); every other relation has rows
    may_be_empty = {"identity.int_identity_hubs_detected", "identity.profile_merges", "identity.stitch_profile_merges"}
    assert all(count > 0 for name, (count, _) in before.items() if name not in may_be_empty)
    build(RUN_DATE)
    assert world.snapshot() == before


STITCHING = "int_identity_components_stitched"


def _build_statuses(dbt_vars: dict, select: str | None = None) -> dict[str, tuple[str, str]]:
    """`dbt build` with these vars, where failing is allowed: {node name: (status, message)}."""
    result = run_dbt("build", RUN_DATE, select, dbt_vars=dbt_vars)  # raises only when dbt could not run
    return {r.node.name: (str(r.status), r.message or "") for r in result.result}


def test_build_capped_below_the_rounds_needed_fails_and_keeps_previous_tables(world):
    before = world.snapshot()
    assert EXPECTED_RELATIONS <= set(before)
    needed = world.value("select rounds from identity.stitch_runs where run_date = %s", (RUN_DATE,))
    assert needed > 1

    statuses = _build_statuses({"identity_max_rounds": 1})

    status, message = statuses[STITCHING]
    assert status == "error"
    assert "identity_max_rounds=1" in message and "no labels were written" in message
    assert statuses["identity_map"][0] == "skipped"
    assert statuses["profiles"][0] == "skipped"

    # Nothing partial: same tables, same rows, no leftover work or backup tables, same
    # stitch_runs row (still max_rounds 64).
    # (The profiles layer's intermediate models are tables for this reason: as views they would
    # be dropped, CASCADE, with the staging views that the failed build recreated.)
    assert world.snapshot() == before


def test_stitching_with_the_least_work_mem_gives_the_same_tables(world):
    # 64kB, the least Postgres takes, set and put back by the run (the rerun of the date rebuilds
    # in full, through every switch): every table comes out as it was.
    before = world.snapshot()

    statuses = _build_statuses({"identity_whole_table_work_mem": "64kB"}, STITCHING)

    assert statuses[STITCHING][0] == "success"
    assert world.snapshot() == before


def test_a_work_mem_that_is_not_a_size_fails_the_stitching_before_it_runs(world):
    before = world.snapshot()

    statuses = _build_statuses(
        {"identity_whole_table_work_mem": "1MB'; drop table identity.stitch_runs; --"}, STITCHING
    )

    status, message = statuses[STITCHING]
    assert status == "error"
    assert "identity_whole_table_work_mem must be a size such as '1MB'" in message
    assert world.snapshot() == before


IDENTITY_RULE_TESTS = "assert_identity_links_within_one_component assert_identity_profiles_follow_the_rules"


def _identity_rule_failures(world, breaking_sql: str, restoring_sql: str) -> dict[str, int]:
    """{test: failing rows} of the stitching's own dbt tests on the built tables after
    `breaking_sql`; `restoring_sql` puts the tables back, whatever happened."""
    with world.conn.cursor() as cur:
        cur.execute(breaking_sql)
    try:
        result = run_dbt("test", RUN_DATE, IDENTITY_RULE_TESTS)  # failing tests do not raise
    finally:
        with world.conn.cursor() as cur:
            cur.execute(restoring_sql)
    return {r.node.name: r.failures for r in result.result}


def test_the_stitchings_own_dbt_tests_catch_a_broken_stitching(world):
    before = world.snapshot()
    stitched = f"identity.{STITCHING}"
    # an identity with links in a component no guard cut, whose profile is torn apart from them
    torn, torn_profile, torn_links = world.rows(
        f"select stitched.node_id, stitched.profile_id, count(*) from {stitched} as stitched"
        " inner join identity.int_identity_links_paired as links"
        " on stitched.node_id in (links.node_id_a, links.node_id_b)"
        " where not stitched.component_guarded group by 1, 2 order by 3 desc, 1 limit 1"
    )[0]
    # an identity of another component, marked a hub after the stitching
    hub = world.value(
        f"select min(node_id) from {stitched} where profile_id is not null and component_node_id <>"
        f" (select component_node_id from {stitched} where node_id = %s)",
        (torn,),
    )
    failures = _identity_rule_failures(
        world,
        f"update {stitched} set profile_id = 'torn-apart' where node_id = {torn};"
        f" update identity.int_identity_nodes_numbered set is_hub = true where node_id = {hub}",
        f"update {stitched} set profile_id = '{torn_profile}' where node_id = {torn};"
        f" update identity.int_identity_nodes_numbered set is_hub = false where node_id = {hub}",
    )
    assert failures == {
        "assert_identity_links_within_one_component": torn_links,
        "assert_identity_profiles_follow_the_rules": 1,
    }

    # a component named after its second smallest node; a cap of one identity per profile
    component, second = world.rows(
        f"select component_node_id, min(node_id) filter (where node_id <> component_node_id) from {stitched}"
        " group by 1 having count(*) > 1 order by 1 limit 1"
    )[0]
    cap = world.value("select value from prep.identity_rules where rule = 'max_identities_per_profile'")
    over_one = world.value(
        f"select count(*) from (select profile_id from {stitched} where profile_id is not null"
        " group by 1 having count(*) > 1) as profiles"
    )
    assert over_one > 0
    failures = _identity_rule_failures(
        world,
        f"update {stitched} set component_node_id = {second} where component_node_id = {component};"
        " update prep.identity_rules set value = '1' where rule = 'max_identities_per_profile'",
        f"update {stitched} set component_node_id = {component} where component_node_id = {second};"
        f" update prep.identity_rules set value = '{cap}' where rule = 'max_identities_per_profile'",
    )
    assert failures == {
        "assert_identity_links_within_one_component": 1,
        "assert_identity_profiles_follow_the_rules": over_one,
    }

    # two CRM customers put in one profile: the second one's links now cross two profiles too,
    # which only a component no guard cut forbids
    (_, profile_a), (crm_b, profile_b) = world.rows(
        f"select stitched.node_id, stitched.profile_id from {stitched} as stitched"
        " inner join identity.int_identity_nodes_numbered as nodes on nodes.node_id = stitched.node_id"
        " where nodes.namespace = 'crm' and stitched.profile_id is not null order by 2 limit 2"
    )
    assert profile_a != profile_b
    crm_b_links = world.value(
        f"select count(*) filter (where not stitched.component_guarded) from {stitched} as stitched"
        " inner join identity.int_identity_links_paired as links"
        " on stitched.node_id in (links.node_id_a, links.node_id_b) where stitched.node_id = %s",
        (crm_b,),
    )
    failures = _identity_rule_failures(
        world,
        f"update {stitched} set profile_id = '{profile_a}' where node_id = {crm_b}",
        f"update {stitched} set profile_id = '{profile_b}' where node_id = {crm_b}",
    )
    assert failures == {
        "assert_identity_links_within_one_component": crm_b_links,
        "assert_identity_profiles_follow_the_rules": 1,
    }

    assert world.snapshot() == before
