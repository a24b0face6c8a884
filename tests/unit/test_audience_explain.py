"""Reading audiences from the dbt manifest and rendering an explanation (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cdp.audiences.catalog import Condition, audiences_from_manifest
from cdp.audiences.explain import ConditionResult, Explanation, find_profile

CONDITIONS = [
    {"name": "known", "description": "has a CRM id", "sql": "crm_id is not null"},
    {"name": "recent", "description": "cart within 2 days", "sql": "days_since_last_cart_activity < 2"},
]


def model(name: str, path: str, meta: dict) -> dict:
    return {"resource_type": "model", "name": name, "original_file_path": path, "config": {"meta": meta}}


def test_audiences_are_the_aud_models_of_the_audiences_folder_with_their_meta_and_conditions():
    meta = {
        "description": "Cart abandoners",
        "owner": "growth",
        "purpose": "ad_targeting",
        "refresh": "daily",
        "uses": ["crm_id", "days_since_last_cart_activity"],
        "conditions": CONDITIONS,
    }
    manifest = {
        "nodes": {
            "model.cdp.aud_carts": model("aud_carts", "models/audiences/aud_carts.sql", meta),
            "model.cdp.membership": model("membership", "models/audiences/membership/membership.sql", {}),
            "model.cdp.aud_elsewhere": model("aud_elsewhere", "models/profiles/aud_elsewhere.sql", meta),
            "test.cdp.aud_test": {**model("aud_test", "models/audiences/x.yml", meta), "resource_type": "test"},
        }
    }
    audiences = audiences_from_manifest(manifest)
    assert list(audiences) == ["aud_carts"]
    carts = audiences["aud_carts"]
    assert (carts.owner, carts.purpose, carts.refresh) == ("growth", "ad_targeting", "daily")
    assert carts.uses == ("crm_id", "days_since_last_cart_activity")
    assert carts.conditions == (
        Condition("known", "has a CRM id", "crm_id is not null"),
        Condition("recent", "cart within 2 days", "days_since_last_cart_activity < 2"),
    )


def explanation(**changes) -> Explanation:
    audience = audiences_from_manifest(
        {
            "nodes": {
                "m": model(
                    "aud_carts",
                    "models/audiences/aud_carts.sql",
                    {
                        "description": "Cart abandoners",
                        "owner": "growth",
                        "purpose": "ad_targeting",
                        "refresh": "daily",
                        "uses": ["crm_id", "email", "days_since_last_cart_activity"],
                        "conditions": [*CONDITIONS, {"name": "reachable", "sql": "email is not null"}],
                    },
                )
            }
        }
    )["aud_carts"]
    results = [
        ConditionResult(audience.conditions[0], True, {"crm_id": "C-1"}),
        ConditionResult(audience.conditions[1], False, {"days_since_last_cart_activity": 3}),
        ConditionResult(audience.conditions[2], True, {"email": "someone@example.com"}),
    ]
    values = {
        "audience": audience,
        "profile_id": "P1",
        "run_date": date(2026, 11, 4),
        "identities": {"crm": 1, "email": 2},
        "conditions": results,
        "is_member": False,
        "consent": ("denied", datetime(2026, 10, 1, 10, tzinfo=UTC), "unsubscribe_link"),
        "periods": [("exited", date(2026, 11, 1), date(2026, 11, 3))],
    }
    return Explanation(**{**values, **changes})


def test_an_explanation_names_each_condition_with_its_values_and_masks_personal_data():
    lines = explanation().lines()
    text = "\n".join(lines)
    assert "Profile P1 (identities: crm 1, email 2); membership recorded through run date 2026-11-04" in text
    assert "  [yes] known: has a CRM id" in lines
    assert "        crm_id is not null  <-  crm_id=C-1" in lines
    assert "  [NO ] recent: cart within 2 days" in lines
    assert "        email is not null  <-  email=(set)" in lines
    assert "someone@example.com" not in text
    assert "Result: not a member of aud_carts" in lines
    assert (
        "Consent ad_targeting: denied (2026-10-01T10:00:00+00:00, unsubscribe_link): activation withholds this profile"
        in lines
    )
    assert "  exited: entered 2026-11-01, left 2026-11-03" in lines
    assert "disagree" not in text


def test_an_explanation_says_when_the_audience_table_and_the_conditions_disagree():
    lines = explanation(is_member=True, consent=("denied", None, None), periods=[]).lines()
    assert "Result: a member of aud_carts" in lines
    assert any("disagree" in line for line in lines)
    assert "Consent ad_targeting: none recorded: activation withholds this profile" in lines
    assert "Membership periods: never a member" in lines


@pytest.mark.parametrize("identity", ["C-1", "customer:C-1", "email:"])
def test_an_identity_is_a_known_namespace_and_a_value(identity):
    with pytest.raises(ValueError, match="namespace:value"):
        find_profile(None, identity=identity)
