"""The Meta Custom Audiences client against its stand-in: payload, auth, limits, sessions and every error."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import pytest
import requests
from activation_world import META, connection_env, consented, execute, rows, seed

from cdp.activation.config import parse_activation
from cdp.activation.destinations.base import (
    Batch,
    DestinationUnusable,
    Instance,
    Item,
    Retryable,
    SessionLost,
    Throttled,
)
from cdp.activation.destinations.meta_custom_audiences import MetaCustomAudiences, appsecret_proof
from cdp.activation.engine import run_activation
from cdp.activation.standins import Fault, MetaStandIn
from cdp.activation.standins.meta import error_body

pytestmark = pytest.mark.integration
TOKEN = "system-user-token"
AUDIENCE = META["options"]["audience_id"]
DATE = date(2026, 11, 1)


@pytest.fixture
def standin():
    with MetaStandIn(TOKEN, app_secret="app-secret") as server:
        server.create_audience(AUDIENCE, "test")
        yield server


def client(standin, token=TOKEN, **extra) -> MetaCustomAudiences:
    extra.setdefault("app_secret", "app-secret")
    return MetaCustomAudiences(parse_activation(META), Instance("test_meta", standin.url, password=token, extra=extra))


def item(i: int, action: str = "add", **override) -> Item:
    payload, _ = MetaCustomAudiences.payload(
        parse_activation(META),
        f"P{i}",
        {"profile_id": f"P{i}", "email": f"p{i}@example.com", "phone": f"+3361000000{i}", "last_name": "Lee"},
    )
    return Item(f"P{i}", f"h{i}", {**payload, **override}, action)


def batch(items, action="add", seq=1, last=True, session_id=0) -> Batch:
    return Batch(
        "meta", "aud_test", "meta/2026-11-01", date(2026, 11, 1), f"k{seq}", action, seq, last, session_id,
        tuple(items), len(items),
    )  # fmt: skip


def test_add_and_remove_with_a_multi_key_hashed_schema(standin):
    meta = client(standin)
    receipt = meta.send(batch([item(1), item(2), item(3)]))
    assert receipt.detail == {"num_received": 3, "num_invalid_entries": 0, "invalid_identified": 0}
    body = standin.requests[-1].json()
    assert body["payload"]["schema"] == ["EXTERN_ID", "EMAIL", "PHONE", "LN"]
    assert body["payload"]["data"][0][1] == hashlib.sha256(b"p1@example.com").hexdigest()
    assert "session" not in body and "payload" not in standin.requests[-1].query  # in the body, not the URL
    assert standin.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    meta.send(batch([item(2, "remove")], action="remove"))
    assert standin.requests[-1].method == "DELETE"
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P1", "EXTERN_ID:P3"}


def test_invalid_entries_are_counted_and_the_sampled_rows_rejected(standin):
    standin.invalid_extern_ids.add("P2")
    unhashed = item(3, EMAIL="p3@example.com")  # a client that forgot to hash
    receipt = client(standin).send(batch([item(1), item(2), unhashed]))
    assert receipt.detail["num_invalid_entries"] == 2
    assert receipt.rejected == {
        "P2": "Meta invalid entry: invalid data",
        "P3": "Meta invalid entry: EMAIL is not a SHA-256 hash in lowercase hex",
    }
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P1"}


@pytest.mark.parametrize(
    ("fault", "error", "retry_after"),
    [
        (Fault(400, error_body(80003, "There have been too many calls to this ad-account", 2446289)), Throttled, None),
        (Fault(400, error_body(17, "User request limit reached", 2446079)), Throttled, None),
        (Fault(400, error_body(613, "Calls to this api have exceeded the rate limit", 1487742)), Throttled, None),
        (
            Fault(
                400,
                error_body(4, "Application request limit reached"),
                {"X-Business-Use-Case-Usage": json.dumps({"1": [{"estimated_time_to_regain_access": 2}]})},
            ),
            Throttled,
            120.0,
        ),
        (Fault(500, error_body(2, "Service temporarily unavailable")), Retryable, None),
        (Fault(502, b"<html><body>Bad Gateway</body></html>", content_type="text/html"), Retryable, None),
        (Fault(400, error_body(2650, "Failed to update the custom audience")), DestinationUnusable, None),
        (Fault(400, error_body(200, "Permissions error")), DestinationUnusable, None),
    ],
)
def test_throttling_transient_and_stopping_errors(standin, fault, error, retry_after):
    standin.fail(fault)
    with pytest.raises(error) as raised:
        client(standin).send(batch([item(1)]))
    assert type(raised.value) is error
    if retry_after is not None:
        assert raised.value.retry_after == retry_after
    assert standin.members(AUDIENCE) == {}


def test_credentials_version_audience_and_flagged_audience_stop_the_run(standin):
    with pytest.raises(DestinationUnusable, match="Meta error 190"):
        client(standin, token="expired").send(batch([item(1)]))
    with pytest.raises(DestinationUnusable, match="appsecret_proof"):
        client(standin, app_secret="other").send(batch([item(1)]))
    with pytest.raises(DestinationUnusable, match="Meta error 2635"):
        client(standin, api_version="v19.0").send(batch([item(1)]))
    missing = parse_activation({**META, "options": {"audience_id": "999"}})
    instance = Instance("m", standin.url, password=TOKEN, extra={"app_secret": "app-secret"})
    with pytest.raises(DestinationUnusable, match="Meta error 100/33"):
        MetaCustomAudiences(missing, instance).send(batch([item(1)]))
    standin.flag(AUDIENCE)
    with pytest.raises(DestinationUnusable, match="Meta error 100/1713230"):
        client(standin).send(batch([item(1)]))
    assert standin.members(AUDIENCE) == {}


def test_more_than_10000_rows_in_one_request_is_refused(standin):
    body = {
        "payload": {"schema": ["EXTERN_ID"], "data": [[f"P{i}"] for i in range(10_001)]},
        "appsecret_proof": appsecret_proof("app-secret", TOKEN),
    }
    answer = requests.post(
        f"{standin.url}/v23.0/{AUDIENCE}/users", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 100
    assert "10000" in answer.json()["error"]["message"]
    assert standin.members(AUDIENCE) == {}


def test_replace_session_replaces_membership_only_at_the_last_batch(standin):
    meta = client(standin)
    meta.send(batch([item(1), item(2)]))
    meta.send(batch([item(3)], action="replace", seq=1, last=False, session_id=77))
    meta.send(batch([item(3)], action="replace", seq=1, last=False, session_id=77))  # a retried batch: no harm
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P1", "EXTERN_ID:P2"}  # not yet replaced
    meta.send(batch([item(4)], action="replace", seq=2, last=True, session_id=77))
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P3", "EXTERN_ID:P4"}
    session = requests.get(
        f"{standin.url}/v23.0/{AUDIENCE}/sessions",
        params={"access_token": TOKEN, "appsecret_proof": appsecret_proof("app-secret", TOKEN)},
        timeout=5,
    ).json()["data"][0]
    assert (session["session_id"], session["stage"], session["num_received"]) == (77, "completed", 2)
    body = standin.requests[-2].json()
    assert body["session"] == {"session_id": 77, "batch_seq": 2, "last_batch_flag": True, "estimated_num_total": 1}


def test_replace_session_protocol_errors(standin):
    meta = client(standin)
    with pytest.raises(SessionLost, match="2650/1870147"):
        meta.send(batch([item(1)], action="replace", seq=2, last=True, session_id=5))
    meta.send(batch([item(1)], action="replace", seq=1, last=False, session_id=6))
    with pytest.raises(DestinationUnusable, match="skips a batch"):
        meta.send(batch([item(2)], action="replace", seq=3, last=True, session_id=6))
    assert standin.members(AUDIENCE) == {}


def test_an_idle_session_is_forgotten_and_its_next_batch_is_refused():
    with MetaStandIn(TOKEN, session_ttl_seconds=0) as server:
        server.create_audience(AUDIENCE)
        meta = MetaCustomAudiences(parse_activation(META), Instance("m", server.url, password=TOKEN))
        meta.send(batch([item(1)], action="replace", seq=1, last=False, session_id=9))
        with pytest.raises(SessionLost):
            meta.send(batch([item(2)], action="replace", seq=2, last=True, session_id=9))


def test_membership_is_the_set_of_keys_people_were_matched_by(standin):
    meta = client(standin)
    old = item(2)
    meta.send(batch([item(1), old]))
    changed = item(2, EMAIL=hashlib.sha256(b"new@example.com").hexdigest())
    meta.send(batch([changed]))  # only adding the changed row: Meta keeps matching the old email too
    assert {f"EMAIL:{old.payload['EMAIL']}", f"EMAIL:{changed.payload['EMAIL']}"} <= standin.matched(AUDIENCE)
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P1", "EXTERN_ID:P2"}  # still one person

    update = Item("P2", "h2", changed.payload, "update", previous=old.payload)
    receipt = meta.send(batch([update], action="update"))
    assert [r.method for r in standin.requests[-2:]] == ["DELETE", "POST"]
    assert receipt.detail["previous_rows_deleted"] == 1
    assert f"EMAIL:{old.payload['EMAIL']}" not in standin.matched(AUDIENCE)
    assert set(standin.members(AUDIENCE)["EXTERN_ID:P2"]) == {f"{k}:{v}" for k, v in changed.payload.items()}
    assert set(standin.members(AUDIENCE)["EXTERN_ID:P1"]) == {f"{k}:{v}" for k, v in item(1).payload.items()}


def test_the_single_key_schema_form_is_accepted(standin):
    hashes = [hashlib.sha256(f"s{i}@example.com".encode()).hexdigest() for i in range(3)]
    body = {
        "payload": {"schema": "EMAIL_SHA256", "data": hashes},
        "appsecret_proof": appsecret_proof("app-secret", TOKEN),
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{standin.url}/v23.0/{AUDIENCE}/users"
    answer = requests.post(url, json=body, headers=headers, timeout=5).json()
    assert (answer["num_received"], answer["num_invalid_entries"]) == (3, 0)
    assert standin.matched(AUDIENCE) == {f"EMAIL:{h}" for h in hashes}
    requests.delete(
        url, json={**body, "payload": {"schema": "EMAIL_SHA256", "data": hashes[:1]}}, headers=headers, timeout=5
    )
    assert standin.matched(AUDIENCE) == {f"EMAIL:{h}" for h in hashes[1:]}
    body["payload"] = {"schema": "EMAIL_SHA256", "data": ["NOT-A-HASH"]}
    answer = requests.post(url, json=body, headers=headers, timeout=5).json()
    assert answer["num_invalid_entries"] == 1


RETRIED, STOPPED = "retried, then delivered", "stops the run"
HTML = b"<!DOCTYPE html><html><body>Sorry, something went wrong.</body></html>"


@pytest.mark.parametrize(
    ("fault", "outcome", "reason"),
    [
        (Fault(500, error_body(1, "An unknown error occurred")), RETRIED, "Meta error 1"),
        (Fault(400, error_body(341, "Application limit reached: temporary issue")), RETRIED, "Meta error 341"),
        (Fault(400, error_body(80004, "There have been too many calls to this ad-account", 2446079)), RETRIED, "80004"),
        (Fault(429, b"Too Many Requests", {"Retry-After": "1"}, content_type="text/plain"), RETRIED, "HTTP 429"),
        (Fault(200, HTML, content_type="text/html"), RETRIED, "HTTP 200 without a JSON body"),
        (Fault(503, HTML, content_type="text/html"), RETRIED, "HTTP 503"),
        (Fault(400, error_body(803, "Some of the aliases you requested do not exist: users")), RETRIED, "803"),
        (Fault(400, error_body(368, "The action attempted has been deemed abusive")), STOPPED, "Meta error 368"),
        (Fault(400, error_body(105, "The number of parameters exceeded the maximum")), STOPPED, "Meta error 105"),
        (Fault(400, error_body(194, "Missing at least one required parameter")), STOPPED, "Meta error 194"),
        (Fault(400, error_body(190, "Error validating access token: password changed", 460)), STOPPED, "190/460"),
        (Fault(403, error_body(294, "Managing advertisements requires ads_management")), STOPPED, "Meta error 294"),
        (Fault(400, error_body(100, "Invalid parameter")), STOPPED, "Meta error 100: (#100) Invalid parameter"),
        (Fault(400, error_body(803, "Some of the aliases do not exist: users"), times=99), STOPPED, "gave up after 6"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_each_documented_error_is_retried_or_stops_the_run(db, monkeypatch, caplog, fault, outcome, reason):
    seed(db, 3)
    with MetaStandIn(TOKEN) as meta:
        meta.create_audience(AUDIENCE)
        connection_env(monkeypatch, "test_meta", conn_type="http", host=meta.url, password=TOKEN)
        meta.fail(fault)
        result = run_activation(db, parse_activation(META), DATE)
        held = {name.removeprefix("EXTERN_ID:") for name in meta.members(AUDIENCE)}
        logged = dict(rows(db, "select outcome, count(*) from activation.sync_log group by outcome"))
        if outcome == RETRIED:
            assert (result.error, result.sent, result.retries) == (None, 3, 1)
            assert reason in caplog.text  # retried for this error, not another
            assert held == consented(db, "ad_targeting") and logged == {"sent": 3}
            throttled = fault.status == 429 or "80004" in reason
            assert result.throttled == int(throttled)
            if fault.headers.get("Retry-After"):
                assert meta.requests[1].at - meta.requests[0].at >= 1.0  # Retry-After honoured
        else:
            assert reason in result.error and "@" not in result.error
            assert (result.sent, result.failed, held, logged) == (0, 3, set(), {"failed": 3})
            reasons = {r for (r,) in rows(db, "select distinct reason from activation.sync_log")}
            assert reasons == {result.error}
            assert rows(db, "select count(*) from activation.outbox")[0][0] == 1  # kept for the next run


def test_the_client_waits_out_native_throttling_and_ends_with_the_exact_membership(db, monkeypatch):
    """The stand-in's own call budget (no scripted fault): 80003 with the usage header; every wait honoured."""
    seed(db, 12)
    activation = parse_activation({**META, "batch_size": 2})
    with MetaStandIn(TOKEN, call_budget=2, budget_window_seconds=2.0) as meta:
        meta.create_audience(AUDIENCE)
        connection_env(monkeypatch, "test_meta", conn_type="http", host=meta.url, password=TOKEN)
        first = run_activation(db, activation, DATE)
        execute(db, "delete from audiences.aud_test where profile_id in ('P00001', 'P00002', 'P00003')")
        second = run_activation(db, activation, date(2026, 11, 2))

        assert (first.error, first.sent, second.error, second.sent) == (None, 12, None, 3)
        assert meta.throttled and first.throttled + second.throttled == len(meta.throttled)
        answered = [r for r in meta.requests if r.status is not None]
        for at, regain in meta.throttled:  # the next call came only once access was regained
            following = [r.at for r in answered if r.at > at]
            assert following and min(following) >= at + regain
        assert len(meta.throttled) <= len(answered) // 2  # one wait per window, not a retry storm

        held = {name.removeprefix("EXTERN_ID:") for name in meta.members(AUDIENCE)}
        assert held == consented(db, "ad_targeting") and len(held) == 9
        history = {name.removeprefix("EXTERN_ID:"): changes for name, changes in meta.applied(AUDIENCE).items()}
        gone = {"P00001", "P00002", "P00003"}
        assert history == {pid: ["add", "remove"] if pid in gone else ["add"] for pid in held | gone}
        sent = rows(
            db, "select profile_id, action, count(*) from activation.sync_log where outcome = 'sent' group by 1, 2"
        )
        assert all(n == 1 for _, _, n in sent) and len(sent) == 15


