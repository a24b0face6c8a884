"""cdp_activate's shape, parsed only (nothing runs): pools, the dry_run parameter, the summary task."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "cdp_activate.py"))
    assert bag.import_errors == {}
    return bag.dags["cdp_activate"]


def configured() -> dict[str, str]:
    """activation name -> its connection, read from the activations file itself."""
    entries = yaml.safe_load((REPO / "config" / "activations.yml").read_text())["activations"]
    return {entry["name"]: entry["connection"] for entry in entries}


def test_each_activation_task_runs_in_its_destination_pool(dag):
    activations = configured()
    assert activations  # the file names activations, each with a connection
    tasks = {t.task_id.removeprefix("activate_"): t for t in dag.tasks if t.task_id.startswith("activate_")}
    assert set(tasks) == set(activations)
    assert {name: task.pool for name, task in tasks.items()} == {
        name: f"destination_{connection}" for name, connection in activations.items()
    }


def test_dry_run_is_a_typed_boolean_that_defaults_to_sending(dag):
    from airflow.exceptions import ParamValidationError

    param = dag.params.get_param("dry_run")
    assert param.schema["type"] == "boolean" and param.value is False
    for wrong in ("yes", 1, None):
        with pytest.raises(ParamValidationError):
            param.resolve(wrong)
    assert param.resolve(True) is True


def test_summarize_runs_after_every_activation_whatever_their_outcome(dag):
    summarize = dag.get_task("summarize")
    assert summarize.trigger_rule == "all_done"
    upstream = set(summarize.upstream_task_ids)
    assert upstream == {t.task_id for t in dag.tasks if t.task_id.startswith("activate_")} != set()
