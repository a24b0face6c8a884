"""The sync engine: one plan-send-record loop for every destination.

For an activation and a logical date it reads the desired state (audience members with the
consent the purpose needs, the attributes required and an identity the destination can use),
compares it with what the destination holds (`activation.destination_state`) and plans adds,
updates and removes. A dry run stops there. Otherwise the plan is cut into batches of the
destination's size, the records pass the payload gate as they will leave (consent, hashing,
no duplicates; a failure stops the run before anything is sent), and the batches are written
to `activation.outbox` first. Each batch is then sent with retries (exponential backoff, never
sooner than `Retry-After` or the vendor's throttling asks) and committed on its own: the
records the destination took go into the state, every record's fate into
`activation.sync_log`. A file set or a replace session is committed whole when complete. The
next run resends whatever is still in the outbox, unchanged, before planning again, so a run
killed anywhere delivers every record exactly once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import TypeVar

from cdp.activation import state
from cdp.activation.config import Activation
from cdp.activation.destinations import destination_for
from cdp.activation.destinations.base import (
    Batch,
    BatchRejected,
    BatchResult,
    DeliveryError,
    Destination,
    Item,
    Retryable,
    SessionLost,
    Throttled,
)
from cdp.activation.instances import open_instance

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_SESSION_RESTARTS = 2


@dataclass
class Plan:
    adds: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    withheld: dict[str, str] = field(default_factory=dict)  # profile_id -> reason
    unchanged: int = 0
    held_back: int = 0  # refused before with the same content: not sent again until it changes

    @property
    def changes(self) -> int:
        return len(self.adds) + len(self.updates) + len(self.removes)


@dataclass
class ActivationResult:
    activation: str
    destination: str
    audience: str
    members: int
    plan: Plan
    sent: int = 0
    rejected: int = 0
    failed: int = 0
    delivered_rows: int = 0  # what the destination holds after the run
    dry_run: bool = False
    skipped: str | None = None  # why nothing was planned or sent
    error: str | None = None  # why the run stopped before sending everything
    batches: int = 0
    retries: int = 0
    throttled: int = 0
    invalid_entries: int = 0  # rows the destination counted as invalid
    resumed: int = 0  # batches left by an earlier run, sent first
    sandbox: bool = False

    def log_line(self) -> str:
        if self.skipped:
            return f"{self.activation} -> {self.destination}: skipped ({self.skipped})"
        p = self.plan
        mode = "DRY RUN " if self.dry_run else ""
        where = " (sandbox)" if self.sandbox else ""
        line = (
            f"{mode}{self.activation} -> {self.destination}{where}: {self.members} member(s); plan add {len(p.adds)},"
            f" update {len(p.updates)}, remove {len(p.removes)}, withheld {len(p.withheld)},"
            f" unchanged {p.unchanged}, held back {p.held_back}; sent {self.sent}, rejected {self.rejected},"
            f" failed {self.failed} in {self.batches} batch(es), {self.retries} retries ({self.throttled} throttled)"
        )
        if self.resumed:
            line += f", {self.resumed} batch(es) resumed from an earlier run"
        if self.invalid_entries:
            line += f", {self.invalid_entries} invalid entries counted by the destination"
        if self.error:
            line += f"; STOPPED: {self.error}"
        return line

    def counts(self) -> dict:
        """What a task returns to XCom: counts only, never identifiers."""
        p = self.plan
        return {
            "activation": self.activation,
            "destination": self.destination,
            "members": self.members,
            "adds": len(p.adds),
            "updates": len(p.updates),
            "removes": len(p.removes),
            "withheld": len(p.withheld),
            "sent": self.sent,
            "rejected": self.rejected,
            "failed": self.failed,
            "batches": self.batches,
            "retries": self.retries,
            "throttled": self.throttled,  # of the retries, those the destination asked for by throttling
            "invalid_entries": self.invalid_entries,
            "resumed": self.resumed,
            "delivered_rows": self.delivered_rows,
            "dry_run": self.dry_run,
            "skipped": self.skipped,
            "error": self.error,
        }


class GaveUp(DeliveryError):
    """Retries exhausted, or the destination asks for a longer pause than a run waits."""


class StopRun(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def record_hash(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def make_plan(
    desired: dict[str, tuple[str, dict]],
    delivered: dict[str, tuple[str, dict]],
    refused: dict[str, tuple[str, str]],
    withheld: dict[str, str],
) -> Plan:
    plan = Plan(withheld=withheld)
    for profile_id, (wanted, _) in sorted(desired.items()):
        held = delivered.get(profile_id)
        if held and held[0] == wanted:
            plan.unchanged += 1
            continue
        action = "update" if held else "add"
        if refused.get(profile_id) == (action, wanted):
            plan.held_back += 1
            continue
        (plan.updates if held else plan.adds).append(profile_id)
    for profile_id in sorted(set(delivered) - set(desired)):
        if refused.get(profile_id) == ("remove", delivered[profile_id][0]):
            plan.held_back += 1
            continue
        plan.removes.append(profile_id)
    return plan


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


class Sync:
    """One activation run for one logical date."""

    def __init__(self, conn, activation: Activation, dt: date):
        self.conn = conn
        self.activation = activation
        self.dt = dt
        self.cls: type[Destination] = destination_for(activation.destination)
        self.run_id = f"{activation.name}/{dt.isoformat()}"
        self.batch_size = min(self.cls.max_batch_size, activation.batch_size or self.cls.max_batch_size)
        self.result = ActivationResult(activation.name, activation.destination, activation.audience, 0, Plan())
        self.outcomes: set[tuple[str, str]] = set()  # (profile_id, action) with a fate logged in this run

    # -- planning ----------------------------------------------------------------------------------

    def desired(self, cur) -> tuple[dict[str, tuple[str, dict]], dict[str, str]]:
        """(profile_id -> (hash, payload) of every member to deliver, profile_id -> why withheld)."""
        a = self.activation
        eligible, withheld, members = {}, {}, 0
        for profile_id, consent, row in state.audience_rows(cur, a):
            members += 1
            if consent != "granted":
                withheld[profile_id] = f"no {a.purpose} consent"
                continue
            missing = [attr for attr in a.required if row.get(attr) in (None, "")]
            if missing:
                withheld[profile_id] = f"missing {', '.join(missing)}"
                continue
            payload, reason = self.cls.payload(a, profile_id, row)
            if payload is None:
                withheld[profile_id] = reason or "nothing to send"
                continue
            eligible[profile_id] = (record_hash(payload), payload)
        self.result.members = members
        return eligible, withheld

    def sessions(self, cur, plan: Plan, desired: dict, delivered: dict) -> list[state.Session]:
        """The plan cut into batches: one session per request, or one whole session (file set, replace)."""
        a = self.activation

        def items(ids: list[str], action: str, source: dict) -> list[Item]:
            # An update carries what was delivered before, for destinations that must take the old value out.
            before = delivered if action == "update" else {}
            return [Item(pid, source[pid][0], source[pid][1], action, before.get(pid, (None, None))[1]) for pid in ids]

        changes = {
            "remove": items(plan.removes, "remove", delivered),
            "update": items(plan.updates, "update", desired),
            "add": items(plan.adds, "add", desired),
        }
        atomic = a.mode in self.cls.atomic_modes and not (a.mode == "mirror" and not desired)
        if not atomic:  # removes first, then updates, then adds; every request committed on its own
            groups = [(action, chunk) for action, group in changes.items() for chunk in chunks(group, self.batch_size)]
            groups = [(action, chunk) for action, chunk in groups if chunk]
            sessions = []
            for seq, (action, chunk) in enumerate(groups, start=1):
                key = state.digest(a.name, self.run_id, action, [(i.profile_id, i.record_hash) for i in chunk])
                batch = self._batch(key, action, seq, seq == len(groups), 0, chunk, len(chunk))
                sessions.append(state.Session(key, a.mode, False, 1, [batch]))
            return sessions
        if a.mode == "incremental":  # a change file: only what changed, each row with its action
            whole = sorted((i for group in changes.values() for i in group), key=lambda i: i.profile_id)
            if not whole:
                return []
        else:  # full and mirror: the whole audience
            if a.mode == "mirror" and not plan.changes:
                return []
            # Every member the destination should hold: the changes and the unchanged; not what is held back.
            changed = {i.profile_id: i.action for group in changes.values() for i in group}
            whole = [
                Item(pid, h, payload, changed.get(pid, "keep"))
                for pid, (h, payload) in sorted(desired.items())
                if pid in changed or delivered.get(pid, ("",))[0] == h
            ]
        session_key = state.digest(a.name, self.run_id, a.mode, [(i.profile_id, i.record_hash) for i in whole])
        if a.mode == "full" and state.completed(cur, a.name, session_key):
            return []  # this very file set was delivered already
        action = {"full": "full", "mirror": "replace", "incremental": "changes"}[a.mode]
        parts = chunks(whole, self.batch_size)
        sid = state.session_id(session_key, 1)
        batches = [
            self._batch(f"{session_key}-{seq}", action, seq, seq == len(parts), sid, part, len(whole))
            for seq, part in enumerate(parts, start=1)
        ]
        return [state.Session(session_key, a.mode, True, 1, batches)]

    def _batch(self, key: str, action: str, seq: int, last: bool, sid: int, items: list[Item], total: int) -> Batch:
        a = self.activation
        return Batch(a.name, a.audience, self.run_id, self.dt, key, action, seq, last, sid, tuple(items), total)

    def plan(self, cur) -> tuple[Plan, dict, dict, dict]:
        desired, withheld = self.desired(cur)
        delivered = state.delivered(cur, self.activation.name)
        plan = make_plan(desired, delivered, state.rejections(cur, self.activation.name), withheld)
        return plan, desired, delivered, withheld

    # -- the run -----------------------------------------------------------------------------------

    def run(self, dry_run: bool = False) -> ActivationResult:
        a, result = self.activation, self.result
        result.dry_run = dry_run
        with self.conn.cursor() as cur:
            state.ensure_schema(cur)
        self.conn.commit()
        if not a.due(self.dt):
            result.skipped = f"not scheduled on {self.dt} ({a.schedule})"
            log.info(result.log_line())
            return result
        with state.exclusive(self.conn, a.name), self.conn.cursor() as cur:
            newest = state.watermark(cur, a.name)
            if newest and newest > self.dt:
                # A backfill rebuilds the warehouse's past; it does not roll the destination back.
                result.skipped = f"the destination already holds the state of {newest}, newer than {self.dt}"
                log.info(result.log_line())
                return result
            plan, desired, delivered, withheld = self.plan(cur)
            result.plan = plan
            earlier = state.pending(cur, a)
            sessions = self.sessions(cur, plan, desired, delivered)
            result.delivered_rows = len(delivered)
            if dry_run:
                self.conn.rollback()
                waiting = sum(len(s.batches) - len(s.accepted) for s in earlier)
                planned = sum(len(s.batches) for s in sessions)
                log.info(f"{result.log_line()}; would send {planned} batch(es), {waiting} left by an earlier run")
                return result
            withheld_rows = [(self.run_id, self.dt, pid, "add", "withheld", why) for pid, why in withheld.items()]
            state.write_logs(cur, a, withheld_rows)
            if not earlier and not sessions:
                state.advance_watermark(cur, a.name, self.dt)
                self.conn.commit()
                log.info(result.log_line())
                return result
            self.conn.commit()
            self._deliver_all(cur, earlier, sessions)
            result.delivered_rows = state.delivered_count(cur, a.name)
            self.conn.commit()
        log.info(result.log_line())
        return result

    def _deliver_all(self, cur, earlier: list[state.Session], sessions: list[state.Session]) -> None:
        a, result = self.activation, self.result
        destination = None
        try:
            with open_instance(a, self.cls) as instance:
                result.sandbox = instance.sandbox
                destination = self.cls(a, instance)
                if earlier:
                    result.resumed = sum(len(s.batches) - len(s.accepted) for s in earlier)
                    log.info("%s: resuming %d batch(es) left by an earlier run", a.name, result.resumed)
                    for session in earlier:
                        self._deliver(cur, destination, session)
                    plan, desired, delivered, _ = self.plan(cur)  # the plan left after them
                    result.plan = plan
                    sessions = self.sessions(cur, plan, desired, delivered)
                self._gate(cur, sessions)
                state.write_outbox(cur, a.name, sessions)
                state.advance_watermark(cur, a.name, self.dt)
                self.conn.commit()
                log.info(
                    "%s: %d change(s) in %d batch(es) of at most %d",
                    a.name,
                    result.plan.changes,
                    sum(len(s.batches) for s in sessions),
                    self.batch_size,
                )
                for session in sessions:
                    self._deliver(cur, destination, session)
        except (StopRun, DeliveryError) as stop:
            self.conn.rollback()
            result.error = stop.reason
            self._log_unsent(cur, stop.reason)
            log.error("%s: stopped: %s", a.name, stop.reason)
        finally:
            if destination is not None:
                destination.close()

    def _gate(self, cur, sessions: list[state.Session]) -> None:
        """The payload gate over every record about to be sent, as it will leave: raises GateFailed before any is."""
        from cdp.quality import check_payload, read_consent

        items = [i for s in sessions for b in s.batches for i in b.items if i.action != "remove"]
        if not items:
            return
        consent = read_consent(cur, self.activation.purpose, [i.profile_id for i in items])
        check_payload(self.activation, [{**i.payload, "profile_id": i.profile_id} for i in items], consent)

    # -- sending -----------------------------------------------------------------------------------

    def _send(self, destination: Destination, batch: Batch) -> tuple[BatchResult, int]:
        """One batch, retried on transient failures; (the answer, attempts)."""
        answer, attempts = self._retrying(f"batch {batch.seq}", lambda: destination.send(batch))
        self.result.batches += 1
        return answer, attempts

    def _retrying(self, what: str, call: Callable[[], T]) -> tuple[T, int]:
        """`call()` retried on transient failures (backoff, `Retry-After` honoured); (its answer, attempts)."""
        policy, result = self.activation.retry, self.result
        attempt = 0
        while True:
            attempt += 1
            try:
                return call(), attempt
            except Retryable as exc:
                result.throttled += isinstance(exc, Throttled)
                if attempt >= policy.attempts:
                    raise GaveUp(f"{exc.reason} (gave up after {attempt} attempts)") from None
                wait = policy.delay(attempt, exc.retry_after, jitter=random.uniform(0.5, 1.0))
                if wait > policy.max_wait_seconds:
                    raise GaveUp(f"{exc.reason}; the destination asks to wait {wait:.0f}s") from None
                log.warning(
                    "%s %s: %s; attempt %d of %d in %.1fs",
                    self.activation.name,
                    what,
                    exc.reason,
                    attempt + 1,
                    policy.attempts,
                    wait,
                )
                result.retries += 1
                time.sleep(wait)

    def _deliver(self, cur, destination: Destination, session: state.Session) -> None:
        if not session.atomic:
            batch = session.batches[0]
            try:
                answer, attempts = self._send(destination, batch)
            except BatchRejected as exc:
                answer, attempts = BatchResult(rejected={i.profile_id: exc.reason for i in batch.items}), 1
            except DeliveryError as exc:
                self._fail(cur, batch.items, batch, exc.reason)
                raise StopRun(exc.reason) from None
            self._commit(cur, session, [(batch, answer, attempts)], replace_all=False)
            return
        restarts = 0
        while True:
            try:
                for batch in session.batches:
                    if batch.seq in session.accepted:
                        continue
                    answer, attempts = self._send(destination, batch)
                    session.accepted[batch.seq] = (answer, attempts)
                    state.mark_accepted(cur, self.activation.name, session, batch, answer, attempts)
                    self.conn.commit()
                break
            except SessionLost as exc:
                restarts += 1
                if restarts > MAX_SESSION_RESTARTS:
                    self._fail(cur, [i for b in session.batches for i in b.items], session.batches[0], exc.reason)
                    raise StopRun(exc.reason) from None
                log.warning("%s: %s; starting the session again from batch 1", self.activation.name, exc.reason)
                session = state.restart(cur, self.activation.name, session)
                self.conn.commit()
            except DeliveryError as exc:  # refused, failing or unusable: the session waits in the outbox
                unsent = [i for b in session.batches if b.seq not in session.accepted for i in b.items]
                self._fail(cur, unsent, session.batches[0], exc.reason)
                raise StopRun(exc.reason) from None
        results = [(b, *session.accepted[b.seq]) for b in session.batches]
        try:  # a file set's manifest: its parts are in the outbox as accepted, so the next run only completes it
            detail, _ = self._retrying("completing", lambda: destination.complete([(b, a) for b, a, _ in results]))
        except DeliveryError as exc:
            self._fail(cur, [i for b in session.batches for i in b.items], session.batches[0], exc.reason)
            raise StopRun(exc.reason) from None
        if detail:
            last, answer, attempts = results[-1]
            results[-1] = (last, BatchResult(answer.rejected, answer.failed, {**answer.detail, **detail}), attempts)
        self._commit(cur, session, results, replace_all=session.mode in ("full", "mirror"))

    # -- recording ---------------------------------------------------------------------------------

    def _outcome(self, changes: state.Changes, batch: Batch, item: Item, outcome: str, reason: str | None = None):
        # An unchanged member sent again in a whole set and refused now is, for the log, an add that failed.
        action = "add" if item.action == "keep" else item.action
        changes.log(batch.run_id, batch.dt, item.profile_id, action, outcome, reason)
        self.outcomes.add((item.profile_id, action))
        if outcome == "sent":
            self.result.sent += 1
        elif outcome == "rejected":
            self.result.rejected += 1
        elif outcome == "failed":
            self.result.failed += 1

    def _commit(self, cur, session: state.Session, results, replace_all: bool) -> None:
        """Record the destination's answers and the state it now holds, and drop the session from the outbox."""
        changes = state.Changes()
        kept = set()
        for batch, answer, attempts in results:
            counts = {"sent": 0, "rejected": 0, "failed": 0}
            for item in batch.items:
                pid = item.profile_id
                if pid in answer.rejected:
                    self._outcome(changes, batch, item, "rejected", answer.rejected[pid])
                    refused = replace(item, action="add") if item.action == "keep" else item
                    changes.rejected.append((refused, answer.rejected[pid], batch.run_id))
                    counts["rejected"] += 1
                elif pid in answer.failed:
                    self._outcome(changes, batch, item, "failed", answer.failed[pid])
                    counts["failed"] += 1
                else:
                    if item.action == "remove":
                        changes.deletes.append(pid)
                    else:
                        kept.add(pid)
                        if item.action != "keep":
                            changes.upserts.append((item, batch.run_id))
                    if item.action != "keep":
                        self._outcome(changes, batch, item, "sent")
                        changes.cleared.append(pid)
                    counts["sent"] += 1
            self.result.invalid_entries += int(answer.detail.get("num_invalid_entries") or 0)
            changes.batches.append((batch, session.key, answer, attempts, counts))
        if replace_all:
            # The destination now holds exactly what this session delivered.
            first = results[0][0]
            for pid in sorted(set(state.delivered(cur, self.activation.name)) - kept):
                changes.deletes.append(pid)
                if (pid, "update") not in self.outcomes and (pid, "add") not in self.outcomes:
                    removed = Item(pid, "", {}, "remove")
                    self._outcome(changes, first, removed, "sent")
                    changes.cleared.append(pid)
        state.drop_session(cur, self.activation.name, session.key)
        self._apply(cur, changes)

    def _apply(self, cur, changes: state.Changes) -> None:
        state.apply(cur, self.activation, changes)
        self.conn.commit()

    def _fail(self, cur, items: list[Item], batch: Batch, reason: str) -> None:
        """Log records as failed; their batches stay in the outbox for the next run."""
        self.conn.rollback()
        changes = state.Changes()
        for item in items:
            if item.action != "keep":  # an unchanged member re-sent in a whole set is no change that failed
                self._outcome(changes, batch, item, "failed", reason)
        self._apply(cur, changes)

    def _log_unsent(self, cur, reason: str) -> None:
        """Every planned record without a fate in this run is logged as failed: not sent, kept for the next run."""
        changes = state.Changes()
        plan = self.result.plan
        planned = [(pid, "add") for pid in plan.adds] + [(pid, "update") for pid in plan.updates]
        planned += [(pid, "remove") for pid in plan.removes]
        for pid, action in planned:
            if (pid, action) not in self.outcomes:
                changes.log(self.run_id, self.dt, pid, action, "failed", f"not sent: the run stopped ({reason})")
                self.result.failed += 1
        self._apply(cur, changes)


def run_activation(conn, activation: Activation, dt: date, dry_run: bool = False) -> ActivationResult:
    """Plan, deliver and record one activation for logical date `dt`."""
    return Sync(conn, activation, dt).run(dry_run=dry_run)
