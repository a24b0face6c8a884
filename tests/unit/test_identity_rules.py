"""The identity linking rules file: parsing, validation, fingerprint and the rows dbt reads."""

from __future__ import annotations

import pytest

from cdp.identity.rules import load_rules, parse_rules


def test_project_rules_file_parses_with_its_linking_rules():
    rules = load_rules()
    assert rules.namespace_priority == ("crm", "loyalty", "email", "phone", "ecid")
    assert rules.unique_namespaces == {"crm"}
    assert rules.link_limits[("ecid", "crm")] == 3
    assert rules.max_identities_per_profile == 50
    assert len(rules.fingerprint) == 64


def test_defaults_when_the_file_says_nothing():
    rules = parse_rules({})
    assert rules.unique_namespaces == {"crm"}
    assert rules.link_limits == {}
    assert rules.max_identities_per_profile == 50


def test_warehouse_rows_state_every_linking_rule():
    rules = parse_rules(
        {
            "namespace_priority": ["crm", "email", "loyalty", "phone", "ecid"],
            "unique_namespaces": ["crm", "loyalty"],
            "link_limits": {"ecid": {"crm": 2, "email": 4}},
            "max_identities_per_profile": 20,
        }
    )
    rows = rules.warehouse_rows()
    assert rows[0] == ("fingerprint", None, None, rules.fingerprint)
    assert ("namespace_priority", "email", None, "2") in rows
    assert ("namespace_priority", "loyalty", None, "3") in rows
    assert [r for r in rows if r[0] == "unique_namespace"] == [
        ("unique_namespace", "crm", None, "true"),
        ("unique_namespace", "loyalty", None, "true"),
    ]
    assert [r for r in rows if r[0] == "link_limit"] == [
        ("link_limit", "ecid", "crm", "2"),
        ("link_limit", "ecid", "email", "4"),
    ]
    assert ("max_identities_per_profile", None, None, "20") in rows


def test_fingerprint_follows_any_rule_change_and_ignores_spelling():
    base = parse_rules({"blocked_values": {"email": ["A@B.com", "x@y.z"]}})
    same = parse_rules({"blocked_values": {"email": ["x@y.z", "a@b.com"]}})
    assert base.fingerprint == same.fingerprint
    assert parse_rules({"max_identities_per_profile": 49}).fingerprint != parse_rules({}).fingerprint
    assert parse_rules({"unique_namespaces": []}).fingerprint != parse_rules({}).fingerprint
    assert parse_rules({"blocked_patterns": {"email": ["^qa@"]}}).fingerprint != parse_rules({}).fingerprint


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"namespace_priority": ["crm", "email"]}, "exactly once"),
        ({"namespace_priority": ["crm", "loyalty", "email", "phone", "ecid", "crm"]}, "exactly once"),
        ({"unique_namespaces": ["twitter"]}, "unknown namespace"),
        ({"link_limits": {"ecid": {"fax": 2}}}, "unknown namespace"),
        ({"link_limits": {"ecid": {"ecid": 2}}}, "its own namespace"),
        ({"link_limits": {"ecid": {"crm": 0}}}, "at least 1"),
        ({"link_limits": {"ecid": 3}}, "map namespaces"),
        ({"max_identities_per_profile": "50"}, "whole number"),
        ({"max_identities_per_profile": True}, "whole number"),
    ],
)
def test_invalid_rules_are_refused(document, message):
    with pytest.raises(ValueError, match=message):
        parse_rules(document)
