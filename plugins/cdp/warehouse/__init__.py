"""Warehouse access: which Postgres to use, and connections to it.

Resolution order: `WAREHOUSE_URL`, then the Airflow connection `warehouse`
(`AIRFLOW_CONN_WAREHOUSE` or the Airflow metadata database, when running under Airflow),
then the embedded warehouse, started on demand.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from urllib.parse import quote, unquote, urlencode, urlsplit

import psycopg2
import psycopg2.extensions

from cdp.connections import lookup
from cdp.warehouse.embedded import EmbeddedWarehouse

CONNECTION_ID = "warehouse"


def _airflow_connection_url() -> str | None:
    """The `warehouse` connection as a libpq URL (its extras, such as sslmode, as parameters)."""
    conn = lookup(CONNECTION_ID)
    if conn is None or not conn.host:
        return None
    user = quote(conn.login or "", safe="") + (f":{quote(conn.password, safe='')}" if conn.password else "")
    port = f":{conn.port}" if conn.port else ""
    params = urlencode({k: v for k, v in conn.extra.items() if isinstance(v, str | int)})
    url = f"postgresql://{user + '@' if user else ''}{conn.host}{port}/{quote(conn.schema or 'postgres')}"
    return f"{url}?{params}" if params else url


def resolve_url() -> str:
    """The warehouse's SQLAlchemy/libpq URL; starts the embedded server when nothing else is set."""
    url = os.environ.get("WAREHOUSE_URL") or _airflow_connection_url()
    if url:
        return url.replace("postgres://", "postgresql://", 1)
    return EmbeddedWarehouse.default().start()


def url_parts(url: str) -> dict[str, str]:
    """host, port, user, password, dbname of a URL: what dbt's env-var profile reads."""
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": str(parts.port or 5432),
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": (parts.path or "/postgres").lstrip("/") or "postgres",
    }


def redact(url: str) -> str:
    """A URL safe to print: the password replaced."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


@contextlib.contextmanager
def connect(url: str | None = None) -> Iterator[psycopg2.extensions.connection]:
    """A connection in one transaction: committed when the block succeeds, rolled back otherwise."""
    conn = psycopg2.connect(url or resolve_url(), application_name="cdp")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


def query(sql: str, params: tuple | dict | None = None, url: str | None = None) -> list[tuple]:
    with connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []
