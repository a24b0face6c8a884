"""Identifier normalization: every distinct raw identifier value to its normalized form or a reason.

Runs after ingest and before dbt. Phones need libphonenumber's rules (national formats, the
row's country as default region), which SQL cannot express, so the result is written to
`prep.identifiers`, one row per distinct (namespace, raw value, default region); dbt's staging
models join to it. Only values not normalized before are processed, so a daily run is small;
when the rules file changed since the last run, the values already there are checked again
against its blocked values and patterns. The linking rules go to `prep.identity_rules` in the
same transaction (see cdp.identity.rules).
"""

from __future__ import annotations

import logging
import re
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


@dataclass(frozen=True)
class Normalized:
    identity_value: str | None
    reason: str | None  # None when the value is usable


def normalize(namespace: str, raw_value: str, default_region: str, rules: IdentityRules) -> Normalized:
    """The normalized identity of one raw value, or why it cannot be used."""
    value = raw_value.strip()
    if rules.is_blocked(namespace, value):
        return Normalized(None, "blocked_value")
    if namespace == "email":
        value = value.lower()
        if not EMAIL.match(value) or ".." in value:
            return Normalized(None, "invalid_format")
    elif namespace == "phone":
        value = _e164(value, default_region)
        if value is None:
            return Normalized(None, "invalid_format")
    elif not value or len(value) > 256:
        return Normalized(None, "invalid_format")
    if rules.is_blocked(namespace, value):
        return Normalized(None, "blocked_value")
    return Normalized(value, None)


def _e164(value: str, default_region: str) -> str | None:
    candidate = value
    digits_start = candidate.lstrip(" (")
    if digits_start.startswith("00"):  # 00 before a country code means the same as +
        candidate = "+" + digits_start[2:]
    try:
        number = phonenumbers.parse(candidate, default_region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    # Possible (a length the country's plan allows), not only "valid": numbers as people give them
    # include unassigned ranges, such as the contract's own +1 (555) 010-2233, and still link a person.
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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
            _recheck_blocked(cur, rules)
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


def _recheck_blocked(cur, rules: IdentityRules) -> int:
    """Apply changed blocked values and patterns to the values normalized before; returns rows changed.

    An accepted value that is now blocked becomes blocked_value; a blocked_value that is no longer
    blocked is normalized again (it may be accepted or invalid_format).
    """
    cur.execute(
        "select namespace, raw_value, default_region, identity_value, reason from prep.identifiers"
        " where identity_value is not null or reason = 'blocked_value'"
    )
    changed = []
    for namespace, raw_value, region, identity_value, reason in cur.fetchall():
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
