"""The policies file (config/policies.yml): labels, marketing actions, destinations and policies, checked on load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from cdp import settings

FAMILIES = ("contract", "identity", "sensitive")


@dataclass(frozen=True)
class Label:
    code: str
    family: str
    name: str
    description: str = ""


@dataclass(frozen=True)
class Policy:
    """Deny marketing actions for data carrying any (`when_any`) and/or all (`when_all`) of some labels."""

    name: str
    deny: frozenset[str]
    when_any: frozenset[str] = frozenset()
    when_all: frozenset[str] = frozenset()
    description: str = ""

    def denies(self, actions: set[str], labels: set[str]) -> bool:
        if not self.deny & actions:
            return False
        if self.when_any and not self.when_any & labels:
            return False
        return not (self.when_all and not self.when_all <= labels)

    def triggering(self, labels: set[str]) -> list[str]:
        """The labels that make the policy apply."""
        return sorted((self.when_any & labels) | (self.when_all if self.when_all <= labels else set()))

    def rule(self) -> str:
        conditions = [
            f"{kind} of {', '.join(sorted(codes))}"
            for kind, codes in (("any", self.when_any), ("all", self.when_all))
            if codes
        ]
        return f"deny {', '.join(sorted(self.deny))} when " + " and ".join(conditions)


@dataclass(frozen=True)
class ConsentPolicy:
    """An activation performing `marketing_action` withholds everyone without `requires` consent."""

    name: str
    marketing_action: str
    requires: str


@dataclass(frozen=True)
class DestinationRules:
    marketing_actions: tuple[str, ...] = ()
    hashed_identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policies:
    labels: dict[str, Label]
    marketing_actions: dict[str, str]
    destinations: dict[str, DestinationRules]
    policies: tuple[Policy, ...]
    consent_policies: tuple[ConsentPolicy, ...]

    def _declared(self, destination: str, attribute: str) -> tuple[str, ...] | None:
        """What the destination's module declares (None when it declares nothing or the type is unknown)."""
        from cdp.activation.destinations import destination_for

        try:
            value = getattr(destination_for(destination), attribute, None)
        except ValueError:
            return None
        return tuple(value) if value is not None else None

    def destination_actions(self, destination: str) -> tuple[str, ...] | None:
        """The marketing actions a destination type performs: its module's plus this file's; None if neither says."""
        declared = self._declared(destination, "marketing_actions")
        configured = self.destinations.get(destination)
        if declared is None and configured is None:
            return None
        return tuple(sorted(set(declared or ()) | set(configured.marketing_actions if configured else ())))

    def hashed_identifiers(self, destination: str) -> tuple[str, ...]:
        """Payload keys the destination must receive hashed (SHA-256, lowercase hex)."""
        configured = self.destinations.get(destination, DestinationRules())
        return tuple(
            sorted(set(self._declared(destination, "hashed_identifiers") or ()) | set(configured.hashed_identifiers))
        )


def _codes(value, known: dict, what: str, where: str) -> frozenset[str]:
    codes = frozenset(str(v) for v in (value or []))
    unknown = sorted(codes - set(known))
    if unknown:
        raise ValueError(f"policies file: {where} names unknown {what} {', '.join(unknown)}")
    return codes


def parse_policies(document: dict) -> Policies:
    labels = {}
    for code, entry in (document.get("labels") or {}).items():
        if entry.get("family") not in FAMILIES:
            raise ValueError(f"policies file: label {code} needs a family ({', '.join(FAMILIES)})")
        labels[str(code)] = Label(str(code), entry["family"], entry.get("name", code), entry.get("description", ""))
    actions = {str(k): str(v) for k, v in (document.get("marketing_actions") or {}).items()}
    destinations = {
        str(name): DestinationRules(
            tuple(sorted(_codes(entry.get("marketing_actions"), actions, "marketing action", f"destination {name}"))),
            tuple(str(k) for k in entry.get("hashed_identifiers") or ()),
        )
        for name, entry in (document.get("destinations") or {}).items()
    }
    policies = []
    for entry in document.get("policies") or []:
        name = entry.get("name", "?")
        policy = Policy(
            name=name,
            deny=_codes(entry.get("deny"), actions, "marketing action", f"policy {name}"),
            when_any=_codes(entry.get("when_any"), labels, "label", f"policy {name}"),
            when_all=_codes(entry.get("when_all"), labels, "label", f"policy {name}"),
            description=entry.get("description", ""),
        )
        if not policy.deny or not (policy.when_any or policy.when_all):
            raise ValueError(f"policies file: policy {name} needs deny and when_any or when_all")
        policies.append(policy)
    consent = []
    for entry in document.get("consent_policies") or []:
        name = entry.get("name", "?")
        (action,) = _codes([entry.get("marketing_action")], actions, "marketing action", f"consent policy {name}")
        (purpose,) = _codes([entry.get("requires")], actions, "consent purpose", f"consent policy {name}")
        consent.append(ConsentPolicy(name, action, purpose))
    names = [p.name for p in policies] + [c.name for c in consent]
    if len(names) != len(set(names)):
        raise ValueError("policies file: policy names must be unique")
    return Policies(labels, actions, destinations, tuple(policies), tuple(consent))


def load_policies(path: Path | None = None) -> Policies:
    with open(path or settings.policies_file(), encoding="utf-8") as fh:
        return parse_policies(yaml.safe_load(fh) or {})
