"""Airflow connections read from the environment: the warehouse's, in either of Airflow's spellings."""

from __future__ import annotations

import json

import pytest

from cdp.warehouse import resolve_url

EXPECTED = "postgresql://cdp:p%40ss%2Fw%3Ard@db.example.com:6432/analytics?sslmode=require"


@pytest.mark.parametrize(
    "value",
    [
        "postgres://cdp:p%40ss%2Fw%3Ard@db.example.com:6432/analytics?sslmode=require",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": "db.example.com",
                "port": 6432,
                "login": "cdp",
                "password": "p@ss/w:rd",
                "schema": "analytics",
                "extra": {"sslmode": "require"},
            }
        ),
    ],
    ids=["uri", "json"],
)
def test_warehouse_connection_as_uri_or_json_gives_one_libpq_url(monkeypatch, value):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", value)
    assert resolve_url() == EXPECTED


def test_warehouse_url_wins_over_the_connection(monkeypatch):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://a@h/d")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgres://b@elsewhere/e")
    assert resolve_url() == "postgresql://a@h/d"


def test_connection_without_login_or_port(monkeypatch):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", '{"conn_type": "postgres", "host": "db", "schema": "cdp"}')
    assert resolve_url() == "postgresql://db/cdp"
