"""Profiles, audiences and membership history built by dbt on small_world (dbt_project/tests/fixtures).

One database for the module: small_world is loaded and built for 2026-11-02. The merge policy,
traits, audiences and the explain command are read from that build; the last tests build other
run dates to check the membership history (a later date, a backfill, a rerun with
--full-refresh).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg2
import pytest
from dbt.cli.main import dbtRunner
from integration.identity_support import private_database, profile_of, rows

from cdp import cli, settings
from cdp.audiences.membership import DayChanges, changes_of_day, latest_change_counts
from cdp.identity.normalize import DDL as PREP_DDL
from cdp.identity.rules import write_rules
from cdp.ingest.loader import ensure_tables
from cdp.transform import BuildFailed, build, dbt_args, run_dbt

pytestmark = pytest.mark.integration

RUN_DATE = "2026-11-02"
FIXTURE = settings.dbt_project_dir() / "tests" / "fixtures" / "small_world.sql"
CART = "aud_known_cart_abandoners_ads"
HISTORY_TABLES = ("audiences.membership", "audiences.membership_changes", "audiences.membership_runs")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def conn(embedded_server, tmp_path_factory):
    with private_database(embedded_server, tmp_path_factory.mktemp("state")) as url:
        connection = psycopg2.connect(url)
        ensure_tables(connection)
        with connection.cursor() as cur:
            cur.execute(PREP_DDL)
            cur.execute(FIXTURE.read_text())
        write_rules(connection)
        connection.commit()
        connection.autocommit = True  # no transaction left open to block dbt's renames
        build(RUN_DATE)
        yield connection
        connection.close()


@pytest.fixture(scope="module")
def alice(conn) -> str:
    return profile_of(conn, "crm", "C-1001")


def history(conn) -> dict[str, list[tuple]]:
    return {table: sorted(rows(conn, f"select * from {table}"), key=repr) for table in HISTORY_TABLES}


def members(conn, audience: str) -> set[str]:
    return {p for (p,) in rows(conn, f"select profile_id from audiences.{audience}")}


# --- merge policy ------------------------------------------------------------------------------


def test_attributes_come_from_the_record_the_policy_picks(conn, alice):
    assert rows(
        conn,
        "select crm_id, loyalty_id, email, phone, first_name, last_name, birth_date, gender, city, country,"
        " loyalty_tier, points_balance from profiles.profiles where profile_id = %s",
        (alice,),
    ) == [
        (
            "C-1001",
            "L-5001",
            "alice.martin@example.com",
            "+33612345678",
            "Alice",
            "Martin",
            date(1988, 4, 12),
            "F",
            "Paris",
            "FR",
            "gold",
            1200,
        )
    ]
    # Each winner with its source and its own update time: the stale CRM re-send (updated 10-15,
    # landed last) lost to the version updated 11-01; tier and points from the latest loyalty row.
    lineage = {
        attribute: (source, record, at)
        for attribute, source, record, at in rows(
            conn,
            "select attribute, source_name, record_id, source_updated_at from profiles.profile_attribute_sources"
            " where profile_id = %s",
            (alice,),
        )
    }
    assert lineage["last_name"] == ("crm_customers", "C-1001", utc(2026, 11, 1, 8))
    assert lineage["loyalty_status"] == ("loyalty_members", "L-5001", utc(2026, 10, 31, 12))
    assert lineage["address"] == ("crm_customers", "C-1001", utc(2026, 11, 1, 8))


def test_placeholders_never_win_and_guests_get_their_order_data(conn):
    # Frank's CRM email and phone are placeholders, his loyalty email test@test.com: no email, no phone.
    frank = profile_of(conn, "crm", "C-1004")
    assert rows(conn, "select email, phone, first_name from profiles.profiles where profile_id = %s", (frank,)) == [
        (None, None, "Frank")
    ]
    assert (
        rows(
            conn,
            "select attribute from profiles.profile_attribute_sources"
            " where profile_id = %s and attribute in ('email', 'phone')",
            (frank,),
        )
        == []
    )
    # Dan only ever ordered as a guest: email, phone, address and country from his order.
    dan = profile_of(conn, "email", "dan.lee@example.org")
    assert rows(
        conn, "select email, phone, city, country, crm_id from profiles.profiles where profile_id = %s", (dan,)
    ) == [("dan.lee@example.org", "+12015550123", "Hoboken", "US", None)]


# --- traits ------------------------------------------------------------------------------------


def test_offline_and_online_traits(conn, alice):
    assert rows(
        conn,
        "select currency, store_revenue, online_revenue, lifetime_revenue, store_order_count, online_order_count,"
        " average_order_value, return_count, returned_amount, first_purchase_at, last_purchase_at,"
        " preferred_store_id, top_category, last_cart_activity_at, days_since_last_cart_activity,"
        " days_since_last_store_purchase from profiles.profiles where profile_id = %s",
        (alice,),
    ) == [
        (
            "EUR",
            Decimal("140.00"),
            Decimal("59.90"),
            Decimal("199.90"),
            2,
            1,
            Decimal("66.63"),
            1,
            Decimal("20.50"),
            utc(2026, 6, 1, 11),
            utc(2026, 10, 20, 15),
            "S-PAR-01",
            "shoes",  # one pair bought (3 points) beats one bag put in the cart (2 points)
            utc(2026, 11, 2, 18, 30),
            0,
            13,
        )
    ]
    scores = rows(
        conn,
        "select rfm_recency_score, rfm_frequency_score, rfm_monetary_score from profiles.profiles"
        " where profile_id = %s",
        (alice,),
    )
    assert all(1 <= score <= 5 for score in scores[0])
    # Nobody without an order has scores; everybody with one has all three.
    assert rows(
        conn,
        "select count(*) from profiles.profiles where (order_count > 0) <> (rfm_recency_score is not null)",
    ) == [(0,)]


# --- audiences ---------------------------------------------------------------------------------


def test_audiences_select_the_people_their_conditions_describe(conn, alice):
    assert members(conn, CART) == {alice}
    assert members(conn, "aud_loyal_store_shoppers_sms") == {alice}
    assert members(conn, "aud_store_shoppers_online_personalization") == {alice}
    # Each audience table keeps the values that decided, as of the run.
    assert rows(
        conn, f"select days_since_last_cart_activity, last_cart_activity_at, last_purchase_at from audiences.{CART}"
    ) == [(0, utc(2026, 11, 2, 18, 30), utc(2026, 10, 20, 15))]
    audiences = [a for (a,) in rows(conn, "select distinct audience from audiences.membership_runs")]
    assert len(audiences) == 6
    assert set(rows(conn, "select audience, profile_id from audiences.audience_members")) == {
        (audience, p) for audience in audiences for p in members(conn, audience)
    }


def test_first_run_realizes_every_member(conn):
    assert rows(
        conn,
        "select count(*), min(realized_run_date), max(realized_run_date), min(realized_at), max(realized_at),"
        " count(exited_at) from audiences.membership where status = 'realized'",
    ) == [(rows(conn, "select count(*) from audiences.audience_members")[0][0], date(2026, 11, 2), date(2026, 11, 2),
           utc(2026, 11, 3), utc(2026, 11, 3), 0)]  # fmt: skip
    assert rows(conn, "select count(*) from audiences.membership_changes where change = 'exited'") == [(0,)]


# --- explain -----------------------------------------------------------------------------------


def test_explain_a_member_shows_conditions_values_and_consent(conn, capsys):
    assert cli.main(["audience", "explain", "--audience", CART, "--identity", "email: Alice.Martin@Example.com"]) == 0
    out = capsys.readouterr().out
    for line in (
        "[yes] known_customer",
        "crm_id=C-1001, loyalty_id=L-5001",
        "[yes] recent_cart",
        "days_since_last_cart_activity=0",
        "Result: a member of aud_known_cart_abandoners_ads",
        "Consent ad_targeting: granted (2026-10-05T10:00:00+00:00, preference_center): activation may send",
        "realized: entered 2026-11-02, left -",
    ):
        assert line in out, line
    # Personal data is said to be there, never shown.
    assert "email=(set), phone=(set)" in out
    for pii in ("alice.martin", "Martin", "+336"):
        assert pii not in out


def test_explain_a_non_member_names_the_failing_condition(conn, capsys):
    assert cli.main(["audience", "explain", "--audience", CART, "--identity", "email:dan.lee@example.org"]) == 0
    out = capsys.readouterr().out
    assert "[NO ] known_customer" in out and "crm_id=null, loyalty_id=null" in out
    assert "Result: not a member of aud_known_cart_abandoners_ads" in out
    assert "Membership periods: never a member" in out


def test_explain_an_unknown_identity_fails_without_echoing_it(conn, capsys):
    assert cli.main(["audience", "explain", "--audience", CART, "--identity", "email:nobody@example.net"]) == 2
    err = capsys.readouterr().err
    assert "no profile holds that email identity" in err and "nobody" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["audience", "explain", "--audience", CART, "--profile", "p-1"],
        ["audience", "explain", "--audience", CART, "--identity", "crm:C-1001"],
        ["identity", "explain", "--namespace", "crm", "--value", "C-1001"],
    ],
)
def test_explain_before_the_warehouse_is_built_is_one_error_line(warehouse_url, argv, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the ") and "not been built" in err and "`cdp run`" in err
    assert err.count("\n") == 1


def test_explain_keeps_the_traceback_of_other_database_errors(warehouse_url):
    with psycopg2.connect(warehouse_url) as setup, setup.cursor() as cur:
        cur.execute("create schema profiles; create table profiles.profiles (crm_id text)")
    setup.close()
    with pytest.raises(psycopg2.errors.UndefinedColumn):
        cli.main(["audience", "explain", "--audience", CART, "--profile", "p-1"])


# --- the merge policy is checked ---------------------------------------------------------------


def test_a_policy_that_breaks_a_rule_fails_the_build_with_the_reason(conn):
    policy = {"placeholders": [], "attributes": {"names": {"rule": "newest", "sources": ["crm_customers"]}}}
    with pytest.raises(BuildFailed, match="'names': rule must be most_recent or source_priority, got 'newest'"):
        run_dbt("compile", RUN_DATE, "int_profile_attributes_merged", dbt_vars={"merge_policy": policy})
    policy = {"placeholders": [], "attributes": {"email": {"rule": "most_recent", "sources": ["pos_transactions"]}}}
    policy["attributes"]["first_name"] = {"rule": "most_recent", "sources": ["pos_transactions"]}
    with pytest.raises(BuildFailed, match="source 'pos_transactions' does not carry 'first_name'"):
        run_dbt("compile", RUN_DATE, "int_profile_attributes_merged", dbt_vars={"merge_policy": policy})


# --- history over run dates (keep last: they build other dates) ---------------------------------


def test_a_later_run_records_exits_and_keeps_earlier_periods(conn, alice):
    build("2026-11-05")  # Alice's cart is three days old
    assert alice not in members(conn, CART)
    assert rows(
        conn,
        "select status, realized_run_date, exited_run_date, exited_at from audiences.membership"
        " where audience = %s and profile_id = %s",
        (CART, alice),
    ) == [("exited", date(2026, 11, 2), date(2026, 11, 5), utc(2026, 11, 6))]
    assert rows(
        conn, "select change from audiences.membership_changes where run_date = '2026-11-05' and profile_id = %s",
        (alice,),
    ) == [("exited",)]  # fmt: skip
    assert rows(conn, "select distinct run_date from audiences.membership_runs order by 1") == [
        (date(2026, 11, 2),),
        (date(2026, 11, 5),),
    ]
    # What activation and the run summary read.
    with conn.cursor() as cur:
        assert changes_of_day(cur, CART, date(2026, 11, 5)) == DayChanges(entered=[], exited=[alice])
        assert changes_of_day(cur, CART, date(2026, 11, 2)) == DayChanges(entered=[alice], exited=[])
        assert latest_change_counts(cur)[CART] == (0, 1)


def test_a_backfill_or_a_full_refresh_rewrites_no_history(conn, alice):
    before = history(conn)
    build(RUN_DATE)  # a backfill: the audiences are those of 11-02 again, the history stays
    assert alice in members(conn, CART)
    assert history(conn) == before
    # Rerunning the latest date with --full-refresh rebuilds every table but the history.
    rerun = dbtRunner().invoke(dbt_args("build", "2026-11-05") + ["--full-refresh", "--log-level", "warn"])
    assert rerun.success
    assert alice not in members(conn, CART)
    assert history(conn) == before
