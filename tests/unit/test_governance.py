"""Data usage labels over the real dbt manifest, policies as code, and their enforcement per activation.

The manifest is the project's own, parsed once (dbt parse needs no warehouse). A violation is
introduced in a copy of it (a label added) or in a temporary activations or policies file.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from cdp import cli, settings
from cdp.activation.config import load_activations
from cdp.governance import (
    Lineage,
    PolicyViolation,
    check_activation,
    check_configured_project,
    check_project,
    evaluate_activation,
    load_policies,
)
from cdp.governance.manifest import parse_manifest
from cdp.governance.policies import parse_policies


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CDP_HOME", str(tmp_path_factory.mktemp("home")))
        return parse_manifest()


@pytest.fixture
def audience(manifest) -> str:
    """An audience model of the project (the first one by name)."""
    names = sorted(
        n["name"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["fqn"][1:2] == ["audiences"] and n["name"].startswith("aud_")
    )
    return names[0]


def activations_file(tmp_path: Path, audience: str, **purposes: str) -> Path:
    """File-export activations of `audience` (name -> purpose) mapping email, first name and country."""
    entries = [
        {
            "name": name,
            "audience": audience,
            "destination": "file_export",
            "purpose": purpose,
            "mode": "full",
            "options": {"base_uri": str(tmp_path / "exports")},
            "fields": {"email": "email", "first_name": "first_name", "country": "country"},
        }
        for name, purpose in purposes.items()
    ]
    path = tmp_path / "activations.yml"
    path.write_text(yaml.safe_dump({"activations": entries}))
    return path


def label_source_column(manifest: dict, source: str, column: str, *labels: str) -> dict:
    changed = copy.deepcopy(manifest)
    col = changed["sources"][f"source.cdp.{source}"]["columns"].setdefault(column, {"name": column})
    col.setdefault("config", {}).setdefault("meta", {})["data_labels"] = list(labels)
    return changed


def label_source_table(manifest: dict, source: str, *labels: str) -> dict:
    changed = copy.deepcopy(manifest)
    changed["sources"][f"source.cdp.{source}"].setdefault("config", {}).setdefault("meta", {})["data_labels"] = list(
        labels
    )
    return changed


def select_on(manifest: dict, audience: str, column: str, key: str) -> dict:
    """A copy where the audience's meta `key` (uses or condition_columns) also names a profile column."""
    changed = copy.deepcopy(manifest)
    meta = changed["nodes"][f"model.cdp.{audience}"]["config"]["meta"]
    meta[key] = [*meta.get(key, []), column]
    return changed


# -- labels and lineage ----------------------------------------------------------------------------


def test_column_labels_follow_same_named_columns_from_source_to_profiles(manifest):
    lineage = Lineage(manifest)
    profiles = lineage.model("profiles")
    assert lineage.column_labels(profiles, "email") == {"I1"}
    path = lineage.trace(profiles, "I1", "email")
    assert path[-1] == "profiles.email"
    assert path[0].endswith(".email") and path[0].split(".")[0] in {"crm", "loyalty", "ecommerce", "web", "pos"}
    assert all(step.endswith(".email") for step in path)
    assert lineage.column_labels(profiles, "country") == frozenset()  # nothing labelled it


def test_a_renamed_column_carries_the_labels_its_own_yaml_gives_it(manifest):
    lineage = Lineage(manifest)
    profiles = lineage.model("profiles")
    assert lineage.column_labels(profiles, "crm_id") == {"I2"}
    assert lineage.trace(profiles, "I2", "crm_id") == ["profiles.crm_id"]


def test_sensitive_source_columns_stop_where_the_column_stops(manifest):
    lineage = Lineage(manifest)
    staging = lineage.model("stg_crm__customers")
    assert lineage.column_labels(staging, "address_line1") == {"I1", "S1"}
    assert lineage.trace(staging, "S1", "address_line1") == [
        "crm.crm_customers.address_line1",
        "stg_crm__customers.address_line1",
    ]
    assert "S1" not in lineage.column_labels(lineage.model("profiles"), "email")


def test_derived_profile_columns_carry_the_labels_of_what_they_are_derived_from(manifest):
    lineage = Lineage(manifest)
    profiles = lineage.model("profiles")
    # The top category comes from browsed products' categories, in web events' properties (S2).
    assert lineage.column_labels(profiles, "top_category") == {"S2"}
    assert lineage.trace(profiles, "S2", "top_category") == ["profiles.top_category"]
    affinity = lineage.model("int_profile_category_affinity")
    assert lineage.trace(affinity, "S2", "category") == ["int_profile_category_affinity.category"]
    # Gender, city and region identify only with other data; a city is no street (I2, not S1).
    for column in ("gender", "city", "region"):
        assert lineage.column_labels(profiles, column) == {"I2"}
        assert lineage.trace(profiles, "I2", column)[:2] == [
            f"crm.crm_customers.{column}",
            f"stg_crm__customers.{column}",
        ]


