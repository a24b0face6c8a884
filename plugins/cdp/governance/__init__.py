"""Data governance: usage labels that follow dbt lineage, policies as code, enforcement before activation."""

from cdp.governance.enforcement import (
    ActivationReport,
    PolicyViolation,
    ProjectReport,
    check_activation,
    check_configured_project,
    check_project,
    evaluate_activation,
)
from cdp.governance.labels import Lineage
from cdp.governance.manifest import load_manifest
from cdp.governance.policies import Policies, load_policies

__all__ = [
    "ActivationReport",
    "Lineage",
    "Policies",
    "PolicyViolation",
    "ProjectReport",
    "check_activation",
    "check_configured_project",
    "check_project",
    "evaluate_activation",
    "load_manifest",
    "load_policies",
]
