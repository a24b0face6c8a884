"""The sync engine: one plan-send-record loop for every destination.

For an activation and a logical date it reads the desired state (audience members with the
consent the purpose needs and the attributes required), compares it with what the
destination was last given (`activation.destination_state`), and records every record's fate
in `activation.sync_log`. State is committed only for what the destination accepted, so a
rerun with no change sends nothing and a failed run is picked up by the next one.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from cdp.activation.config import Activation
from cdp.activation.destinations import destination_for
from cdp.warehouse.bulk import copy_rows

log = logging.getLogger(__name__)

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
-- The newest logical date delivered per activation: an older date never overwrites a newer state.
create table if not exists activation.watermarks (
    activation text primary key,
    last_dt date not null
);
"""


@dataclass
class Plan:
    adds: list[str] = field(default_factory=list)
    updates: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    withheld: dict[str, str] = field(default_factory=dict)  # profile_id -> reason

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
    delivered_rows: int = 0
    dry_run: bool = False
    skipped: str | None = None  # why nothing was planned or sent

    def log_line(self) -> str:
        if self.skipped:
            return f"{self.activation} -> {self.destination}: skipped ({self.skipped})"
        p = self.plan
        mode = "DRY RUN " if self.dry_run else ""
        return (
            f"{mode}{self.activation} -> {self.destination}: {self.members} member(s); plan add {len(p.adds)}, "
            f"update {len(p.updates)}, remove {len(p.removes)}, withheld {len(p.withheld)}; sent {self.sent}, "
            f"rejected {self.rejected}"
        )


def _record_hash(record: dict) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _desired(cur, activation: Activation) -> tuple[dict[str, dict], dict[str, str], int]:
    """(eligible records by profile_id, withheld reasons by profile_id, member count)."""
    attributes = sorted(set(activation.fields.values()) | set(activation.required))
    select = ", ".join(f'p."{a}"' for a in attributes)
    cur.execute(
        f'select a.profile_id, c.status, {select} from audiences."{activation.audience}" a'
        " join profiles.profiles p on p.profile_id = a.profile_id"
        " left join profiles.consent c on c.profile_id = a.profile_id and c.purpose = %s",
        (activation.purpose,),
    )
    eligible, withheld, members = {}, {}, 0
    for profile_id, consent, *values in cur.fetchall():
        members += 1
        row = dict(zip(attributes, values, strict=True))
        if consent != "granted":
            withheld[profile_id] = f"no {activation.purpose} consent"
            continue
        missing = [a for a in activation.required if row.get(a) in (None, "")]
        if missing:
            withheld[profile_id] = f"missing {', '.join(missing)}"
            continue
        record = {"profile_id": profile_id}
        record.update({out: row[attr] for out, attr in activation.fields.items()})
        eligible[profile_id] = record
    return eligible, withheld, members


def plan_activation(cur, activation: Activation) -> tuple[Plan, dict[str, dict], int]:
    eligible, withheld, members = _desired(cur, activation)
    cur.execute(
        "select profile_id, record_hash from activation.destination_state where activation = %s",
        (activation.name,),
    )
    delivered = dict(cur.fetchall())
    plan = Plan(withheld=withheld)
    for profile_id, record in sorted(eligible.items()):
        if profile_id not in delivered:
            plan.adds.append(profile_id)
        elif delivered[profile_id] != _record_hash(record):
            plan.updates.append(profile_id)
    plan.removes = sorted(set(delivered) - set(eligible))
    return plan, eligible, members


def run_activation(conn, activation: Activation, dt: date, dry_run: bool = False) -> ActivationResult:
    """Plan, deliver and record one activation for logical date `dt`."""
    run_id = f"{activation.name}/{dt.isoformat()}"
    # Log times derive from the logical date, so re-running a date rewrites nothing.
    at = datetime.combine(dt + timedelta(days=1), time(0), tzinfo=UTC)
    with conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('cdp.activation.ddl'))")
        cur.execute(DDL)
        cur.execute("select last_dt from activation.watermarks where activation = %s", (activation.name,))
        row = cur.fetchone()
        if row and row[0] > dt:
            # A backfill rebuilds the warehouse's past; it does not roll the destination back.
            result = ActivationResult(activation.name, activation.destination, activation.audience, 0, Plan())
            result.skipped = f"the destination already holds the state of {row[0]}, newer than {dt}"
            log.info(result.log_line())
            return result
        plan, eligible, members = plan_activation(cur, activation)
        result = ActivationResult(activation.name, activation.destination, activation.audience, members, plan)
        if dry_run:
            result.dry_run = True
            log.info(result.log_line())
            return result
        destination = destination_for(activation.destination)(**activation.options)
        columns = ["profile_id", *activation.fields]
        outcome = destination.deliver(activation.name, dt, columns, list(eligible.values()))
        accepted, rejected = set(outcome["accepted"]), outcome["rejected"]
        result.delivered_rows = len(accepted)
        log_rows = []
        for action, ids in (("add", plan.adds), ("update", plan.updates)):
            for profile_id in ids:
                if profile_id in accepted:
                    log_rows.append((action, profile_id, "sent", None))
                else:
                    log_rows.append((action, profile_id, "rejected", rejected.get(profile_id, "not accepted")))
        log_rows += [("remove", profile_id, "sent", None) for profile_id in plan.removes]
        log_rows += [("add", profile_id, "withheld", reason) for profile_id, reason in sorted(plan.withheld.items())]
        result.sent = sum(1 for r in log_rows if r[2] == "sent")
        result.rejected = sum(1 for r in log_rows if r[2] == "rejected")
        _record(cur, activation, run_id, at, log_rows, {p: eligible[p] for p in accepted if p in eligible}, plan)
        cur.execute(
            "insert into activation.watermarks values (%s, %s) on conflict (activation)"
            " do update set last_dt = greatest(activation.watermarks.last_dt, excluded.last_dt)",
            (activation.name, dt),
        )
    log.info(result.log_line())
    return result


def _record(cur, activation: Activation, run_id: str, at: datetime, log_rows, accepted: dict, plan: Plan) -> None:
    cur.execute("create temp table new_sync_log (like activation.sync_log) on commit drop")
    copy_rows(
        cur,
        "new_sync_log",
        ("run_id", "activation", "destination", "audience", "profile_id", "action", "outcome", "reason", "at"),
        (
            (
                run_id,
                activation.name,
                activation.destination,
                activation.audience,
                pid,
                action,
                outcome,
                reason,
                at.isoformat(),
            )
            for action, pid, outcome, reason in log_rows
        ),
    )
    cur.execute("insert into activation.sync_log select * from new_sync_log on conflict do nothing")
    cur.execute("drop table new_sync_log")
    if plan.removes:
        cur.execute(
            "delete from activation.destination_state where activation = %s and profile_id = any(%s)",
            (activation.name, plan.removes),
        )
    changed = set(plan.adds) | set(plan.updates)
    cur.execute("create temp table new_state (like activation.destination_state) on commit drop")
    copy_rows(
        cur,
        "new_state",
        ("activation", "destination", "audience", "profile_id", "record_hash", "run_id"),
        (
            (activation.name, activation.destination, activation.audience, pid, _record_hash(rec), run_id)
            for pid, rec in sorted(accepted.items())
            if pid in changed
        ),
    )
    cur.execute(
        "insert into activation.destination_state select * from new_state on conflict (activation, profile_id)"
        " do update set record_hash = excluded.record_hash, run_id = excluded.run_id"
    )
    cur.execute("drop table new_state")
