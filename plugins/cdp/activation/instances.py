"""Destination instances: the Airflow connection an activation names, or the local sandbox.

Resolution: `AIRFLOW_CONN_<ID>` (URI or JSON, as Airflow reads it), then, inside an Airflow
task, the connection from Airflow's secrets backends and metadata database. Without either the
destination's sandbox is used: the file export writes to `.cdp/exports`, API destinations go to
a stand-in started on 127.0.0.1 for the run, whose membership is kept in `.cdp/sandbox/`. Set
`CDP_SANDBOX=off` where every destination must be real: a missing connection then stops the run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from cdp.activation.config import Activation
from cdp.activation.destinations.base import Destination, DestinationUnusable, Instance

log = logging.getLogger(__name__)


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
    """An `AIRFLOW_CONN_<ID>` value, JSON or URI, read as Airflow reads it (without importing Airflow,
    which would take over the command's logging)."""
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


def _url(conn: ConnectionFields) -> str | None:
    if conn.extra.get("url"):
        return str(conn.extra["url"])
    host = conn.host or ""
    path = f"/{conn.schema}" if conn.schema else ""
    if "://" in host:
        return host.rstrip("/") + path
    if not host:
        return None
    scheme = conn.conn_type if conn.conn_type in ("http", "https") else "https"
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}{path}"


def configured(connection_id: str) -> Instance | None:
    """The connection's fields, or None when no connection of that id is configured."""
    env = os.environ.get(f"AIRFLOW_CONN_{connection_id.upper()}")
    if env:
        conn = parse_connection(env)
    elif os.environ.get("AIRFLOW_CTX_DAG_ID"):  # in an Airflow task: its secrets backends and metadata
        from airflow.sdk import Connection

        try:
            found = Connection.get(connection_id)
        except Exception:  # noqa: BLE001 - any lookup failure means "not configured"
            return None
        conn = ConnectionFields(
            found.conn_type, found.host, found.login, found.password, found.port, found.schema, found.extra_dejson
        )
    else:
        return None
    return Instance(connection_id, url=_url(conn), login=conn.login, password=conn.password, extra=conn.extra)


@contextlib.contextmanager
def open_instance(activation: Activation, destination: type[Destination]) -> Iterator[Instance]:
    instance = configured(activation.connection_id)
    if instance is not None:
        yield instance
        return
    if os.environ.get("CDP_SANDBOX", "auto").lower() in ("off", "0", "false", "no"):
        raise DestinationUnusable(f"no connection {activation.connection_id} configured and CDP_SANDBOX is off")
    log.info(
        "%s: no connection %s configured: delivering to the local sandbox %s",
        activation.name,
        activation.connection_id,
        destination.type_name,
    )
    with destination.sandbox(activation) as sandbox:
        yield sandbox
