"""Airflow connections, as the platform reads them in and out of Airflow tasks.

Resolution: `AIRFLOW_CONN_<ID>` (URI or JSON, parsed as Airflow parses it, without importing
Airflow, which would take over a command's logging), then, inside an Airflow task only, the
connection from Airflow's secrets backends and metadata database. Outside a task, nothing touches
Airflow's metadata. Used for the warehouse connection and every destination instance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class ConnectionFields:
    """The fields of an Airflow connection this package reads."""

    conn_type: str | None = None
    host: str | None = None
    login: str | None = None
    password: str | None = None
    port: int | None = None
    schema: str | None = None
    extra: dict = field(default_factory=dict)


def parse_connection(value: str) -> ConnectionFields:
    """An `AIRFLOW_CONN_<ID>` value, JSON or URI, read as Airflow reads it."""
    if value.lstrip().startswith("{"):
        data = json.loads(value)
        extra = data.get("extra") or {}
        return ConnectionFields(
            conn_type=data.get("conn_type"),
            host=data.get("host"),
            login=data.get("login"),
            password=data.get("password"),
            port=data.get("port"),
            schema=data.get("schema"),
            extra=json.loads(extra) if isinstance(extra, str) else dict(extra),
        )
    parts = urlsplit(value)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    extra = json.loads(query["__extra__"]) if "__extra__" in query else query
    return ConnectionFields(
        conn_type=parts.scheme.replace("-", "_") or None,
        host=unquote(parts.hostname or "") or None,
        login=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        port=parts.port,
        schema=unquote(parts.path.lstrip("/")) or None,
        extra=extra,
    )


def lookup(connection_id: str) -> ConnectionFields | None:
    """The connection's fields, or None when no connection of that id is configured."""
    env = os.environ.get(f"AIRFLOW_CONN_{connection_id.upper()}")
    if env:
        return parse_connection(env)
    if not os.environ.get("AIRFLOW_CTX_DAG_ID"):
        return None  # not in an Airflow task: don't touch Airflow's metadata
    from airflow.sdk import Connection

    try:
        found = Connection.get(connection_id)
    except Exception:  # noqa: BLE001 - any lookup failure means "not configured"
        return None
    return ConnectionFields(
        found.conn_type, found.host, found.login, found.password, found.port, found.schema, found.extra_dejson
    )
