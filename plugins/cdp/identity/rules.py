"""The identity linking rules file (config/identity_rules.yml), parsed once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from cdp import settings

NAMESPACES = ("crm", "loyalty", "email", "phone", "ecid")


@dataclass(frozen=True)
class IdentityRules:
    namespace_priority: tuple[str, ...]
    blocked_values: dict[str, frozenset[str]]
    blocked_patterns: dict[str, tuple[re.Pattern, ...]]

    def is_blocked(self, namespace: str, value: str) -> bool:
        """True for a placeholder: never a real person's identifier. `value` is already normalized."""
        lowered = value.strip().lower()
        if lowered in self.blocked_values.get("any", ()) or lowered in self.blocked_values.get(namespace, ()):
            return True
        return any(p.search(value) for p in self.blocked_patterns.get(namespace, ()))


def parse_rules(document: dict) -> IdentityRules:
    priority = tuple(document.get("namespace_priority", NAMESPACES))
    unknown = set(priority) - set(NAMESPACES)
    if unknown:
        raise ValueError(f"identity rules: unknown namespace(s) in namespace_priority: {sorted(unknown)}")
    values = {
        ns: frozenset(str(v).strip().lower() for v in vs) for ns, vs in document.get("blocked_values", {}).items()
    }
    patterns = {ns: tuple(re.compile(p) for p in ps) for ns, ps in document.get("blocked_patterns", {}).items()}
    return IdentityRules(priority, values, patterns)


@cache
def load_rules(path: Path | None = None) -> IdentityRules:
    path = path or settings.identity_rules_file()
    with open(path, encoding="utf-8") as fh:
        return parse_rules(yaml.safe_load(fh) or {})
