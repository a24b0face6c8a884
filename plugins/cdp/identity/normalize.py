"""Identifier normalization: every distinct raw identifier value to its normalized form or a reason.

Runs after ingest and before dbt. Phones need libphonenumber's rules (national formats, the
row's country as default region), which SQL cannot express, so the result is written to
`prep.identifiers`, one row per distinct (namespace, raw value, default region); dbt's staging
models join to it. Only values not normalized before are processed, so a daily run is small;
when the rules file (or the way values are read: NORMALIZATION_VERSION) changed since the last
run, the values already there are read again. The linking rules go to `prep.identity_rules` in the
same transaction (see cdp.identity.rules).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import phonenumbers

from cdp.identity.rules import IdentityRules, load_rules, write_rules
from cdp.warehouse.bulk import copy_rows

log = logging.getLogger(__name__)

DDL = """
create schema if not exists prep;
create table if not exists prep.identifiers (
    namespace text not null,
    raw_value text not null,
    default_region text not null,
    identity_value text,
    reason text,
    primary key (namespace, raw_value, default_region)
);
"""

# Where each raw table carries identifiers: (namespace, value expression, default region expression).
IDENTIFIER_COLUMNS: dict[str, list[tuple[str, str, str]]] = {
    "crm_customers": [
        ("crm", "customer_id", "''"),
        ("email", "email", "''"),
        ("phone", "phone", "coalesce(country, '')"),
    ],
    "loyalty_members": [
        ("loyalty", "loyalty_id", "''"),
        ("crm", "customer_id", "''"),
        ("email", "email", "''"),
        ("phone", "phone", "coalesce(country, '')"),
    ],
    "pos_transactions": [("loyalty", "loyalty_id", "''"), ("email", "receipt_email", "''")],
    "ecommerce_orders": [
        ("crm", "customer_id", "''"),
        ("email", "email", "''"),
        ("phone", "phone", "coalesce(shipping_address->>'country', '')"),
        ("ecid", "ecid", "''"),
    ],
    "web_events": [("ecid", "ecid", "''"), ("crm", "customer_id", "''"), ("email", "email", "''")],
    # Choices and requests name their subject; a phone there carries its country code.
    "consent_events": [("subject", "subject_value", "''")],
    "privacy_requests": [("subject", "subject_value", "''")],
}
NORMALIZE_BATCH = 50_000  # values normalized and written at a time
SUBJECT_NAMESPACE = "case subject_type when 'customer_id' then 'crm' else subject_type end"

EMAIL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~.-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
# RFC 5321's limits: a local part of 64 characters, a domain of 255, a path of 256 with its brackets.
EMAIL_LOCAL_PART_MAX, EMAIL_MAX = 64, 254
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
REGION_ALIASES = {"UK": "GB"}  # the common spelling of the United Kingdom, which ISO 3166 calls GB
IS_POSSIBLE = phonenumbers.ValidationResult.IS_POSSIBLE


@dataclass(frozen=True)
class Normalized:
    identity_value: str | None
    reason: str | None  # None when the value is usable


def normalize(namespace: str, raw_value: str, default_region: str, rules: IdentityRules) -> Normalized:
    """The normalized identity of one raw value, or why it cannot be used."""
    value = _folded(raw_value).strip()
    if namespace == "email":
        value = value.lower()
    if rules.is_blocked(namespace, value):
        return Normalized(None, "blocked_value")
    if CONTROL.search(value):
        return Normalized(None, "invalid_format")
    if namespace == "email":
        local_part = value.partition("@")[0]
        if not EMAIL.match(value) or ".." in value or len(local_part) > EMAIL_LOCAL_PART_MAX or len(value) > EMAIL_MAX:
            return Normalized(None, "invalid_format")
    elif namespace == "phone":
        value = _e164(value, _region(default_region))
        if value is None:
            return Normalized(None, "invalid_format")
    elif not value or len(value) > 256:
        return Normalized(None, "invalid_format")
    if rules.is_blocked(namespace, value):
        return Normalized(None, "blocked_value")
    return Normalized(value, None)


def _folded(value: str) -> str:
    """Compatibility characters folded (full-width letters and digits, ligatures: NFKC) and invisible
    format characters (zero-width spaces, byte-order marks, direction marks) removed, which people
    and exports add to an identifier without changing it. ASCII text has neither."""
    if value.isascii():
        return value
    return "".join(c for c in unicodedata.normalize("NFKC", value) if unicodedata.category(c) != "Cf")


def _region(default_region: str) -> str | None:
    """The row's country as a region libphonenumber knows the form of (two ASCII letters), or None."""
    region = default_region.strip()
    if not region.isascii():  # upper-casing may make ASCII of it ('ß' is 'SS')
        return None
    region = REGION_ALIASES.get(region.upper(), region.upper())
    return region if len(region) == 2 and region.isalpha() else None


def _e164(value: str, region: str | None) -> str | None:
    number = _parse_phone(value, region)
    # Possible (a length the country's plan allows), not only "valid": numbers as people give them
    # include unassigned ranges, such as the contract's own +1 (555) 010-2233, and still link a person.
    # A number possible only locally (without its area code) is not one person's: it is refused.
    if number is None or phonenumbers.is_possible_number_with_reason(number) != IS_POSSIBLE:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # The E.164 form must read back as itself: a national leading zero kept after the country code
    # (+49 0 30...) may read back without it, and then the spelling names no one number. Only such
    # a zero makes the difference, so only such numbers are read back.
    if number.italian_leading_zero:
        again = _parse_phone(e164, None)
        if again is None or phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) != e164:
            return None
    return e164


