"""Reference for activation sending: the destination's own capacity, without the sync engine.

For each activation, as many records as the run gave its destination are prepared beforehand
(payloads built by the destination module, cut into its batch size), then posted by the
destination's own client, batch after batch, to a fresh sandbox of that destination: the
stand-in server for an API destination, a scratch folder for the file export. No planning,
outbox, retries, state or sync log: what is left is the request, the stand-in's handling and
the client's serialization. The sandbox's state lives in a scratch state folder, so the run's
own sandbox destinations are left as they were.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from cdp.activation import state
from cdp.activation.config import Activation
from cdp.activation.destinations import destination_for
from cdp.activation.destinations.base import Batch, Item
from cdp.activation.engine import chunks, record_hash

ACTIONS = {"full": "full", "mirror": "replace", "incremental": "add"}


@contextmanager
def _state_folder(folder: Path):
    """Point the project's state folder (and so every sandbox) somewhere else for the block."""
    saved = os.environ.get("CDP_HOME")
    os.environ["CDP_HOME"] = str(folder)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CDP_HOME", None)
        else:
            os.environ["CDP_HOME"] = saved


def prepared_batches(conn, activation: Activation, dt: date, records: int) -> list[Batch]:
    """`records` eligible members as the destination's payloads, cut into its batches."""
    destination = destination_for(activation.destination)
    items = []
    with conn.cursor() as cur:
        for profile_id, consent, row in state.audience_rows(cur, activation):
            if len(items) >= records:
                break
            payload, _ = destination.payload(activation, profile_id, row) if consent == "granted" else (None, None)
            if payload is not None:
                items.append(Item(profile_id, record_hash(payload), payload, "add"))
    size = min(destination.max_batch_size, activation.batch_size or destination.max_batch_size)
    parts = [part for part in chunks(items, size) if part]
    run_id = f"bench/{activation.name}/{dt.isoformat()}"
    return [
        Batch(
            activation.name,
            activation.audience,
            run_id,
            dt,
            f"{run_id}/{seq}",
            ACTIONS[activation.mode],
            seq,
            seq == len(parts),
            1,
            tuple(part),
            len(items),
        )  # fmt: skip
        for seq, part in enumerate(parts, start=1)
    ]


def post_batches(activation: Activation, batches: list[Batch], scratch: Path) -> float:
    """Seconds for the destination's client to deliver the prepared batches to a fresh sandbox."""
    if not batches:
        return 0.0
    cls = destination_for(activation.destination)
    with _state_folder(scratch), cls.sandbox(activation) as instance:
        destination = cls(activation, instance)
        try:
            start = time.perf_counter()
            answers = [(batch, destination.send(batch)) for batch in batches]
            destination.complete(answers)
            return time.perf_counter() - start
        finally:
            destination.close()
