"""The sync engine on the real warehouse against the stand-ins: plans, batches, retries, partial failures, resume.

Every test ends by comparing what the stand-in holds with the consented audience, and what it
applied with what `activation.sync_log` says was sent: nothing missing, nothing twice.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date

import pytest
from activation_world import META, WEBHOOK, connection_env, consented, execute, rows, seed

from cdp.activation.config import parse_activation
from cdp.activation.engine import run_activation
from cdp.activation.standins import Fault, MetaStandIn, WebhookStandIn
from cdp.activation.standins.meta import error_body

pytestmark = pytest.mark.integration
DAY1, DAY2, DAY3 = date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)
SECRET = "hook-secret"
TOKEN = "meta-token"
AUDIENCE = META["options"]["audience_id"]


@pytest.fixture
def hook(monkeypatch):
    with WebhookStandIn(SECRET) as server:
        connection_env(monkeypatch, "test_hook", conn_type="http", host=f"{server.url}/hooks", password=SECRET)
        yield server


@pytest.fixture
def meta(monkeypatch):
    with MetaStandIn(TOKEN) as server:
        server.create_audience(AUDIENCE, "test")
        connection_env(monkeypatch, "test_meta", conn_type="http", host=server.url, password=TOKEN)
        yield server


def run(db, entry: dict, dt: date, dry_run: bool = False):
    return run_activation(db, parse_activation(entry), dt, dry_run=dry_run)


def sent_log(db, activation: str) -> Counter:
    """(profile_id, action) -> how many times the sync log says it was sent."""
    sql = "select profile_id, action from activation.sync_log where activation = %s and outcome = 'sent'"
    return Counter(rows(db, sql, (activation,)))


def applied_exactly_once(db, standin: WebhookStandIn) -> bool:
    """Every change the receiver applied, applied once, and exactly the changes the sync log says were sent."""
    applied = Counter({tuple(key.split("|")): n for key, n in standin.applied("hook").items()})
    sql = "select run_id, profile_id, action from activation.sync_log where activation = 'hook' and outcome = 'sent'"
    # Updates travel as adds.
    logged = Counter((run_id, "remove" if action == "remove" else "add", pid) for run_id, pid, action in rows(db, sql))
    return set(applied.values()) <= {1} and applied == logged


def test_webhook_days_of_changes_end_with_the_consented_audience(db, hook):
    seed(db, 30, denied={3}, no_email={4})
    entry = {**WEBHOOK, "batch_size": 7}
    first = run(db, entry, DAY1)
    assert set(hook.members("hook")) == consented(db) and len(consented(db)) == 28
    assert (first.sent, len(first.plan.adds), first.batches) == (28, 28, 4)  # 7 + 7 + 7 + 7
    assert {r.json()["batch_seq"] for r in hook.requests} == {1, 2, 3, 4}
    reasons = dict(rows(db, "select profile_id, reason from activation.sync_log where outcome = 'withheld'"))
    assert reasons == {"P00003": "no email_marketing consent", "P00004": "no identity to send"}

    execute(db, "delete from audiences.aud_test where profile_id in ('P00001', 'P00002')")
    execute(db, "update profiles.profiles set last_name = 'Changed' where profile_id = 'P00010'")
    execute(db, "update profiles.consent set status = 'denied' where profile_id = 'P00011'")
    before = len(hook.requests)
    second = run(db, entry, DAY2)
    assert (second.plan.removes, second.plan.updates) == (["P00001", "P00002", "P00011"], ["P00010"])
    assert [r.json()["action"] for r in hook.requests[before:]] == ["remove", "add"]  # removes go first
    assert set(hook.members("hook")) == consented(db)
    assert hook.members("hook")["P00010"]["last_name"] == "Changed"

    before = len(hook.requests)
    again = run(db, entry, DAY2)
    assert (again.sent, again.plan.changes, len(hook.requests)) == (0, 0, before)  # no change, nothing sent
    assert applied_exactly_once(db, hook)


def test_dry_run_plans_but_sends_and_records_nothing(db, hook):
    seed(db, 5)
    result = run(db, WEBHOOK, DAY1, dry_run=True)
    assert result.dry_run and len(result.plan.adds) == 5
    assert hook.requests == []
    assert rows(db, "select count(*) from activation.sync_log")[0][0] == 0
    assert rows(db, "select count(*) from activation.outbox")[0][0] == 0


def test_throttling_errors_and_timeouts_are_retried_to_the_exact_state(db, hook):
    seed(db, 20)
    hook.fail(
        Fault(429, {"error": "slow down"}, {"Retry-After": "1"}, skip=1),  # the 2nd request
        Fault(500, {"error": "boom"}, skip=2, times=2),  # then two server errors
        Fault(status=None, delay=1.5, after_apply=True, skip=2),  # applied, but answered after the timeout
    )
    entry = {**WEBHOOK, "batch_size": 5, "retry": {**WEBHOOK["retry"], "timeout_seconds": 0.5}}
    result = run(db, entry, DAY1)
    assert result.error is None and result.sent == 20
    assert (result.retries, result.throttled) == (4, 1)
    assert set(hook.members("hook")) == consented(db) and applied_exactly_once(db, hook)
    statuses = [r.status for r in hook.requests]
    assert statuses.count(429) == 1 and statuses.count(500) == 2
    throttled = next(i for i, r in enumerate(hook.requests) if r.status == 429)
    assert hook.requests[throttled + 1].at - hook.requests[throttled].at >= 1.0  # Retry-After honoured
    attempts = rows(db, "select sum(attempts), count(*) from activation.batch_log where activation = 'hook'")[0]
    assert attempts == (8, 4)


def test_partial_failures_refused_are_held_back_and_transient_ones_sent_next_run(db, hook):
    seed(db, 8)
    hook.refuse.update({"P00005": (422, "unknown recipient"), "P00006": (503, "mailbox busy")})
    first = run(db, WEBHOOK, DAY1)
    assert (first.sent, first.rejected, first.failed) == (6, 1, 1)
    outcomes = dict(rows(db, "select profile_id, outcome || ': ' || coalesce(reason, '') from activation.sync_log"
                            " where outcome in ('rejected', 'failed')"))  # fmt: skip
    assert outcomes == {"P00005": "rejected: 422: unknown recipient", "P00006": "failed: 503: mailbox busy"}

    del hook.refuse["P00006"]
    before = len(hook.requests)
    second = run(db, WEBHOOK, DAY1)
    assert (second.sent, second.plan.held_back) == (1, 1)  # the transient one goes; the refused one waits
    assert [m["profile_id"] for r in hook.requests[before:] for m in r.json()["members"]] == ["P00006"]

    del hook.refuse["P00005"]
    execute(db, "update profiles.profiles set last_name = 'Fixed' where profile_id = 'P00005'")
    third = run(db, WEBHOOK, DAY2)
    assert third.sent == 1 and set(hook.members("hook")) == consented(db) and applied_exactly_once(db, hook)
    assert rows(db, "select count(*) from activation.rejections")[0][0] == 0


def test_a_run_that_gives_up_stops_cleanly_and_the_next_resumes_exactly(db, hook):
    seed(db, 12)
    hook.fail(Fault(500, {"error": "down"}, skip=1, times=3))
    entry = {**WEBHOOK, "batch_size": 4, "retry": {**WEBHOOK["retry"], "attempts": 3}}
    first = run(db, entry, DAY1)
    assert first.error == "HTTP 500: down (gave up after 3 attempts)"
    assert (first.sent, first.failed) == (4, 8)  # batch 1 went; batch 2 failed; batch 3 never tried
    assert len(hook.members("hook")) == 4
    assert rows(db, "select count(*) from activation.outbox where activation = 'hook'")[0][0] == 2
    assert rows(db, "select count(*) from activation.destination_state")[0][0] == 4

    second = run(db, entry, DAY1)
    assert second.error is None and second.resumed == 2 and second.sent == 8
    assert set(hook.members("hook")) == consented(db) and applied_exactly_once(db, hook)
    keys = [r.headers["idempotency-key"] for r in hook.requests]
    assert keys[1] == keys[4]  # the failed batch went again under its own key
    assert rows(db, "select count(*) from activation.outbox")[0][0] == 0


def test_paused_activation_sends_nothing_and_no_sandbox_off_stops(db, hook, monkeypatch):
    seed(db, 3)
    assert run(db, {**WEBHOOK, "schedule": "paused"}, DAY1).skipped == "not scheduled on 2026-11-01 (paused)"
    monkeypatch.delenv("AIRFLOW_CONN_TEST_HOOK")
    monkeypatch.setenv("CDP_SANDBOX", "off")
    result = run(db, WEBHOOK, DAY1)
    assert result.error == "no connection test_hook configured and CDP_SANDBOX is off" and result.failed == 3
    assert hook.requests == []


def test_meta_sends_10000_rows_per_request(db, meta):
    seed(db, 10_001)
    result = run(db, META, DAY1)
    assert result.sent == 10_001
    assert [len(r.json()["payload"]["data"]) for r in meta.requests] == [10_000, 1]
    assert len(meta.members(AUDIENCE)) == 10_001


def test_meta_throttling_backoff_and_invalid_entries_recorded(db, meta):
    seed(db, 6, denied={6})
    meta.invalid_extern_ids.add("P00002")
    meta.fail(Fault(400, error_body(80003, "There have been too many calls to this ad-account", 2446289)))
    result = run(db, META, DAY1)
    assert (result.throttled, result.retries, result.rejected, result.invalid_entries) == (1, 1, 1, 1)
    counts = result.counts()  # what the task returns to XCom
    assert {k: counts[k] for k in ("sent", "rejected", "retries", "throttled", "invalid_entries")} == {
        "sent": 4,
        "rejected": 1,
        "retries": 1,
        "throttled": 1,
        "invalid_entries": 1,
    }
    detail = rows(db, "select detail from activation.batch_log where activation = 'meta'")[0][0]
    assert detail == {"num_received": 5, "num_invalid_entries": 1, "invalid_identified": 1}
    reason = rows(db, "select reason from activation.sync_log where outcome = 'rejected'")[0][0]
    assert reason == "Meta invalid entry: invalid data"
    held = {identity.removeprefix("EXTERN_ID:") for identity in meta.members(AUDIENCE)}
    assert held == consented(db, "ad_targeting") - {"P00002"}


def test_meta_incremental_days_remove_and_update(db, meta):
    seed(db, 10)
    run(db, {**META, "batch_size": 3}, DAY1)
    old_email, new_email = (
        f"EMAIL:{hashlib.sha256(e).hexdigest()}" for e in (b"person2@example.com", b"new@example.com")
    )
    assert old_email in meta.matched(AUDIENCE)
    execute(db, "delete from audiences.aud_test where profile_id = 'P00001'")
    execute(db, "update profiles.profiles set email = 'new@example.com' where profile_id = 'P00002'")
    result = run(db, {**META, "batch_size": 3}, DAY2)
    assert (result.plan.removes, result.plan.updates) == (["P00001"], ["P00002"])
    # The update: the row delivered before is deleted, then the new one added.
    assert [r.method for r in meta.requests[-3:]] == ["DELETE", "DELETE", "POST"]
    assert meta.requests[-2].json()["payload"]["data"][0][:2] == ["P00002", old_email.removeprefix("EMAIL:")]
    members = meta.members(AUDIENCE)
    assert {i.removeprefix("EXTERN_ID:") for i in members} == consented(db, "ad_targeting")
    assert old_email not in meta.matched(AUDIENCE) and new_email in members["EXTERN_ID:P00002"]
    history = meta.applied(AUDIENCE)
    assert history["EXTERN_ID:P00001"] == ["add", "remove"] and history["EXTERN_ID:P00002"] == ["add", "remove", "add"]
    detail = rows(db, "select detail from activation.batch_log where action = 'update'")[0][0]
    assert detail["previous_rows_deleted"] == 1


def test_meta_update_left_in_the_outbox_still_deletes_the_old_row(db, meta):
    seed(db, 3)
    run(db, META, DAY1)
    old_email = f"EMAIL:{hashlib.sha256(b'person2@example.com').hexdigest()}"
    execute(db, "update profiles.profiles set email = 'new@example.com' where profile_id = 'P00002'")
    meta.fail(Fault(400, error_body(200, "Permissions error"), method="DELETE"))
    stopped = run(db, META, DAY2)
    assert stopped.error.startswith("Meta error 200") and stopped.failed == 1
    assert old_email in meta.matched(AUDIENCE)
    resumed = run(db, META, DAY3)  # the update is sent from the outbox, with the row it replaces
    assert (resumed.error, resumed.resumed, resumed.sent) == (None, 1, 1)
    assert old_email not in meta.matched(AUDIENCE)
    assert f"EMAIL:{hashlib.sha256(b'new@example.com').hexdigest()}" in meta.matched(AUDIENCE)


def test_meta_mirror_replaces_in_sessions_and_restarts_a_lost_session(db, meta):
    seed(db, 10)
    mirror = {**META, "name": "mirror", "mode": "mirror", "batch_size": 4}
    run(db, mirror, DAY1)
    replaced = [r.json()["session"] for r in meta.requests]
    assert [(s["batch_seq"], s["last_batch_flag"]) for s in replaced] == [(1, False), (2, False), (3, True)]
    assert len({s["session_id"] for s in replaced}) == 1

    execute(db, "delete from audiences.aud_test where profile_id in ('P00001', 'P00009')")
    meta.fail(Fault(400, error_body(2650, "first batch_seq was not detected", 1870147), skip=1, path="usersreplace"))
    before = len(meta.requests)
    result = run(db, mirror, DAY2)
    assert result.error is None and result.plan.removes == ["P00001", "P00009"]
    sessions = [(r.json()["session"]["session_id"], r.json()["session"]["batch_seq"]) for r in meta.requests[before:]]
    first, restarted = sessions[0][0], sessions[2][0]
    assert sessions == [(first, 1), (first, 2), (restarted, 1), (restarted, 2)] and first != restarted
    assert {i.removeprefix("EXTERN_ID:") for i in meta.members(AUDIENCE)} == consented(db, "ad_targeting")
    assert sent_log(db, "mirror")[("P00001", "remove")] == 1

    before = len(meta.requests)
    assert run(db, mirror, DAY3).sent == 0 and len(meta.requests) == before  # no change, no session
