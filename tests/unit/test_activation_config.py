"""Activation configuration, schedules, retry timing and planning: the engine's pure logic."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
import yaml

from cdp.activation.config import RetryPolicy, load_activations, parse_activation
from cdp.activation.destinations.base import DestinationUnusable, retry_after_seconds, scrub
from cdp.activation.engine import chunks, make_plan

BASE = {
    "name": "hook",
    "audience": "aud_test",
    "destination": "webhook",
    "purpose": "email_marketing",
    "mode": "incremental",
    "identities": {"email": "email"},
}


def test_the_projects_activations_load_with_a_pool_per_destination_instance():
    activations = load_activations()
    by_type = {a.destination for a in activations}
    assert {"file_export", "webhook", "meta_custom_audiences"} <= by_type
    assert {a.mode for a in activations} == {"full", "incremental", "mirror"}
    meta = [a for a in activations if a.destination == "meta_custom_audiences"]
    assert len({a.pool for a in meta}) == 1 and meta[0].pool == f"destination_{meta[0].connection_id}"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "mirror"}, "webhook supports modes incremental"),
        ({"mode": "sometimes"}, "mode must be one of"),
        ({"destination": "fax"}, "unknown destination type 'fax'"),
        ({"schedule": "hourly"}, "schedule must be"),
        ({"schedule": "monthly:31"}, "schedule must be"),
        ({"connection": "bad id!"}, "is not an Airflow connection id"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"retry": {"tries": 3}}, "unknown retry setting"),
        ({"identities": {"email": "e-mail"}}, "is not a column name"),
        ({"options": {"format": "xml"}, "destination": "file_export", "mode": "full"}, "options.format"),
        ({"shedule": "weekly:mon"}, r"unknown key\(s\) shedule; known: name, audience, destination, purpose, "),
    ],
)
def test_invalid_configuration_is_refused_with_the_reason(change, message):
    with pytest.raises(ValueError, match=message):
        parse_activation({**BASE, **change})


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"activation": [BASE]}, r"unknown key\(s\) activation; known: activations$"),
        ([BASE], r"expected keys \(activations\), got a list$"),
        ({"activations": ["https://hooks.example/t0ken"]}, r"activation \?: expected keys \(name, .*\), got a str$"),
    ],
)
def test_a_file_whose_keys_are_not_the_known_ones_is_refused_rather_than_read_as_no_activations(
    tmp_path, document, message
):
    path = tmp_path / "activations.yml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ValueError, match=message):
        load_activations(path)


def test_schedules():
    monday, tuesday = date(2026, 11, 2), date(2026, 11, 3)
    assert parse_activation(BASE).due(tuesday)
    weekly = parse_activation({**BASE, "schedule": "weekly:mon"})
    assert weekly.due(monday) and not weekly.due(tuesday)
    monthly = parse_activation({**BASE, "schedule": "monthly:3"})
    assert monthly.due(tuesday) and not monthly.due(monday)
    assert not parse_activation({**BASE, "schedule": "paused"}).due(monday)


def test_backoff_doubles_up_to_its_cap_and_never_undercuts_retry_after():
    policy = RetryPolicy(base_seconds=1, max_seconds=10)
    assert [policy.delay(n, None) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 8, 10]
    assert policy.delay(1, 30) == 30  # the destination asked for longer
    assert policy.delay(4, 2) == 8
    assert policy.delay(2, None, jitter=0.5) == 1


def test_retry_after_header_in_seconds_or_as_a_date():
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past: go now


def test_scrub_masks_addresses_and_numbers_in_destination_messages():
    text = scrub("member jane.doe@example.com with phone +33 6 12 34 56 78 refused")
    assert "jane" not in text and "12 34" not in text
    assert text == "member <email> with phone <number> refused"


def test_plan_adds_updates_removes_and_holds_back_what_was_refused_unchanged():
    desired = {"a": ("h1", {}), "b": ("h2", {}), "c": ("h3", {}), "d": ("h4", {})}
    delivered = {"a": ("h1", {}), "b": ("old", {}), "e": ("h5", {}), "f": ("h6", {})}
    refused = {"d": ("add", "h4"), "f": ("remove", "h6"), "c": ("add", "older")}
    plan = make_plan(desired, delivered, refused, {"x": "no consent"})
    assert plan.adds == ["c"]  # c was refused in an older version: its new content is sent
    assert plan.updates == ["b"]
    assert plan.removes == ["e"]
    assert (plan.unchanged, plan.held_back, plan.changes) == (1, 2, 3)


def test_chunks_keep_order_and_size():
    assert chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert chunks([], 3) == [[]]


@pytest.mark.parametrize(
    "value",
    [
        "https://:s3cret@hooks.example.com:8443/cdp/in?timeout=3",
        "aws://AKIA:se%2Fcret@/?region_name=eu-west-1&base_uri=s3%3A%2F%2Fbucket%2Fcdp",
        "http://:token@?__extra__=%7B%22app_secret%22%3A+%22x%22%7D",
        '{"conn_type": "https", "host": "hooks.example.com/cdp", "password": "p", "extra": {"app_secret": "x"}}',
    ],
)
def test_connections_in_the_environment_read_as_airflow_reads_them(value):
    from airflow.sdk import Connection

    from cdp.connections import parse_connection

    airflow = Connection.from_json(value, conn_id="x") if value.startswith("{") else Connection.from_uri(value, "x")
    ours = parse_connection(value)
    fields = ("conn_type", "host", "login", "password", "port", "schema")
    assert {f: getattr(ours, f) or None for f in fields} == {f: getattr(airflow, f) or None for f in fields}
    assert ours.extra == airflow.extra_dejson


def test_instance_url_from_connection_fields(monkeypatch):
    from cdp.activation.instances import configured

    monkeypatch.setenv("AIRFLOW_CONN_HOOK_A", "https://:s@hooks.example.com:8443/cdp")
    monkeypatch.setenv("AIRFLOW_CONN_HOOK_B", '{"conn_type": "http", "host": "http://127.0.0.1:9/in", "password": "s"}')
    assert configured("hook_a").url == "https://hooks.example.com:8443/cdp"
    assert configured("hook_b").url == "http://127.0.0.1:9/in"
    assert configured("hook_c") is None


def test_a_configured_connection_goes_to_the_real_api_and_no_sandbox_starts(monkeypatch):
    from cdp.activation.destinations.meta_custom_audiences import MetaCustomAudiences
    from cdp.activation.instances import open_instance

    activation = next(a for a in load_activations() if a.destination == "meta_custom_audiences")
    variable = f"AIRFLOW_CONN_{activation.connection_id.upper()}"
    monkeypatch.setenv(variable, '{"conn_type": "https", "password": "token", "extra": {"api_version": "v23.0"}}')
    with open_instance(activation, MetaCustomAudiences) as instance:
        assert not instance.sandbox and instance.url is None  # no host: Meta's own Graph API
        client = MetaCustomAudiences(replace(activation, options={"audience_id": "6001"}), instance)
    assert client.base == "https://graph.facebook.com/v23.0/6001"

    monkeypatch.delenv(variable)
    monkeypatch.setenv("CDP_SANDBOX", "off")  # and without it, a production run stops instead of using a stand-in
    with pytest.raises(DestinationUnusable, match="CDP_SANDBOX is off"), open_instance(activation, MetaCustomAudiences):
        pass
