"""Audience membership over several generated days: who was realized and who exited when, and history kept.

Four days of the sample landing zone go through the whole pipeline one day at a time (activations
planned, not sent). After each day the test keeps what the warehouse says: every audience's
members and the profile traits the cart-abandoner audience decides on. The membership history
is then checked against those daily pictures, and an independent reading of the audience's rule
in Python is checked against the audience itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import psycopg2
import pytest
from integration.identity_support import private_database

from cdp import pipeline
from cdp.sample_data import generate_landing_zone
from cdp.transform import build

pytestmark = pytest.mark.e2e

START = date(2026, 11, 1)
DAYS = [START + timedelta(days=i) for i in range(4)]
CUSTOMERS = 400
SEED = 3
CART_AUDIENCE = "aud_known_cart_abandoners_ads"
HISTORY_TABLES = ("audiences.membership", "audiences.membership_changes", "audiences.membership_runs")


@dataclass
class Day:
    members: set[tuple[str, str]]  # (audience, profile_id) in every audience table
    cart_traits: dict[str, tuple]  # profile_id -> (crm_id, known, matchable, last cart, last purchase)


@dataclass
class History:
    url: str
    landing: str
    days: dict[date, Day]

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg2.connect(self.url) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()


def end_of(day: date) -> datetime:
    """Midnight UTC after a run date: the time a run's membership changes are stamped with."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def picture(url: str) -> Day:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute("select audience from audiences.membership_runs group by audience")
        members = set()
        for (audience,) in cur.fetchall():
            cur.execute(f'select profile_id from audiences."{audience}"')
            members |= {(audience, profile_id) for (profile_id,) in cur.fetchall()}
        cur.execute(
            "select profile_id, crm_id, crm_id is not null or loyalty_id is not null,"
            " email is not null or phone is not null, last_cart_activity_at, last_purchase_at"
            " from profiles.profiles"
        )
        traits = {row[0]: row[1:] for row in cur.fetchall()}
    return Day(members, traits)


def history_snapshot(history: History) -> dict[str, list[tuple]]:
    return {table: sorted(history.rows(f"select * from {table}"), key=repr) for table in HISTORY_TABLES}


def expected_periods(days: dict[date, Day]) -> dict[tuple[str, str], list[tuple[str, date, date | None]]]:
    """(audience, profile) -> [(status, realized run date, exited run date)] replayed from the daily members."""
    periods: dict[tuple[str, str], list] = {}
    previous: set = set()
    for day, picture_ in sorted(days.items()):
        for key in picture_.members - previous:
            periods.setdefault(key, []).append(["realized", day, None])
        for key in previous - picture_.members:
            periods[key][-1][0] = "exited"
            periods[key][-1][2] = day
        previous = picture_.members
    return {key: [tuple(p) for p in ps] for key, ps in periods.items()}


def is_cart_abandoner(traits: tuple, day: date) -> bool:
    """The audience rule, read independently: known, matchable, cart on the day or the day before, no purchase since."""
    _, known, matchable, cart_at, purchased_at = traits
    if not (known and matchable and cart_at):
        return False
    recent = (day - cart_at.astimezone(UTC).date()).days < 2
    return recent and (purchased_at is None or purchased_at < cart_at)


@pytest.fixture(scope="module")
def history(embedded_server, tmp_path_factory) -> History:
    landing = tmp_path_factory.mktemp("landing")
    generate_landing_zone(landing, customers=CUSTOMERS, days=len(DAYS), start=START, seed=SEED)
    with private_database(embedded_server, tmp_path_factory.mktemp("state")) as url:
        days = {}
        for day in DAYS:
            [result] = pipeline.run(str(landing), day, day, dry_run=True)
            assert result.error is None, result.error
            days[day] = picture(url)
        yield History(url, str(landing), days)


def test_the_cart_audience_follows_its_rule_every_day(history):
    for day, picture_ in history.days.items():
        expected = {p for p, traits in picture_.cart_traits.items() if is_cart_abandoner(traits, day)}
        actual = {p for audience, p in picture_.members if audience == CART_AUDIENCE}
        assert actual == expected, day
        assert actual, f"no cart abandoner on {day}: the test would prove nothing"


def test_membership_periods_replay_the_daily_members(history):
    expected = expected_periods(history.days)
    rows = history.rows(
        "select audience, profile_id, status, realized_run_date, exited_run_date, realized_at, exited_at"
        " from audiences.membership"
    )
    actual: dict[tuple[str, str], list] = {}
    for audience, profile_id, status, realized, exited, realized_at, exited_at in rows:
        actual.setdefault((audience, profile_id), []).append((status, realized, exited))
        assert realized_at == end_of(realized)
        assert exited_at == (end_of(exited) if exited else None)
    assert {key: sorted(ps, key=lambda p: p[1]) for key, ps in actual.items()} == expected
    exits = [p for ps in expected.values() for p in ps if p[0] == "exited"]
    assert exits, "nobody exited an audience: the test would prove nothing"


def test_each_day_records_its_entries_and_exits(history):
    previous: set = set()
    for day, picture_ in sorted(history.days.items()):
        changes = history.rows(
            "select audience, profile_id, change, changed_at from audiences.membership_changes where run_date = %s",
            (day,),
        )
        assert {(a, p) for a, p, change, _ in changes if change == "entered"} == picture_.members - previous
        assert {(a, p) for a, p, change, _ in changes if change == "exited"} == previous - picture_.members
        assert {at for *_, at in changes} == {end_of(day)}
        previous = picture_.members
    counts = history.rows("select run_date, sum(member_count) from audiences.membership_runs group by 1 order by 1")
    assert counts == [(day, len(history.days[day].members)) for day in DAYS]


def test_a_customer_who_left_the_cart_audience_and_came_back_has_two_periods(history):
    periods = history.rows(
        "select m.profile_id, m.status, m.realized_run_date, m.exited_run_date from audiences.membership m"
        " where m.audience = %s and m.profile_id in (select profile_id from audiences.membership"
        " where audience = %s group by profile_id having count(*) > 1)"
        " order by m.profile_id, m.realized_run_date",
        (CART_AUDIENCE, CART_AUDIENCE),
    )
    assert periods, "no generated customer left the cart audience and came back"
    profile_id = periods[0][0]
    mine = [row[1:] for row in periods if row[0] == profile_id]
    crm_id = history.days[DAYS[-1]].cart_traits[profile_id][0]  # who it is, in the failure messages
    # In, out, in again: every period but the last one closed, each before the next one opened.
    assert len(mine) >= 2 and all(status == "exited" for status, _, _ in mine[:-1]), (crm_id, mine)
    assert all(earlier[2] <= later[1] for earlier, later in zip(mine, mine[1:], strict=False)), (crm_id, mine)
    # Each day, the customer is inside a period exactly when the audience's rule holds for them.
    for day, picture_ in history.days.items():
        inside = any(start <= day and (end is None or day < end) for _, start, end in mine)
        assert inside == is_cart_abandoner(picture_.cart_traits[profile_id], day), (crm_id, day)


# --- reruns (keep last: they run days again) -------------------------------------------------


def test_rerunning_the_last_day_or_backfilling_an_earlier_one_rewrites_no_history(history):
    before = history_snapshot(history)
    [result] = pipeline.run(history.landing, DAYS[-1], DAYS[-1], dry_run=True)
    assert result.error is None
    assert history_snapshot(history) == before
    # A backfill rebuilds the audiences of its date but leaves the recorded history as it was.
    build(DAYS[1].isoformat())
    assert picture(history.url).members == history.days[DAYS[1]].members
    assert history_snapshot(history) == before
