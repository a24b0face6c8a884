"""Identifier normalization in the warehouse: values read before are read again when the rules or
the way values are read (NORMALIZATION_VERSION) change."""

from __future__ import annotations

import pytest

from cdp.identity.normalize import normalize_identifiers
from cdp.identity.rules import load_rules

pytestmark = pytest.mark.integration


def test_values_read_by_an_older_reading_are_read_again(db):
    rules = load_rules()
    normalize_identifiers(db, None, rules)  # the tables, and the rules of this reading
    with db.cursor() as cur:
        # As an older reading left them: Australia's 0011 prefix unread, a local-only number accepted.
        cur.execute(
            "insert into prep.identifiers (namespace, raw_value, default_region, identity_value, reason) values"
            " ('phone', '0011 44 20 7946 0958', 'AU', null, 'invalid_format'),"
            " ('phone', '555-1234', 'US', '+15551234', null)"
        )
        cur.execute("update prep.identity_rules set value = 'an older reading' where rule = 'fingerprint'")
        normalize_identifiers(db, None, rules)
        cur.execute(
            "select raw_value, identity_value, reason from prep.identifiers"
            " where raw_value in ('0011 44 20 7946 0958', '555-1234') order by raw_value"
        )
        read_again = cur.fetchall()
    db.rollback()
    assert read_again == [("0011 44 20 7946 0958", "+442079460958", None), ("555-1234", None, "invalid_format")]