def test_native_throttling_answers_80003_with_the_time_to_regain_access():
    with MetaStandIn(TOKEN, call_budget=1, budget_window_seconds=30.0) as meta:
        meta.create_audience(AUDIENCE)
        meta_client = MetaCustomAudiences(parse_activation(META), Instance("m", meta.url, password=TOKEN))
        meta_client.send(batch([item(1)]))
        answer = requests.post(
            f"{meta.url}/v23.0/{AUDIENCE}/users",
            json={"payload": {"schema": ["EXTERN_ID"], "data": [["P2"]]}},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert answer.status_code == 400 and answer.json()["error"]["code"] == 80003
        (entry,) = next(iter(json.loads(answer.headers["X-Business-Use-Case-Usage"]).values()))
        assert entry["call_count"] == 100 and 0.48 < entry["estimated_time_to_regain_access"] <= 0.5
        with pytest.raises(Throttled, match="Meta error 80003/2446289") as raised:
            meta_client.send(batch([item(2)]))
        assert 28.0 < raised.value.retry_after <= 30.0  # the header's minutes, in seconds
        assert set(meta.members(AUDIENCE)) == {"EXTERN_ID:P1"}  # throttled calls changed nothing


def raw(standin, method: str, path: str, **kwargs) -> requests.Response:
    """A request to the stand-in with valid credentials, as another client would send it."""
    params = {
        "access_token": TOKEN,
        "appsecret_proof": appsecret_proof("app-secret", TOKEN),
        **kwargs.pop("params", {}),
    }
    return requests.request(method, f"{standin.url}/v23.0/{path}", params=params, timeout=10, **kwargs)


def test_an_audience_keeps_the_schema_form_it_was_created_from(standin):
    client(standin).send(batch([item(1)]))  # multi-key: the audience is FILE_IMPORTED.MULTI_HASHES
    single = {"payload": {"schema": "EMAIL_SHA256", "data": [hashlib.sha256(b"s@example.com").hexdigest()]}}
    answer = raw(standin, "POST", f"{AUDIENCE}/users", json=single)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == 2650
    assert (
        "created from data source FILE_IMPORTED.MULTI_HASHES, which does not support data source "
        in (answer.json()["error"]["message"])
    )
    standin.create_audience("42", data_source="FILE_IMPORTED.HASHES_OR_USER_IDS")
    other = parse_activation({**META, "options": {"audience_id": "42"}})
    instance = Instance("m", standin.url, password=TOKEN, extra={"app_secret": "app-secret"})
    with pytest.raises(DestinationUnusable, match="Meta error 2650: .*HASHES_OR_USER_IDS"):
        MetaCustomAudiences(other, instance).send(batch([item(2)]))
    assert standin.members("42") == {} and set(standin.members(AUDIENCE)) == {"EXTERN_ID:P1"}


def test_creating_an_audience_needs_a_customer_file_source(standin):
    audience = {"name": "buyers", "subtype": "CUSTOM"}
    answer = raw(standin, "POST", "act_123/customaudiences", data=audience)
    assert answer.status_code == 400 and "customer_file_source" in answer.json()["error"]["message"]
    answer = raw(standin, "POST", "act_123/customaudiences", data={**audience, "customer_file_source": "EVERYONE"})
    assert answer.status_code == 400
    answer = raw(
        standin, "POST", "act_123/customaudiences", data={**audience, "customer_file_source": "USER_PROVIDED_ONLY"}
    )
    assert answer.status_code == 200 and answer.json()["id"] in standin.snapshot()["audiences"]


def test_removes_carry_the_payload_in_the_body_and_a_long_query_string_fails(standin):
    meta = client(standin)
    meta.send(batch([item(1), item(2)]))
    meta.send(batch([item(1, "remove")], action="remove"))
    delete = standin.requests[-1]
    assert delete.method == "DELETE" and delete.raw_query == ""  # nothing in the URL
    assert delete.headers["content-type"] == "application/json"
    assert delete.json()["payload"] == {
        "schema": ["EXTERN_ID", "EMAIL", "PHONE", "LN"],
        "data": [list(item(1).payload.values())],
    }
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P2"}
    # The same remove with `payload` in the query string: refused past ~65 KB, fine while short.
    long = json.dumps({"schema": ["EXTERN_ID"], "data": [[f"P{i:05d}"] for i in range(2, 2965)]})
    assert 65_000 < len(requests.Request("DELETE", "http://x/", params={"payload": long}).prepare().url) < 65_400
    answer = raw(standin, "DELETE", f"{AUDIENCE}/users", params={"payload": long})
    assert answer.status_code == 414 and standin.requests[-1].status == 414  # refused by the stand-in, not http.server
    assert set(standin.members(AUDIENCE)) == {"EXTERN_ID:P2"}
    short = json.dumps({"schema": ["EXTERN_ID"], "data": [["P2"]]})
    assert raw(standin, "DELETE", f"{AUDIENCE}/users", params={"payload": short}).status_code == 200
    assert standin.members(AUDIENCE) == {}