def test_table_labels_reach_every_model_built_on_the_source_and_no_other(manifest):
    lineage = Lineage(manifest)
    privacy = lineage.model("stg_privacy__requests")
    assert {"C2", "C5"} <= lineage.table[privacy]
    assert lineage.trace(privacy, "C5") == ["privacy.privacy_requests", "stg_privacy__requests"]
    downstream = [uid for uid in lineage.nodes if privacy in lineage.nodes[uid].parents]
    assert downstream and all("C5" in lineage.table[uid] for uid in downstream)
    assert "C5" not in lineage.table[lineage.model("profiles")]


# -- the project as configured ---------------------------------------------------------------------


def test_the_configured_project_passes_every_policy(manifest):
    report = check_project(Lineage(manifest), load_activations(), load_policies())
    assert report.ok, "\n".join(report.lines())
    assert report.activations and report.policies >= 10
    for activation in report.activations:
        assert "third_party_export" in activation.actions  # every destination sends data out
        assert activation.labels["I2"]  # profile_id is always sent


# -- violations are blocked, with the lineage ------------------------------------------------------


def test_a_sensitive_label_on_a_source_column_blocks_ads_with_its_lineage(manifest, audience, tmp_path):
    changed = label_source_column(manifest, "crm.crm_customers", "email", "I1", "S1")
    ads, emails = load_activations(activations_file(tmp_path, audience, ads="ad_targeting", mails="email_marketing"))
    with pytest.raises(PolicyViolation) as blocked:
        check_activation(ads, changed)
    report = blocked.value.report
    assert {v.policy for v in report.violations} == {"no_sensitive_data_to_ad_platforms", "no_located_identities_leave"}
    message = str(blocked.value)
    assert "deny ad_targeting when any of S1, S2" in message
    lineage_line = next(line for line in message.splitlines() if line.strip().startswith("S1 on attribute email:"))
    assert lineage_line.split(": ", 1)[1].startswith("crm.crm_customers.email → stg_crm__customers.email → ")
    assert lineage_line.endswith(f"profiles.email → audience {audience} → activation ads → destination file_export")

    # The same data for email: only the policy on located identities leaving applies.
    with pytest.raises(PolicyViolation) as mail_blocked:
        check_activation(emails, changed)
    assert [v.policy for v in mail_blocked.value.report.violations] == ["no_located_identities_leave"]
    # Without the added label both pass.
    assert check_activation(ads, manifest).ok and check_activation(emails, manifest).ok


def test_the_audience_macro_records_the_columns_its_conditions_read(manifest):
    meta = manifest["nodes"]["model.cdp.aud_known_cart_abandoners_ads"]["config"]["meta"]
    assert meta["condition_columns"] == [
        "crm_id",
        "loyalty_id",
        "email",
        "phone",
        "days_since_last_cart_activity",
        "last_purchase_at",
        "last_cart_activity_at",
    ]


@pytest.mark.parametrize("key", ["uses", "condition_columns"])
def test_an_ad_audience_selecting_on_a_precise_location_is_blocked_with_its_lineage(manifest, tmp_path, key):
    audience = "aud_online_browsers_no_purchase_ads"
    changed = select_on(manifest, audience, "address_line1", key)
    ads, emails = load_activations(activations_file(tmp_path, audience, ads="ad_targeting", mails="email_marketing"))
    with pytest.raises(PolicyViolation) as blocked:
        check_activation(ads, changed)
    by_policy = {v.policy: v for v in blocked.value.report.violations}
    assert set(by_policy) == {"no_sensitive_data_to_ad_platforms", "no_located_identities_leave"}
    (path,) = by_policy["no_sensitive_data_to_ad_platforms"].paths
    assert (path.label, path.on, path.attribute) == ("S1", "audience condition column address_line1", None)
    assert path.lineage[:2] == ("crm.crm_customers.address_line1", "stg_crm__customers.address_line1")
    assert path.lineage[-4:] == (
        "profiles.address_line1",
        f"{audience}.address_line1",
        "activation ads",
        "destination file_export",
    )
    assert "S1 on audience condition column address_line1: crm.crm_customers.address_line1 → " in str(blocked.value)
    # Email marketing may select on where people live, but it may not send it out with their email.
    assert [v.policy for v in evaluate_activation(emails, Lineage(changed), load_policies()).violations] == [
        "no_located_identities_leave"
    ]
    assert check_activation(ads, manifest).ok  # the audience as written selects on no labelled column


