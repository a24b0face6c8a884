"""Policies evaluated against what an activation would send, before it sends anything.

An activation performs the marketing action of its purpose plus its destination type's
actions. The labels reaching it are those of its audience model (every label of everything
the audience is built on, of its documented columns, and of the profile columns its
conditions select on: meta `uses` and `condition_columns`, see `cdp.audiences.catalog`) and
of each profile attribute it maps (`profiles.profiles` columns). A deny policy that matches, an unknown label or
destination, or a consent policy the activation's purpose does not satisfy is a violation:
`check_activation` raises `PolicyViolation`, whose message gives the policy, the labels and
the lineage from where each label is declared to the destination. No profile data is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cdp.audiences.catalog import columns_read
from cdp.governance.labels import Lineage
from cdp.governance.policies import Policies, load_policies

PROFILES_MODEL = "profiles"  # activations read their attributes from profiles.profiles


@dataclass(frozen=True)
class LabelPath:
    """One label reaching an activation, where it lands and the lineage it follows."""

    label: str
    on: str  # "audience", "audience column <c>", "audience condition column <c>" or "attribute <a>"
    lineage: tuple[str, ...]  # from the node declaring the label to the destination
    attribute: str | None = None  # the profile attribute it is on, if any


@dataclass
class Violation:
    policy: str
    rule: str
    description: str = ""
    paths: list[LabelPath] = field(default_factory=list)


@dataclass
class ActivationReport:
    activation: str
    audience: str
    destination: str
    purpose: str
    actions: tuple[str, ...] = ()
    labels: dict[str, list[LabelPath]] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """One line: what it does, the labels of each mapped attribute and those of the audience."""
        attributes: dict[str, set[str]] = {}
        audience: set[str] = set()
        for code, paths in self.labels.items():
            for p in paths:
                (attributes.setdefault(p.attribute, set()) if p.attribute else audience).add(code)
        mapped = ", ".join(f"{a} {'+'.join(sorted(codes))}" for a, codes in sorted(attributes.items()))
        status = "ok" if self.ok else f"{len(self.violations)} VIOLATION(S)"
        return (
            f"{self.activation}: {self.audience} → {self.destination} ({', '.join(self.actions)}); "
            f"attributes {mapped or '-'}; audience {', '.join(sorted(audience)) or '-'}: {status}"
        )

    def lines(self) -> list[str]:
        count = len(self.violations)
        lines = [
            f"activation {self.activation} (audience {self.audience} → destination {self.destination}, "
            f"purpose {self.purpose}) violates {count} {'policy' if count == 1 else 'policies'}"
        ]
        for v in self.violations:
            why = f" ({v.description})" if v.description else ""
            lines.append(f"  policy {v.policy}{why}: {v.rule}")
            lines += [f"    {p.label} on {p.on}: {' → '.join(p.lineage)}" for p in v.paths]
        return lines


class PolicyViolation(Exception):
    """An activation would send data a policy forbids. Not retryable: the configuration must change."""

    def __init__(self, report: ActivationReport):
        self.report = report
        super().__init__("\n".join(report.lines()))


def _attributes(activation) -> list[str]:
    """Every profile attribute the activation reads, profile_id included (it is always sent)."""
    attributes = getattr(activation, "attributes", None)
    if attributes is None:
        attributes = set(activation.fields.values()) | set(getattr(activation, "required", ()))
    return sorted({"profile_id", *attributes})


def _label_paths(activation, lineage: Lineage, audience: str, profiles: str) -> list[LabelPath]:
    tail = (f"audience {activation.audience}", f"activation {activation.name}", f"destination {activation.destination}")
    paths = [
        LabelPath(code, "audience", (*lineage.trace(audience, code), *tail[1:]))
        for code in sorted(lineage.table[audience])
    ]
    attributes = _attributes(activation)
    conditions = set(columns_read(lineage.nodes[audience].meta))
    for column in sorted((set(lineage.nodes[audience].columns) | conditions) - set(attributes)):  # attributes next
        on = f"audience condition column {column}" if column in conditions else f"audience column {column}"
        for code in sorted(lineage.column_labels(audience, column) - lineage.table[audience]):
            paths.append(LabelPath(code, on, (*lineage.trace(audience, code, column), *tail[1:])))
    for attribute in attributes:
        for code in sorted(lineage.column_labels(profiles, attribute)):
            paths.append(
                LabelPath(code, f"attribute {attribute}", (*lineage.trace(profiles, code, attribute), *tail), attribute)
            )
    return paths


def evaluate_activation(activation, lineage: Lineage, policies: Policies) -> ActivationReport:
    """The labels, actions and violations of one activation (raises nothing)."""
    report = ActivationReport(activation.name, activation.audience, activation.destination, activation.purpose)
    destination_actions = policies.destination_actions(activation.destination)
    if destination_actions is None:
        report.violations.append(
            Violation(
                "destination_declares_marketing_actions",
                f"destination type {activation.destination} declares no marketing actions",
            )
        )
        destination_actions = ()
    report.actions = tuple(sorted({activation.purpose, *destination_actions}))
    unknown_actions = sorted(set(report.actions) - set(policies.marketing_actions))
    if unknown_actions:  # a misspelt action would escape every policy naming the right one
        report.violations.append(
            Violation(
                "known_marketing_actions", f"{', '.join(unknown_actions)}: not marketing actions of the policies file"
            )
        )
    audience, profiles = lineage.model(activation.audience), lineage.model(PROFILES_MODEL)
    missing = [name for name, uid in ((activation.audience, audience), (PROFILES_MODEL, profiles)) if uid is None]
    if missing:  # labels that cannot be known are not assumed absent
        report.violations += [
            Violation("labels_known", f"{name} is no dbt model: its labels are unknown") for name in missing
        ]
        return report
    for path in _label_paths(activation, lineage, audience, profiles):
        report.labels.setdefault(path.label, []).append(path)
    labels = set(report.labels)
    unknown = sorted(labels - set(policies.labels))
    if unknown:
        report.violations.append(
            Violation(
                "known_labels",
                f"labels {', '.join(unknown)} are not defined in the policies file",
                paths=[p for code in unknown for p in report.labels[code]],
            )
        )
    for policy in policies.policies:
        if policy.denies(set(report.actions), labels):
            triggering = policy.triggering(labels)
            paths = [p for code in triggering for p in report.labels[code]]
            report.violations.append(Violation(policy.name, policy.rule(), policy.description, paths))
    for consent in policies.consent_policies:
        if consent.marketing_action in report.actions and consent.requires != activation.purpose:
            report.violations.append(
                Violation(
                    consent.name,
                    f"{consent.marketing_action} needs {consent.requires} consent per record, "
                    f"but the activation withholds on {activation.purpose} consent",
                )
            )
    return report


def check_activation(activation, manifest: Lineage | dict, policies: Policies | None = None) -> ActivationReport:
    """Evaluate one activation; raise PolicyViolation if any policy forbids it."""
    lineage = manifest if isinstance(manifest, Lineage) else Lineage(manifest)
    report = evaluate_activation(activation, lineage, policies or load_policies())
    if not report.ok:
        raise PolicyViolation(report)
    return report


@dataclass
class ProjectReport:
    activations: list[ActivationReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # labels in the dbt YAML that the policies file does not define
    policies: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors and all(a.ok for a in self.activations)

    def lines(self) -> list[str]:
        status = "passed" if self.ok else "FAILED"
        lines = [f"governance check: {status} ({len(self.activations)} activation(s), {self.policies} policies)"]
        lines += [f"  ERROR {e}" for e in self.errors]
        for report in self.activations:
            lines.append("  " + report.summary())
            if not report.ok:
                lines += ["    " + line for line in report.lines()]
        return lines


def check_project(lineage: Lineage, activations: list, policies: Policies) -> ProjectReport:
    """Every activation against every policy, and every label in the project against the label set."""
    report = ProjectReport(policies=len(policies.policies) + len(policies.consent_policies))
    for node, column, code in lineage.declared():
        if code not in policies.labels:
            where = f"{node}.{column}" if column else node
            report.errors.append(f"{where}: label {code} is not defined in the policies file")
    report.activations = [evaluate_activation(a, lineage, policies) for a in activations]
    return report


def check_configured_project(manifest_path=None, activations_path=None, policies_path=None) -> ProjectReport:
    """`cdp governance check`: the project's manifest (parsed fresh unless given), activations and policies."""
    from cdp.activation.config import load_activations
    from cdp.governance.manifest import load_manifest

    policies = load_policies(policies_path)
    return check_project(Lineage(load_manifest(manifest_path)), load_activations(activations_path), policies)
