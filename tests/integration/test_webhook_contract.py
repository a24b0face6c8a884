"""The webhook client against its stand-in: every documented answer, over real HTTP on loopback."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest
import requests
from activation_world import WEBHOOK

from cdp.activation.config import parse_activation
from cdp.activation.destinations.base import (
    Batch,
    BatchRejected,
    DestinationUnusable,
    Instance,
    Item,
    Retryable,
    Throttled,
)
from cdp.activation.destinations.webhook import Webhook, sign
from cdp.activation.standins import Fault, WebhookStandIn

pytestmark = pytest.mark.integration
SECRET = "s3cret"


@pytest.fixture
def standin():
    with WebhookStandIn(SECRET, max_members=5) as server:
        yield server


def client(standin, secret=SECRET, timeout=5.0) -> Webhook:
    activation = parse_activation({**WEBHOOK, "retry": {"timeout_seconds": timeout}})
    return Webhook(activation, Instance("test_hook", url=f"{standin.url}/hooks", password=secret))


def batch(ids, action="add", key="k1", emails=None) -> Batch:
    emails = emails or {}
    items = tuple(
        Item(pid, f"h{pid}", {"profile_id": pid, "email": emails.get(pid, f"{pid.lower()}@example.com")}, action)
        for pid in ids
    )
    return Batch("hook", "aud_test", "hook/2026-11-01", date(2026, 11, 1), key, action, 1, True, 0, items, len(items))


def raw_post(standin, body: bytes, key: str | None = "raw", timestamp: str | None = None, secret: str = SECRET):
    timestamp = timestamp or str(int(time.time()))
    headers = {"X-Signature-Timestamp": timestamp, "X-Signature-256": sign(secret, timestamp, body)}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{standin.url}/hooks", data=body, headers=headers, timeout=5)


def test_add_then_remove_changes_membership_once(standin):
    hook = client(standin)
    assert hook.send(batch(["P1", "P2"])).rejected == {}
    hook.send(batch(["P1"], action="remove", key="k2"))
    assert set(standin.members("hook")) == {"P2"}
    assert standin.applied("hook") == {"hook/2026-11-01|add|P1": 1, "hook/2026-11-01|add|P2": 1} | {
        "hook/2026-11-01|remove|P1": 1
    }
    request = standin.requests[0]
    assert request.headers["content-type"] == "application/json"
    assert request.json()["action"] == "add" and request.json()["batch_seq"] == 1


def test_a_replayed_idempotency_key_is_answered_but_not_applied_again(standin):
    hook = client(standin)
    hook.send(batch(["P1"]))
    again = hook.send(batch(["P1"]))
    assert again.detail["replayed"] is True
    assert standin.applied("hook") == {"hook/2026-11-01|add|P1": 1}


def test_the_same_key_with_another_body_is_rejected(standin):
    hook = client(standin)
    hook.send(batch(["P1"]))
    with pytest.raises(BatchRejected, match="422: Idempotency-Key reused"):
        hook.send(batch(["P2"]))


def test_signature_secret_and_timestamp_are_enforced(standin):
    with pytest.raises(DestinationUnusable, match="401: invalid signature"):
        client(standin, secret="wrong").send(batch(["P1"]))
    body = json.dumps({"activation": "hook", "run_id": "r", "batch_seq": 1, "action": "add", "members": []}).encode()
    stale = raw_post(standin, body, timestamp=str(int(time.time()) - 3600))
    assert stale.status_code == 401 and "tolerance" in stale.json()["error"]
    assert raw_post(standin, body, key=None).status_code == 400
    assert raw_post(standin, body).status_code == 200
    assert standin.members("hook") == {}


def test_more_members_than_the_limit_is_refused_whole(standin):
    with pytest.raises(BatchRejected, match="413: at most 5 members"):
        client(standin).send(batch([f"P{i}" for i in range(6)]))
    assert standin.members("hook") == {}


def test_207_separates_taken_refused_and_transient_members(standin):
    standin.refuse["P3"] = (503, "mailbox service busy")
    result = client(standin).send(batch(["P1", "P2", "P3"], emails={"P2": "not-an-email"}))
    assert result.rejected == {"P2": "422: invalid email"}
    assert result.failed == {"P3": "503: mailbox service busy"}
    assert set(standin.members("hook")) == {"P1"}


@pytest.mark.parametrize(
    ("fault", "error", "message"),
    [
        (Fault(429, {"error": "slow down"}, {"Retry-After": "3"}), Throttled, "HTTP 429: slow down"),
        (Fault(500, {"error": "boom"}), Retryable, "HTTP 500: boom"),
        (Fault(503, b"<html>Bad gateway</html>", content_type="text/html"), Retryable, "HTTP 503: <html>"),
        (Fault(408, {"error": "request timeout"}), Retryable, "HTTP 408"),
        (Fault(404, {"error": "no such hook"}), DestinationUnusable, "HTTP 404: no such hook"),
        (Fault(403, {"error": "forbidden"}), DestinationUnusable, "HTTP 403"),
        (Fault(400, {"error": "bad member for jane@example.com"}), BatchRejected, "HTTP 400: bad member for <email>"),
    ],
)
def test_error_answers_map_to_retry_stop_or_reject(standin, fault, error, message):
    standin.fail(fault)
    with pytest.raises(error, match=message) as raised:
        client(standin).send(batch(["P1"]))
    if fault.status == 429:
        assert raised.value.retry_after == 3
    assert standin.members("hook") == {}  # nothing applied on an error answer
    client(standin).send(batch(["P1"]))  # the same batch goes through once the fault is gone
    assert set(standin.members("hook")) == {"P1"}


def test_no_answer_in_time_is_transient_and_the_retry_is_not_applied_twice(standin):
    standin.fail(Fault(status=None, delay=1.0, after_apply=True))  # applied, answered too late
    with pytest.raises(Retryable, match="no answer within 0.3s"):
        client(standin, timeout=0.3).send(batch(["P1"]))
    client(standin).send(batch(["P1"]))
    assert standin.applied("hook") == {"hook/2026-11-01|add|P1": 1}
