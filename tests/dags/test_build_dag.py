"""cdp_build's two shapes: one `dbt build` task (the default), or a task per model from the manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cdp import settings


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """A manifest written by `dbt parse` of the project, as `make install` writes it."""
    from cdp.dbt_tasks import write_manifest

    return write_manifest(tmp_path_factory.mktemp("dbt") / "manifest.json")


def build(monkeypatch, mode: str | None, manifest: Path):
    from cdp.orchestration import build_dag

    if mode:
        monkeypatch.setenv("CDP_DBT_TASKS", mode)
    else:
        monkeypatch.delenv("CDP_DBT_TASKS", raising=False)
    monkeypatch.setenv("CDP_DBT_MANIFEST", str(manifest))
    return build_dag()


def test_default_is_one_dbt_build_task(monkeypatch, manifest):
    dag = build(monkeypatch, None, manifest)
    assert set(dag.task_ids) == {"dbt_build", "outputs_gate", "report_if_stopped"}
    assert "CDP_DBT_TASKS=models" in dag.doc_md


def test_per_model_tasks_render_from_the_manifest(monkeypatch, manifest):
    dag = build(monkeypatch, "models", manifest)
    models = {p.stem for p in (settings.dbt_project_dir() / "models").rglob("*.sql")}
    assert {f"dbt.{m}.run" for m in models} <= set(dag.task_ids)
    assert "dbt.dbt_producer_watcher" in dag.task_ids  # the one `dbt build` the model tasks follow
    tested = [m for m in models if f"dbt.{m}.test" in dag.task_ids]
    assert tested, "tests run after their model"
    for model in tested:
        assert f"dbt.{model}.run" in dag.get_task(f"dbt.{model}.test").upstream_task_ids
    assert dag.get_task("run_date").downstream_task_ids
    assert "outputs_gate" in dag.task_ids and "one task per model" in dag.doc_md


def test_missing_or_stale_manifest_falls_back_to_one_task(monkeypatch, manifest, tmp_path):
    dag = build(monkeypatch, "models", tmp_path / "missing.json")
    assert set(dag.task_ids) == {"dbt_build", "outputs_gate", "report_if_stopped"}
    assert "the manifest is missing" in dag.doc_md

    stale = tmp_path / "stale.json"
    stale.write_bytes(manifest.read_bytes())
    os.utime(stale, (0, 0))  # older than every model
    dag = build(monkeypatch, "models", stale)
    assert set(dag.task_ids) == {"dbt_build", "outputs_gate", "report_if_stopped"}
    assert "the manifest is stale" in dag.doc_md