def test_a_contract_label_on_a_source_table_blocks_every_ad_activation_built_on_it(manifest, audience, tmp_path):
    changed = label_source_table(manifest, "web.web_events", "C4")
    ads, emails = load_activations(activations_file(tmp_path, audience, ads="ad_targeting", mails="email_marketing"))
    with pytest.raises(PolicyViolation) as blocked:
        check_activation(ads, changed)
    (violation,) = blocked.value.report.violations
    assert violation.policy == "contract_no_ad_targeting"
    (path,) = violation.paths
    assert path.on == "audience"
    assert path.lineage[0] == "web.web_events" and path.lineage[1] == "stg_web__events"
    assert path.lineage[-3:] == (audience, "activation ads", "destination file_export")
    assert check_activation(emails, changed).ok  # C4 forbids ad targeting only


def test_a_destination_declared_to_target_ads_needs_ad_targeting_consent(manifest, audience, tmp_path):
    document = yaml.safe_load(settings.policies_file().read_text())
    document["destinations"]["file_export"]["marketing_actions"] = ["third_party_export", "ad_targeting"]
    (mails,) = load_activations(activations_file(tmp_path, audience, mails="email_marketing"))
    report = evaluate_activation(mails, Lineage(manifest), parse_policies(document))
    assert [v.policy for v in report.violations] == ["ads_need_ad_targeting_consent"]
    assert "withholds on email_marketing consent" in report.violations[0].rule


def test_unknown_labels_audiences_and_destinations_fail_closed(manifest, audience, tmp_path):
    changed = label_source_column(manifest, "crm.crm_customers", "first_name", "X9")
    policies = load_policies()
    project = check_project(Lineage(changed), [], policies)
    assert project.errors == ["crm.crm_customers.first_name: label X9 is not defined in the policies file"]
    (mails,) = load_activations(activations_file(tmp_path, audience, mails="email_marketing"))
    assert [v.policy for v in evaluate_activation(mails, Lineage(changed), policies).violations] == ["known_labels"]

    nowhere = load_activations(activations_file(tmp_path, "aud_that_does_not_exist", mails="email_marketing"))[0]
    assert [v.policy for v in evaluate_activation(nowhere, Lineage(manifest), policies).violations] == ["labels_known"]

    document = yaml.safe_load(settings.policies_file().read_text())
    del document["destinations"]["file_export"]
    report = evaluate_activation(mails, Lineage(manifest), parse_policies(document))
    assert "destination_declares_marketing_actions" in {v.policy for v in report.violations}


def test_a_policies_file_naming_an_unknown_label_or_action_is_refused():
    document = yaml.safe_load(settings.policies_file().read_text())
    document["policies"].append({"name": "typo", "deny": ["ad_targeting"], "when_any": ["S 1"]})
    with pytest.raises(ValueError, match="policy typo names unknown label S 1"):
        parse_policies(document)
    document["policies"][-1] = {"name": "typo", "deny": ["adtargeting"], "when_any": ["S1"]}
    with pytest.raises(ValueError, match="unknown marketing action adtargeting"):
        parse_policies(document)


def test_the_ci_command_exits_1_on_a_violation_and_0_once_fixed(manifest, audience, tmp_path, capsys):
    manifest_file = tmp_path / "manifest.json"
    manifest_file.write_text(json.dumps(manifest))
    activations = activations_file(tmp_path, audience, mails="email_marketing")
    strict = yaml.safe_load(settings.policies_file().read_text())
    strict["policies"].append(
        {"name": "no_names_leave", "description": "Names stay in.", "deny": ["third_party_export"], "when_any": ["I1"]}
    )
    policies = tmp_path / "policies.yml"
    policies.write_text(yaml.safe_dump(strict))
    args = ["--manifest", str(manifest_file), "--activations", str(activations)]

    assert cli.main(["governance", "check", *args, "--policies", str(policies)]) == 1
    out = capsys.readouterr().out
    assert "governance check: FAILED" in out and "policy no_names_leave (Names stay in.)" in out
    assert "I1 on attribute first_name:" in out

    assert cli.main(["governance", "check", *args]) == 0
    assert "governance check: passed" in capsys.readouterr().out
    report = check_configured_project(manifest_file, activations, policies)
    assert not report.ok and report.activations[0].violations[0].policy == "no_names_leave"
