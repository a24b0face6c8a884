"""Shared fixtures: one embedded Postgres for the session, a fresh database per test that asks."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
from cdp.warehouse.embedded import EmbeddedWarehouse

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def embedded_server(tmp_path_factory):
    """A real PostgreSQL server from the pip package, private to this test session."""
    server = EmbeddedWarehouse(tmp_path_factory.mktemp("embedded") / "warehouse")
    server.start()
    yield server
    server.destroy()


@pytest.fixture
def warehouse_url(embedded_server, monkeypatch, tmp_path):
    """A new, empty database; WAREHOUSE_URL and the state folder point at it for the test."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = psycopg2.connect(embedded_server.url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    url = embedded_server.url(name)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "state"))
    yield url
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


@pytest.fixture
def db(warehouse_url):
    conn = psycopg2.connect(warehouse_url)
    yield conn
    conn.close()