def _parse_phone(value: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number, read in the row's region. A number starting with 00 is read with the region's own
    international prefix where it has one (00 in most of Europe, 0011 in Australia), else as +."""
    digits_start = value.lstrip(" (")
    if not digits_start.startswith("00"):
        return _parsed(value, region)
    if region is not None:
        number = _parsed(value, region, keep_raw_input=True)
        if number is not None and number.country_code_source == phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD:
            return number
    return _parsed("+" + digits_start[2:], region)


def _parsed(value: str, region: str | None, keep_raw_input: bool = False) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(value, region, keep_raw_input=keep_raw_input)
    except phonenumbers.NumberParseException:
        return None


def _distinct_new_values_sql(sources: Iterable[str], with_dates: bool) -> str:
    selects = []
    for source in sources:
        for namespace, column, region in IDENTIFIER_COLUMNS[source]:
            ns_sql = SUBJECT_NAMESPACE if namespace == "subject" else f"'{namespace}'"
            where = f"{column} is not null" + (" and _dt = any(%(dates)s)" if with_dates else "")
            selects.append(
                f"select {ns_sql} as namespace, {column} as raw_value, {region} as region"
                f' from raw."{source}" where {where}'
            )
    union = "\nunion\n".join(selects)
    return (
        f"select namespace, raw_value, region from ({union}) v"
        " where not exists (select 1 from prep.identifiers p where p.namespace = v.namespace"
        " and p.raw_value = v.raw_value and p.default_region = v.region)"
        " order by namespace, raw_value, region"  # the primary key's order: see normalize_identifiers
    )


def _existing_sources(cur) -> list[str]:
    cur.execute(
        "select table_name from information_schema.tables where table_schema = 'raw' and table_name = any(%s)",
        (list(IDENTIFIER_COLUMNS),),
    )
    present = {row[0] for row in cur.fetchall()}
    return [s for s in IDENTIFIER_COLUMNS if s in present]


def normalize_identifiers(conn, dates: list[date] | None = None, rules: IdentityRules | None = None) -> dict:
    """Fill prep.identifiers for values loaded on `dates` (all raw data when None). Returns counts."""
    rules = rules or load_rules()
    rules_changed = write_rules(conn, rules)
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.identity.normalize'))")
        cur.execute(DDL)
        if rules_changed:
            _read_again(cur, rules)
        sources = _existing_sources(cur)
        if not sources:
            return {"normalized": 0, "rejected": 0}
        counts = {"normalized": 0, "rejected": 0}
        columns = ("namespace", "raw_value", "default_region", "identity_value", "reason")
        # The new values come in batches from a server-side cursor (memory stays flat whatever their
        # number) and go straight in, in key order: they are new (the query leaves out those already
        # there, and the lock keeps other runs out), and sorted rows fill the primary key's index
        # from left to right.
        cur.execute("set local cursor_tuple_fraction = 1")  # plan for all rows, as for a plain query
        with conn.cursor(name="new_identifier_values") as new_values:
            new_values.itersize = NORMALIZE_BATCH
            new_values.execute(_distinct_new_values_sql(sources, dates is not None), {"dates": dates})
            while batch := new_values.fetchmany(NORMALIZE_BATCH):
                normalized = []
                for namespace, raw_value, region in batch:
                    result = normalize(namespace, raw_value, region, rules)
                    counts["rejected" if result.reason else "normalized"] += 1
                    normalized.append((namespace, raw_value, region, result.identity_value, result.reason))
                copy_rows(cur, "prep.identifiers", columns, normalized)
        # dbt's staging views join every raw row to this table right after: without fresh statistics
        # the planner takes it for a few rows and loops over it (minutes instead of seconds).
        cur.execute("analyze prep.identifiers")
    log.info("identifiers: %(normalized)s new normalized, %(rejected)s new rejected", counts)
    return counts


def _read_again(cur, rules: IdentityRules) -> int:
    """Normalize again, with changed rules or a changed reading, the values normalized before;
    returns the rows that changed (an accepted value may now be blocked or invalid, and the reverse)."""
    changed = []
    # Every stored value, a batch at a time from a server-side cursor: memory stays flat.
    with cur.connection.cursor(name="stored_identifier_values") as stored:
        stored.itersize = NORMALIZE_BATCH
        stored.execute("select namespace, raw_value, default_region, identity_value, reason from prep.identifiers")
        for namespace, raw_value, region, identity_value, reason in stored:
            result = normalize(namespace, raw_value, region, rules)
            if (result.identity_value, result.reason) != (identity_value, reason):
                changed.append((namespace, raw_value, region, result.identity_value, result.reason))
    if changed:
        cur.execute("create temp table changed_identifiers (like prep.identifiers) on commit drop")
        columns = ("namespace", "raw_value", "default_region", "identity_value", "reason")
        copy_rows(cur, "changed_identifiers", columns, changed)
        cur.execute(
            "update prep.identifiers p set identity_value = c.identity_value, reason = c.reason"
            " from changed_identifiers c where p.namespace = c.namespace and p.raw_value = c.raw_value"
            " and p.default_region = c.default_region"
        )
        cur.execute("drop table changed_identifiers")
    log.info("identifiers: identity rules changed, %s values normalized before now read differently", len(changed))
    return len(changed)
