"""Enforcement at activation: a policy violation stops the activation before any record leaves,
and the Airflow task fails without retry; the withheld report counts who was held back and why."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import yaml

from cdp import pipeline, settings
from cdp.governance import PolicyViolation
from cdp.governance.withheld import Withheld, withheld_by_reason

pytestmark = pytest.mark.integration
DT = date(2026, 11, 2)


@pytest.fixture
def strict_policies(tmp_path, monkeypatch):
    """The project's policies plus one that keeps direct identifiers in the brand, and one file export."""
    document = yaml.safe_load(settings.policies_file().read_text())
    document["policies"].append(
        {
            "name": "no_direct_identifiers_leave",
            "description": "Direct identifiers stay in the brand's systems.",
            "deny": ["third_party_export"],
            "when_any": ["I1"],
        }
    )
    policies = tmp_path / "policies.yml"
    policies.write_text(yaml.safe_dump(document))
    activation = {
        "name": "buyers_file",
        "audience": "aud_recent_store_buyers_email",
        "destination": "file_export",
        "purpose": "email_marketing",
        "mode": "full",
        "options": {"base_uri": str(tmp_path / "exports")},
        "fields": {"email": "email", "country": "country"},
    }
    activations = tmp_path / "activations.yml"
    activations.write_text(yaml.safe_dump({"activations": [activation]}))
    monkeypatch.setenv("CDP_POLICIES_FILE", str(policies))
    monkeypatch.setenv("CDP_ACTIVATIONS_FILE", str(activations))
    return tmp_path


def test_a_violating_activation_is_stopped_before_anything_is_sent(db, strict_policies):
    with pytest.raises(PolicyViolation) as blocked:
        pipeline.activate("buyers_file", DT)
    message = str(blocked.value)
    assert "policy no_direct_identifiers_leave (Direct identifiers stay in the brand's systems.)" in message
    lineage = next(line.strip() for line in message.splitlines() if "I1 on attribute email:" in line)
    assert lineage.endswith(
        "profiles.email → audience aud_recent_store_buyers_email → activation buyers_file → destination file_export"
    )
    assert not (strict_policies / "exports").exists()
    with db.cursor() as cur:
        cur.execute("select to_regclass('activation.sync_log'), to_regclass('activation.destination_state')")
        assert cur.fetchone() == (None, None)  # the engine never ran


def test_a_policy_violation_fails_the_airflow_task_without_retry(strict_policies):
    from airflow.sdk.exceptions import AirflowFailException

    from cdp.orchestration import _fail_on_gate

    with pytest.raises(AirflowFailException, match="no_direct_identifiers_leave"):
        _fail_on_gate(lambda: pipeline.activate("buyers_file", DT))


def test_withheld_profiles_are_counted_per_reason_for_each_latest_run(db):
    assert withheld_by_reason(db) == []  # nothing activated yet
    with db.cursor() as cur:
        cur.execute(
            "create schema activation; create table activation.sync_log (run_id text, activation text,"
            " destination text, audience text, profile_id text, action text, outcome text, reason text,"
            " at timestamptz)"
        )
        rows = [
            ("mails/2026-11-01", "mails", "file_export", "P1", "withheld", "no email_marketing consent", 1),
            ("mails/2026-11-02", "mails", "file_export", "P1", "withheld", "no email_marketing consent", 2),
            ("mails/2026-11-02", "mails", "file_export", "P2", "withheld", "no email_marketing consent", 2),
            ("mails/2026-11-02", "mails", "file_export", "P3", "withheld", "missing email", 2),
            ("mails/2026-11-02", "mails", "file_export", "P4", "sent", None, 2),
            ("ads/2026-11-01", "ads", "meta_custom_audiences", "P5", "withheld", "no ad_targeting consent", 1),
        ]
        for run_id, activation, destination, profile, outcome, reason, day in rows:
            cur.execute(
                "insert into activation.sync_log values (%s, %s, %s, 'aud', %s, 'add', %s, %s, %s)",
                (run_id, activation, destination, profile, outcome, reason, datetime(2026, 11, day, tzinfo=UTC)),
            )
    assert withheld_by_reason(db) == [
        Withheld("ads", "meta_custom_audiences", "no ad_targeting consent", 1),
        Withheld("mails", "file_export", "no email_marketing consent", 2),
        Withheld("mails", "file_export", "missing email", 1),
    ]


def test_the_run_summary_says_who_was_withheld_and_why():
    from cdp.summary import render

    withheld = [Withheld("mails", "file_export", "no email_marketing consent", 164)]
    totals = {"profiles": 0, "identities": 0, "rejected_identities": 0, "audiences": {}, "withheld": withheld}
    lines = render([], totals).splitlines()
    heading = lines.index("Withheld (profiles per reason, latest run of each activation)")
    row = next(line for line in lines[heading:] if line.strip().startswith("mails"))
    assert row.split() == ["mails", "no", "email_marketing", "consent", "164"]
