"""The identity rules (config/identity_rules.yml) as checkpoint variables, so the outputs gate checks
the identity map against the same cap, unique namespaces and blocked values the stitching applies."""

from __future__ import annotations

from cdp.identity.rules import load_rules


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _in(expression: str, values) -> str:
    return f"{expression} in ({', '.join(_literal(v) for v in sorted(values))})" if values else "false"


def blocked_identity_predicate(rules) -> str:
    """SQL over (namespace, identity_value): true for a value the rules block (placeholders, patterns)."""
    lowered = "lower(btrim(identity_value))"
    terms = [_in(lowered, rules.blocked_values.get("any", ()))]
    for namespace, values in sorted(rules.blocked_values.items()):
        if namespace != "any":
            terms.append(f"(namespace = {_literal(namespace)} and {_in(lowered, values)})")
    for namespace, patterns in sorted(rules.blocked_patterns.items()):
        # Python and Postgres agree on the anchors, classes and counts the rules use.
        terms += [f"(namespace = {_literal(namespace)} and identity_value ~ {_literal(p.pattern)})" for p in patterns]
    return "(" + " or ".join(terms) + ")"


def identity_rule_variables() -> dict[str, str]:
    rules = load_rules()
    return {
        "identity_cap": str(rules.max_identities_per_profile),
        "in_unique_namespace": _in("namespace", rules.unique_namespaces),
        "is_blocked_identity": blocked_identity_predicate(rules),
    }
