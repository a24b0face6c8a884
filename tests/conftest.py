"""Shared fixtures: one embedded Postgres for the session, a fresh database per test that asks."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
import pytest

from cdp.warehouse.embedded import EmbeddedWarehouse

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="cdp-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)  # (each session makes its own)

# Airflow reads these at import: a private home (SQLite metadata), no examples, our DAGs.
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"


ARTIFACTS = REPO / "test-artifacts"


def _keep_server_log(server: EmbeddedWarehouse, reason: str) -> None:
    """Copy the server's log where CI keeps artifacts, so a crash can be read after the run."""
    if server.logfile.exists():
        ARTIFACTS.mkdir(exist_ok=True)
        target = ARTIFACTS / f"embedded-server-{reason}.log"
        target.write_text(server.logfile.read_text(errors="replace"))
        print(f"embedded server log kept at {target}")


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """A real PostgreSQL server from the pip package, private to this test session."""
    server = EmbeddedWarehouse(tmp_path_factory.mktemp("embedded") / "warehouse")
    server.start()
    yield server
    if "PANIC" in (server.logfile.read_text(errors="replace") if server.logfile.exists() else ""):
        _keep_server_log(server, "panic")
    server.destroy()


@pytest.fixture
def warehouse_url(embedded_server, monkeypatch, tmp_path):
    """A new, empty database; WAREHOUSE_URL and the state folder point at it for the test."""
    embedded_server.start()  # idempotent; brings the server back if an earlier test brought it down
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(embedded_server.url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    url = embedded_server.url(name)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "state"))
    yield url
    try:
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
    except psycopg2.OperationalError:
        # The server went away during the test: keep its log and fail loudly, once.
        _keep_server_log(embedded_server, name)
        raise


@pytest.fixture
def db(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto in server mode: a real S3 HTTP endpoint on loopback, not in-process patching."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield endpoint
    server.terminate()
    server.wait(10)
