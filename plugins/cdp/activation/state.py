"""The sync engine's tables in the warehouse, and every statement it runs on them.

- `destination_state`: what each destination holds now (profile, hash and payload of what it took).
- `sync_log`: every record's fate per run (sent, rejected, withheld, failed) with the reason.
- `outbox`: batches planned but not yet committed. They are written before sending, so a run
  killed at any point is resumed by the next one with the very same batches (same idempotency
  keys, same session), and nothing is sent twice.
- `batch_log`: every batch the destination answered, with what it reported (counts of invalid
  entries, file names, attempts).
- `rejections`: records the destination refused, with the hash of what was refused: they are
  not sent again until they change.
- `watermarks`: the newest logical date delivered; an older date never overwrites it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from cdp.activation.config import Activation
from cdp.activation.destinations.base import Batch, BatchResult, Item
from cdp.warehouse.bulk import copy_rows

DDL = """
create schema if not exists activation;
create table if not exists activation.destination_state (
    activation text not null,
    destination text not null,
    audience text not null,
    profile_id text not null,
    record_hash text not null,
    run_id text not null,
    primary key (activation, profile_id)
);
alter table activation.destination_state add column if not exists payload jsonb;
create table if not exists activation.sync_log (
    run_id text not null,
    activation text not null,
    destination text not null,
    audience text not null,
    profile_id text not null,
    action text not null,
    outcome text not null,
    reason text,
    at timestamptz not null,
    unique (run_id, activation, profile_id, action, outcome)
);
create table if not exists activation.watermarks (
    activation text primary key,
    last_dt date not null
);
create table if not exists activation.outbox (
    activation text not null,
    session_key text not null,
    seq int not null,
    batch_key text not null,
    last boolean not null,
    atomic boolean not null,
    mode text not null,
    attempt int not null,
    run_id text not null,
    dt date not null,
    action text not null,
    total int not null,
    items jsonb not null,
    accepted boolean not null default false,
    result jsonb,
    attempts int not null default 0,
    primary key (activation, session_key, seq)
);
create table if not exists activation.batch_log (
    activation text not null,
    batch_key text not null,
    session_key text not null,
    run_id text not null,
    destination text not null,
    action text not null,
    seq int not null,
    records int not null,
    sent int not null,
    rejected int not null,
    failed int not null,
    attempts int not null,
    detail jsonb not null,
    at timestamptz not null,
    primary key (activation, batch_key)
);
create table if not exists activation.rejections (
    activation text not null,
    profile_id text not null,
    action text not null,
    record_hash text not null,
    reason text not null,
    run_id text not null,
    primary key (activation, profile_id)
);
"""


@dataclass
class Session:
    """Batches delivered together: one request (incremental), or a file set or a replace session (atomic)."""

    key: str
    mode: str
    atomic: bool
    attempt: int
    batches: list[Batch]
    accepted: dict[int, tuple[BatchResult, int]] = field(default_factory=dict)  # seq -> (answer, attempts)


def digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def session_id(session_key: str, attempt: int) -> int:
    """A positive int64 unique per session attempt (Meta wants session ids unique per ad account)."""
    return int(hashlib.sha256(f"{session_key}/{attempt}".encode()).hexdigest()[:15], 16)


def logged_at(dt: date) -> datetime:
    """Log times derive from the logical date, so re-running a date rewrites nothing."""
    return datetime.combine(dt + timedelta(days=1), time(0), tzinfo=UTC)


def ensure_schema(cur) -> None:
    cur.execute("select pg_advisory_xact_lock(hashtext('cdp.activation.ddl'))")
    cur.execute(DDL)


@contextlib.contextmanager
def exclusive(conn, name: str) -> Iterator[None]:
    """One run of an activation at a time (a session lock: it outlives the per-batch commits)."""
    with conn.cursor() as cur:
        cur.execute("select pg_try_advisory_lock(hashtext('cdp.activation'), hashtext(%s))", (name,))
        if not cur.fetchone()[0]:
            raise RuntimeError(f"activation {name} is already running elsewhere")
    try:
        yield
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(hashtext('cdp.activation'), hashtext(%s))", (name,))
        conn.commit()


def watermark(cur, name: str) -> date | None:
    cur.execute("select last_dt from activation.watermarks where activation = %s", (name,))
    row = cur.fetchone()
    return row[0] if row else None


def advance_watermark(cur, name: str, dt: date) -> None:
    cur.execute(
        "insert into activation.watermarks values (%s, %s) on conflict (activation)"
        " do update set last_dt = greatest(activation.watermarks.last_dt, excluded.last_dt)",
        (name, dt),
    )


def audience_rows(cur, activation: Activation) -> Iterator[tuple[str, str | None, dict]]:
    """(profile_id, consent status for the purpose, attribute -> value) for every audience member."""
    attributes = activation.attributes
    select = "".join(f', p."{a}"' for a in attributes)
    cur.execute(
        f'select a.profile_id, c.status{select} from audiences."{activation.audience}" a'
        " join profiles.profiles p on p.profile_id = a.profile_id"
        " left join profiles.consent c on c.profile_id = a.profile_id and c.purpose = %s",
        (activation.purpose,),
    )
    for profile_id, consent, *values in cur.fetchall():
        yield profile_id, consent, dict(zip(attributes, values, strict=True))


def delivered(cur, name: str) -> dict[str, tuple[str, dict]]:
    """profile_id -> (record hash, payload) the destination holds."""
    cur.execute(
        "select profile_id, record_hash, coalesce(payload, '{}'::jsonb) from activation.destination_state"
        " where activation = %s",
        (name,),
    )
    return {pid: (record_hash, payload) for pid, record_hash, payload in cur.fetchall()}


def rejections(cur, name: str) -> dict[str, tuple[str, str]]:
    """profile_id -> (action, record hash) the destination refused."""
    cur.execute("select profile_id, action, record_hash from activation.rejections where activation = %s", (name,))
    return {pid: (action, record_hash) for pid, action, record_hash in cur.fetchall()}


def completed(cur, name: str, session_key: str) -> bool:
    cur.execute("select 1 from activation.batch_log where activation = %s and session_key = %s", (name, session_key))
    return cur.fetchone() is not None


def delivered_count(cur, name: str) -> int:
    cur.execute("select count(*) from activation.destination_state where activation = %s", (name,))
    return cur.fetchone()[0]


# -- the outbox ------------------------------------------------------------------------------------


def write_outbox(cur, name: str, sessions: list[Session]) -> None:
    rows = [
        (
            name,
            s.key,
            str(b.seq),
            b.key,
            _bool(b.last),
            _bool(s.atomic),
            s.mode,
            str(s.attempt),
            b.run_id,
            b.dt.isoformat(),
            b.action,
            str(b.total),
            json.dumps([[i.profile_id, i.record_hash, i.action, i.payload, i.previous] for i in b.items]),
        )
        for s in sessions
        for b in s.batches
    ]
    columns = ("activation", "session_key", "seq", "batch_key", "last", "atomic", "mode", "attempt", "run_id")
    copy_rows(cur, "activation.outbox", (*columns, "dt", "action", "total", "items"), rows)


def pending(cur, activation: Activation) -> list[Session]:
    """Sessions written by earlier runs and not yet committed, in the order they were planned."""
    cur.execute(
        "select session_key, seq, batch_key, last, atomic, mode, attempt, run_id, dt, action, total, items,"
        " accepted, result, attempts from activation.outbox where activation = %s order by dt, run_id, seq",
        (activation.name,),
    )
    sessions: dict[str, Session] = {}
    for (
        key,
        seq,
        batch_key,
        last,
        atomic,
        mode,
        attempt,
        run_id,
        dt,
        action,
        total,
        items,
        ok,
        result,
        tries,
    ) in cur.fetchall():
        session = sessions.setdefault(key, Session(key, mode, atomic, attempt, []))
        batch = Batch(
            activation=activation.name,
            audience=activation.audience,
            run_id=run_id,
            dt=dt,
            key=batch_key,
            action=action,
            seq=seq,
            last=last,
            session_id=session_id(key, attempt) if atomic else 0,
            # An outbox written before updates carried their previous payload has four fields per item.
            items=tuple(Item(pid, h, payload, act, *previous) for pid, h, act, payload, *previous in items),
            total=total,
        )
        session.batches.append(batch)
        if ok:
            answer = BatchResult(result.get("rejected", {}), result.get("failed", {}), result.get("detail", {}))
            session.accepted[seq] = (answer, tries)
    return list(sessions.values())


def mark_accepted(cur, name: str, session: Session, batch: Batch, result: BatchResult, attempts: int) -> None:
    answer = {"rejected": result.rejected, "failed": result.failed, "detail": result.detail}
    cur.execute(
        "update activation.outbox set accepted = true, result = %s, attempts = %s"
        " where activation = %s and session_key = %s and seq = %s",
        (json.dumps(answer), attempts, name, session.key, batch.seq),
    )


def restart(cur, name: str, session: Session) -> Session:
    """The same session content under a new session id, every batch to be sent again."""
    attempt = session.attempt + 1
    cur.execute(
        "update activation.outbox set attempt = %s, accepted = false, result = null, attempts = 0"
        " where activation = %s and session_key = %s",
        (attempt, name, session.key),
    )
    new_id = session_id(session.key, attempt)
    batches = [replace(b, session_id=new_id) for b in session.batches]
    return Session(session.key, session.mode, session.atomic, attempt, batches)


def drop_session(cur, name: str, session_key: str) -> None:
    cur.execute("delete from activation.outbox where activation = %s and session_key = %s", (name, session_key))


# -- committing ------------------------------------------------------------------------------------


@dataclass
class Changes:
    """What one commit writes: log rows, state changes, rejections and batch receipts."""

    logs: list[tuple[str, date, str, str, str, str | None]] = field(default_factory=list)  # run, dt, pid, action, ...
    upserts: list[tuple[Item, str]] = field(default_factory=list)  # (item, run_id)
    deletes: list[str] = field(default_factory=list)
    rejected: list[tuple[Item, str, str]] = field(default_factory=list)  # (item, reason, run_id)
    cleared: list[str] = field(default_factory=list)  # profiles whose earlier rejection no longer holds
    batches: list[tuple[Batch, str, BatchResult, int, dict]] = field(default_factory=list)

    def log(self, run_id: str, dt: date, profile_id: str, action: str, outcome: str, reason: str | None = None):
        self.logs.append((run_id, dt, profile_id, action, outcome, reason))


def write_logs(cur, activation: Activation, rows: Iterable[tuple[str, date, str, str, str, str | None]]) -> None:
    cur.execute("create temp table new_sync_log (like activation.sync_log) on commit drop")
    copy_rows(
        cur,
        "new_sync_log",
        ("run_id", "activation", "destination", "audience", "profile_id", "action", "outcome", "reason", "at"),
        (
            (run_id, activation.name, activation.destination, activation.audience, pid, action, outcome, reason)
            + (logged_at(dt).isoformat(),)
            for run_id, dt, pid, action, outcome, reason in rows
        ),
    )
    cur.execute("insert into activation.sync_log select * from new_sync_log on conflict do nothing")
    cur.execute("drop table new_sync_log")


def apply(cur, activation: Activation, changes: Changes) -> None:
    name = activation.name
    write_logs(cur, activation, changes.logs)
    if changes.deletes:
        cur.execute(
            "delete from activation.destination_state where activation = %s and profile_id = any(%s)",
            (name, changes.deletes),
        )
    if changes.upserts:
        cur.execute("create temp table new_state (like activation.destination_state) on commit drop")
        copy_rows(
            cur,
            "new_state",
            ("activation", "destination", "audience", "profile_id", "record_hash", "run_id", "payload"),
            (
                (name, activation.destination, activation.audience, i.profile_id, i.record_hash, run_id)
                + (json.dumps(i.payload),)
                for i, run_id in changes.upserts
            ),
        )
        cur.execute(
            "insert into activation.destination_state select * from new_state on conflict (activation, profile_id)"
            " do update set record_hash = excluded.record_hash, run_id = excluded.run_id, payload = excluded.payload"
        )
        cur.execute("drop table new_state")
    if changes.cleared:
        cur.execute(
            "delete from activation.rejections where activation = %s and profile_id = any(%s)",
            (name, changes.cleared),
        )
    for item, reason, run_id in changes.rejected:
        cur.execute(
            "insert into activation.rejections values (%s, %s, %s, %s, %s, %s) on conflict (activation, profile_id)"
            " do update set action = excluded.action, record_hash = excluded.record_hash,"
            " reason = excluded.reason, run_id = excluded.run_id",
            (name, item.profile_id, item.action, item.record_hash, reason, run_id),
        )
    for batch, session_key, result, attempts, counts in changes.batches:
        cur.execute(
            "insert into activation.batch_log values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (activation, batch_key) do nothing",
            (
                name,
                batch.key,
                session_key,
                batch.run_id,
                activation.destination,
                batch.action,
                batch.seq,
                len(batch.items),
                counts["sent"],
                counts["rejected"],
                counts["failed"],
                attempts,
                json.dumps(result.detail, sort_keys=True),
                logged_at(batch.dt),
            ),
        )


def _bool(value: bool) -> str:
    return "t" if value else "f"
