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
        # What people and exports add without changing the identifier, and regions as rows spell them.
        ("crm", "\ufeffC-0000123\u200b", "", "C-0000123"),
        ("crm", "Ｃ－０００１", "", "C-0001"),  # full-width
        ("email", "Jane＠Example.com", "", "jane@example.com"),
        ("phone", "0011 44 20 7946 0958", "AU", "+442079460958"),  # Australia's international prefix
        ("phone", "06 12 34 56 78", " fr ", "+33612345678"),
        ("phone", "020 7946 0958", "UK", "+442079460958"),
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
        ("phone", "555-1234", "US", "invalid_format"),  # possible only locally: no one person's number
        ("phone", "+49 00 30 1234567", "", "invalid_format"),  # reads back as another number
        ("phone", "06 12 34 56 78", "ß", "invalid_format"),  # not a region ('ß'.upper() is 'SS')
        ("phone", "+33 0000000000", "", "blocked_value"),
        ("phone", "+44 000 000 0000", "", "blocked_value"),
        ("crm", "C\t1", "", "invalid_format"),
        ("crm", "Ｎ/Ａ", "", "blocked_value"),
        ("loyalty", "null\u200b", "", "blocked_value"),
        ("email", "Test@Test.Com.", "", "blocked_value"),
        ("email", "No.Email+1@brand.com", "", "blocked_value"),
        ("email", "do-not-reply@brand.com", "", "blocked_value"),
        ("email", "a" * 65 + "@example.com", "", "invalid_format"),
        ("email", "a@" + "b" * 250 + ".com", "", "invalid_format"),
    ],
)
def test_rejects_with_reason(namespace, raw, region, reason):
    result = normalize(namespace, raw, region, RULES)
    assert (result.identity_value, result.reason) == (None, reason)


def test_a_normalized_value_normalizes_to_itself():
    for namespace, raw, region in [
        ("phone", "+61 2 9374 4000", "AU"),
        ("phone", "(650) 253-0000", "US"),
        ("phone", "06 12 34 56 78", "FR"),
        ("email", " Jane.Doe@Example.COM ", ""),
        ("crm", "\ufeffC-1", ""),
    ]:
        once = normalize(namespace, raw, region, RULES).identity_value
        assert once is not None and normalize(namespace, once, "", RULES).identity_value == once


def test_user_added_blocked_value_and_pattern():
    rules = parse_rules({"blocked_values": {"crm": ["C-TEST"]}, "blocked_patterns": {"email": ["@qa\\.brand$"]}})
    assert normalize("crm", "c-test", "", rules).reason == "blocked_value"
    assert normalize("email", "tester@qa.brand", "", rules).reason == "blocked_value"
    assert normalize("email", "tester@brand.com", "", rules).reason is None


def test_unknown_namespace_in_priority_is_refused():
    with pytest.raises(ValueError, match="unknown namespace"):
        parse_rules({"namespace_priority": ["crm", "twitter"]})
