"""The dbt manifest that labels and lineage are read from: the build's own when it is current, else a fresh parse.

`dbt parse` needs no warehouse: the profile's connection variables only have to exist, so
placeholders stand in for any that are unset while it runs.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from cdp import settings

log = logging.getLogger(__name__)
PROFILE_VARIABLES = ("CDP_PG_HOST", "CDP_PG_PORT", "CDP_PG_USER", "CDP_PG_DBNAME")
PROJECT_INPUTS = ("models", "macros", "dbt_project.yml")


def build_manifest_path() -> Path:
    """Where `dbt build` leaves its manifest (dbt's DBT_TARGET_PATH, relative to the project, or target/)."""
    project = settings.dbt_project_dir()
    return project / os.environ.get("DBT_TARGET_PATH", "target") / "manifest.json"


def _newest_input(project: Path) -> float:
    newest = 0.0
    for name in PROJECT_INPUTS:
        path = project / name
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def is_current(manifest: Path) -> bool:
    """The manifest exists and is newer than every model, macro and the project file."""
    return manifest.is_file() and manifest.stat().st_mtime >= _newest_input(settings.dbt_project_dir())


@contextmanager
def _placeholder_profile():
    missing = [name for name in PROFILE_VARIABLES if not os.environ.get(name)]
    os.environ.update({name: "5432" if name == "CDP_PG_PORT" else "unused" for name in missing})
    try:
        yield
    finally:
        for name in missing:
            os.environ.pop(name, None)


def parse_manifest() -> dict:
    """`dbt parse` of the project into a private folder (concurrent tasks never share one)."""
    from dbt.cli.main import dbtRunner

    project = str(settings.dbt_project_dir())
    work = settings.state_dir() / "governance"
    work.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix="dbt-parse-", dir=work))
    try:
        args = ["parse", "--project-dir", project, "--profiles-dir", project, "--target-path", str(target)]
        args += ["--log-path", str(target), "--quiet"]
        with _placeholder_profile():
            result = dbtRunner().invoke(args)
        if not result.success:
            raise RuntimeError(f"dbt parse failed: {result.exception or 'see the dbt log'}")
        with open(target / "manifest.json", encoding="utf-8") as fh:
            return json.load(fh)
    finally:
        shutil.rmtree(target, ignore_errors=True)


def load_manifest(path: Path | None = None) -> dict:
    """The manifest at `path`; without one, the build's when it is current, else a fresh parse."""
    if path is None:
        path = build_manifest_path()
        if not is_current(path):
            log.info("dbt manifest %s missing or older than the project: parsing the project", path)
            return parse_manifest()
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
