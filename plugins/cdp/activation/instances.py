"""Destination instances: the Airflow connection an activation names, or the local sandbox.

Resolution: the Airflow connection (cdp.connections: the environment, then, inside an Airflow
task, Airflow's secrets backends and metadata database). Without one the
destination's sandbox is used: the file export writes to `.cdp/exports`, API destinations go to
a stand-in started on 127.0.0.1 for the run, whose membership is kept in `.cdp/sandbox/`. Set
`CDP_SANDBOX=off` where every destination must be real: a missing connection then stops the run.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

from cdp.activation.config import Activation
from cdp.activation.destinations.base import Destination, DestinationUnusable, Instance
from cdp.connections import ConnectionFields, lookup

log = logging.getLogger(__name__)


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
    conn = lookup(connection_id)
    if conn is None:
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
