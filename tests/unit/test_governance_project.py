"""`cdp governance check` on a copy of the dbt project with a violation written into it.

Each variant changes the copy as a data engineer would (a label in a column's YAML, a label on
a model, a condition in an audience model), writes a fresh manifest of it with `cdp manifest`'s
`write_manifest` (one `dbt parse` per variant, no warehouse) and runs the CI command against
that manifest with the project's own activations and policies.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cdp import cli, settings
from cdp.activation.config import load_activations
from cdp.dbt_tasks import write_manifest

ARTIFACTS = ("target", "logs", "dbt_packages")


def _edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def _named(entries: list[dict], name: str) -> dict:
    return next(entry for entry in entries if entry["name"] == name)


def _add_labels(entry: dict, *labels: str) -> None:
    entry.setdefault("config", {}).setdefault("meta", {})["data_labels"] = list(labels)


def label_profile_column(project: Path) -> None:
    """Days since web activity labelled health: it is what the ad audience selects on."""

    def change(document: dict) -> None:
        _add_labels(_named(_named(document["models"], "profiles")["columns"], "days_since_last_web_activity"), "S2")

    _edit_yaml(project / "models" / "profiles" / "_profiles__models.yml", change)


def label_web_events_model(project: Path) -> None:
    """The web events staging model under a contract forbidding ad targeting: a model-level label."""

    def change(document: dict) -> None:
        _add_labels(_named(document["models"], "stg_web__events"), "C4")

    _edit_yaml(project / "models" / "staging" / "web" / "_web__models.yml", change)


def select_ad_audience_on_address(project: Path) -> None:
    """A condition on the street address in the ad audience's SQL (its YAML `uses` left as it was)."""
    model = project / "models" / "audiences" / "aud_online_browsers_no_purchase_ads.sql"
    text = model.read_text()
    anchor = "{%- set conditions = ["
    assert anchor in text
    condition = "{'name': 'has_address', 'description': 'a street address', 'sql': 'address_line1 is not null'},"
    model.write_text(text.replace(anchor, f"{anchor}\n    {condition}", 1))


@pytest.fixture
def check(tmp_path, monkeypatch, capsys) -> Callable[[Callable[[Path], None] | None], tuple[int, str]]:
    """Copy the dbt project, apply a change, parse it fresh and run `cdp governance check` on it."""
    project = tmp_path / "dbt_project"
    shutil.copytree(settings.dbt_project_dir(), project, ignore=shutil.ignore_patterns(*ARTIFACTS))
    monkeypatch.setenv("CDP_DBT_PROJECT_DIR", str(project))
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "home"))

    def run(change: Callable[[Path], None] | None) -> tuple[int, str]:
        if change:
            change(project)
        manifest = write_manifest(tmp_path / "manifest.json")
        capsys.readouterr()
        code = cli.main(["governance", "check", "--manifest", str(manifest)])
        return code, capsys.readouterr().out

    return run


def _lineage(out: str, prefix: str) -> list[str]:
    return [line.strip().split(": ", 1)[1] for line in out.splitlines() if line.strip().startswith(prefix)]


def test_the_unchanged_copy_passes(check):
    code, out = check(None)
    assert code == 0, out
    assert f"governance check: passed ({len(load_activations())} activation(s)" in out


def test_a_label_in_a_column_yaml_fails_the_check_with_its_lineage(check):
    code, out = check(label_profile_column)
    assert code == 1, out
    assert "governance check: FAILED" in out
    assert "policy no_sensitive_data_to_ad_platforms" in out and "policy no_health_data_leaves" in out
    paths = _lineage(out, "S2 on audience condition column days_since_last_web_activity:")
    assert (
        "profiles.days_since_last_web_activity → aud_online_browsers_no_purchase_ads.days_since_last_web_activity"
        " → activation online_browsers_meta → destination meta_custom_audiences"
    ) in paths
    assert "store_buyers_meta_mirror: aud_recent_store_buyers_email" in out
    assert "store_buyers_meta_mirror" not in "".join(paths)  # that audience selects on store purchases only


def test_a_label_on_a_model_reaches_every_ad_activation_built_on_it(check):
    code, out = check(label_web_events_model)
    assert code == 1, out
    assert "policy contract_no_ad_targeting" in out
    assert "no_health_data_leaves" not in out  # C4 forbids ad targeting, not export
    paths = _lineage(out, "C4 on audience:")
    assert {p.split(" → ")[0] for p in paths} == {"stg_web__events"}
    assert {p.split(" → activation ")[1] for p in paths} == {
        "online_browsers_ads_file → destination file_export",
        "online_browsers_meta → destination meta_custom_audiences",
        "store_buyers_meta_mirror → destination meta_custom_audiences",
    }
    assert all(" → profiles → " in p for p in paths)
    # Email activations built on the same data are allowed.
    assert "store_buyers_email_file: aud_recent_store_buyers_email → file_export (email_marketing, " in out
    assert "activation store_buyers_email_file" not in out


def test_an_ad_audience_condition_on_the_street_address_fails_the_check(check):
    code, out = check(select_ad_audience_on_address)
    assert code == 1, out
    paths = _lineage(out, "S1 on audience condition column address_line1:")
    source = "crm.crm_customers.address_line1 → stg_crm__customers.address_line1"
    assert paths and all(p.startswith(source) for p in paths)
    assert any(
        p.endswith(
            "profiles.address_line1 → aud_online_browsers_no_purchase_ads.address_line1"
            " → activation online_browsers_meta → destination meta_custom_audiences"
        )
        for p in paths
    )
    assert "policy no_sensitive_data_to_ad_platforms" in out
