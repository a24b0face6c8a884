"""Identifier normalization: emails, phones with the row's country, ids, and placeholders."""

from __future__ import annotations

import pytest

from cdp.identity.normalize import normalize
from cdp.identity.rules import load_rules, parse_rules

RULES = load_rules()


@pytest.mark.parametrize(
    ("namespace", "raw", "region", "expected"),
    [
        ("email", "  Jane.Doe@Example.COM ", "", "jane.doe@example.com"),
        ("phone", "+1 (650) 253-0000", "", "+16502530000"),
        ("phone", "(650) 253-0000", "US", "+16502530000"),
        ("phone", "650.253.0000", "US", "+16502530000"),
        ("phone", "+1 (555) 010-2233", "", "+15550102233"),  # the contract's own spellings of a
        ("phone", "555.010.2233", "US", "+15550102233"),  # fictional (unassigned) US number
        ("phone", "00 44 20 7946 0958", "", "+442079460958"),
        ("phone", "020 7946 0958", "GB", "+442079460958"),
        ("phone", "06 12 34 56 78", "FR", "+33612345678"),
        ("phone", "0044 20 7946 0958", "FR", "+442079460958"),
        ("crm", "  C-0000123 ", "", "C-0000123"),
        ("ecid", "d1f0-aa", "", "d1f0-aa"),
    ],
)
def test_normalizes(namespace, raw, region, expected):
    result = normalize(namespace, raw, region, RULES)
    assert (result.identity_value, result.reason) == (expected, None)


@pytest.mark.parametrize(
    ("namespace", "raw", "region", "reason"),
    [
        ("email", "test@test.com", "", "blocked_value"),
        ("email", " TEST@TEST.COM", "", "blocked_value"),
        ("email", "noemail@brand.com", "", "blocked_value"),
        ("email", "N/A", "", "blocked_value"),
        ("email", "null", "", "blocked_value"),
        ("phone", "0000000000", "FR", "blocked_value"),
        ("phone", "none", "GB", "blocked_value"),
        ("crm", "unknown", "", "blocked_value"),
        ("email", "jane.doe@", "", "invalid_format"),
        ("email", "jane doe@example.com", "", "invalid_format"),
        ("email", "a..b@example.com", "", "invalid_format"),
        ("phone", "12345", "FR", "invalid_format"),
        ("phone", "+33 6 12 34 56 78 90 12", "", "invalid_format"),  # too long for the country's plan
        ("phone", "020 7946 0958", "", "invalid_format"),  # national format and no country to read it in
        ("phone", "call me", "US", "invalid_format"),
    ],
)
def test_rejects_with_reason(namespace, raw, region, reason):
    result = normalize(namespace, raw, region, RULES)
    assert (result.identity_value, result.reason) == (None, reason)


def test_user_added_blocked_value_and_pattern():
    rules = parse_rules({"blocked_values": {"crm": ["C-TEST"]}, "blocked_patterns": {"email": ["@qa\\.brand$"]}})
    assert normalize("crm", "c-test", "", rules).reason == "blocked_value"
    assert normalize("email", "tester@qa.brand", "", rules).reason == "blocked_value"
    assert normalize("email", "tester@brand.com", "", rules).reason is None


def test_unknown_namespace_in_priority_is_refused():
    with pytest.raises(ValueError, match="unknown namespace"):
        parse_rules({"namespace_priority": ["crm", "twitter"]})
