"""The identity linking rules file (config/identity_rules.yml), parsed once, and its copy in the warehouse.

The YAML file is the one source of truth. Python applies the blocked values and patterns while it
normalizes identifiers; the linking rules (namespace priority, unique namespaces, hub limits, the
profile size cap) are written into `prep.identity_rules` by `write_rules`, which the identifier
normalization step calls before every dbt build, and dbt's identity models read that table.
Its `fingerprint` row (a digest of the whole parsed file and of NORMALIZATION_VERSION) tells the
stitching model that the rules changed since its previous run, which makes it rebuild the graph in
full, and the normalization step that the values it read before must be read again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from cdp import settings

NAMESPACES = ("crm", "loyalty", "email", "phone", "ecid")
# How cdp.identity.normalize reads a value; raised when it reads some value differently.
NORMALIZATION_VERSION = 2
DEFAULT_UNIQUE_NAMESPACES = ("crm",)
DEFAULT_MAX_IDENTITIES_PER_PROFILE = 50

DDL = """
create schema if not exists prep;
create table if not exists prep.identity_rules (
    rule text not null,
    namespace text,
    other_namespace text,
    value text not null
);
"""


@dataclass(frozen=True)
class IdentityRules:
    namespace_priority: tuple[str, ...]
    blocked_values: dict[str, frozenset[str]]
    blocked_patterns: dict[str, tuple[re.Pattern, ...]]
    unique_namespaces: frozenset[str] = frozenset(DEFAULT_UNIQUE_NAMESPACES)
    # (namespace, other namespace) -> most distinct identities of the other namespace allowed
    link_limits: dict[tuple[str, str], int] = field(default_factory=dict)
    max_identities_per_profile: int = DEFAULT_MAX_IDENTITIES_PER_PROFILE
    fingerprint: str = ""

    def is_blocked(self, namespace: str, value: str) -> bool:
        """True for a placeholder: never a real person's identifier. `value` is already normalized."""
        lowered = value.strip().lower()
        if lowered in self.blocked_values.get("any", ()) or lowered in self.blocked_values.get(namespace, ()):
            return True
        return any(p.search(value) for p in self.blocked_patterns.get(namespace, ()))

    def priority(self, namespace: str) -> int:
        """1 for the strongest namespace."""
        return self.namespace_priority.index(namespace) + 1

    def warehouse_rows(self) -> list[tuple[str, str | None, str | None, str]]:
        """The rows of prep.identity_rules: (rule, namespace, other_namespace, value)."""
        rows: list[tuple[str, str | None, str | None, str]] = [("fingerprint", None, None, self.fingerprint)]
        rows += [("namespace_priority", ns, None, str(self.priority(ns))) for ns in self.namespace_priority]
        rows += [("unique_namespace", ns, None, "true") for ns in sorted(self.unique_namespaces)]
        rows += [("link_limit", ns, other, str(limit)) for (ns, other), limit in sorted(self.link_limits.items())]
        rows.append(("max_identities_per_profile", None, None, str(self.max_identities_per_profile)))
        return rows


def _namespaces(values, what: str) -> list[str]:
    values = [str(v) for v in values]
    unknown = sorted(set(values) - set(NAMESPACES))
    if unknown:
        raise ValueError(f"identity rules: unknown namespace(s) in {what}: {unknown}")
    return values


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"identity rules: {what} must be a whole number of at least 1, got {value!r}")
    return value


def parse_rules(document: dict) -> IdentityRules:
    priority = tuple(_namespaces(document.get("namespace_priority", NAMESPACES), "namespace_priority"))
    if sorted(priority) != sorted(NAMESPACES):
        raise ValueError(
            f"identity rules: namespace_priority must list each of {', '.join(NAMESPACES)} exactly once,"
            f" got {list(priority)}"
        )
    unique = frozenset(_namespaces(document.get("unique_namespaces", DEFAULT_UNIQUE_NAMESPACES), "unique_namespaces"))
    limits: dict[tuple[str, str], int] = {}
    for namespace, per_other in (document.get("link_limits") or {}).items():
        _namespaces([namespace], "link_limits")
        if not isinstance(per_other, dict):
            raise ValueError(f"identity rules: link_limits.{namespace} must map namespaces to limits")
        for other, limit in per_other.items():
            _namespaces([other], f"link_limits.{namespace}")
            if other == namespace:
                raise ValueError(f"identity rules: link_limits.{namespace} cannot limit its own namespace")
            limits[(namespace, other)] = _positive_int(limit, f"link_limits.{namespace}.{other}")
    cap = _positive_int(
        document.get("max_identities_per_profile", DEFAULT_MAX_IDENTITIES_PER_PROFILE), "max_identities_per_profile"
    )
    values = {
        ns: frozenset(str(v).strip().lower() for v in vs) for ns, vs in (document.get("blocked_values") or {}).items()
    }
    patterns = {ns: tuple(re.compile(p) for p in ps) for ns, ps in (document.get("blocked_patterns") or {}).items()}
    canonical = {
        "normalization": NORMALIZATION_VERSION,
        "namespace_priority": list(priority),
        "unique_namespaces": sorted(unique),
        "link_limits": sorted([ns, other, limit] for (ns, other), limit in limits.items()),
        "max_identities_per_profile": cap,
        "blocked_values": {ns: sorted(vs) for ns, vs in sorted(values.items())},
        "blocked_patterns": {ns: [p.pattern for p in ps] for ns, ps in sorted(patterns.items())},
    }
    fingerprint = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode("utf-8")).hexdigest()
    return IdentityRules(priority, values, patterns, unique, limits, cap, fingerprint)


@cache
def load_rules(path: Path | None = None) -> IdentityRules:
    path = path or settings.identity_rules_file()
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh) or {})


def write_rules(conn, rules: IdentityRules | None = None) -> bool:
    """Make prep.identity_rules hold `rules` (default: the rules file). True when its content changed.

    Runs in the caller's transaction; the table is rewritten only when the fingerprint differs,
    so an unchanged rules file leaves the table (and a rerun's snapshot) as it was.
    """
    rules = rules or load_rules()
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.identity.rules'))")
        cur.execute(DDL)
        cur.execute("select value from prep.identity_rules where rule = 'fingerprint'")
        current = [row[0] for row in cur.fetchall()]
        if current == [rules.fingerprint]:
            return False
        cur.execute("delete from prep.identity_rules")
        cur.executemany(
            "insert into prep.identity_rules (rule, namespace, other_namespace, value) values (%s, %s, %s, %s)",
            rules.warehouse_rows(),
        )
    return True


def warehouse_fingerprint(conn) -> str | None:
    """The fingerprint of the rules the warehouse holds, or None before the first write."""
    with conn.cursor() as cur:
        cur.execute("select to_regclass('prep.identity_rules')")
        if cur.fetchone()[0] is None:
            return None
        cur.execute("select value from prep.identity_rules where rule = 'fingerprint'")
        row = cur.fetchone()
    return row[0] if row else None
