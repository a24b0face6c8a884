"""The platform's main job, one logical date at a time: ingest → identifiers → dbt build → gates → activation.

The Airflow DAGs run the same stage functions as tasks; the `cdp run` command runs them in
order for a date range. Every stage is idempotent for its date.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeVar

from cdp.activation.config import find_activation, load_activations
from cdp.activation.engine import ActivationResult, run_activation
from cdp.contracts import SOURCES
from cdp.governance import PolicyViolation, check_activation, load_manifest
from cdp.identity.normalize import normalize_identifiers
from cdp.ingest.loader import DropIncomplete, DropReport, ensure_tables, load_drop
from cdp.landing import LandingZone
from cdp.quality import GateFailed, GateResult, gate_log, run_checkpoint
from cdp.quality.audience_sizes import record_audience_sizes
from cdp.quality.identity_checks import identity_rule_variables
from cdp.transform import BuildFailed, BuildResult, build
from cdp.warehouse import connect

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_QUARANTINE_SHARE = 0.05
MIN_QUARANTINED_ROWS = 10  # a drop with fewer bad rows than this never fails the raw gate
MIN_REPEATED_EVENTS = 100  # nor one whose events repeat fewer event_ids (a small drop's one retry)


def days(start: date, end: date) -> list[date]:
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# -- stages (each one an Airflow task too) ----------------------------------------------------------


def drop_state(landing: LandingZone, source: str, dt: date) -> str:
    """'complete', 'incomplete' (files but no _SUCCESS yet) or 'missing' (nothing delivered)."""
    if landing.is_complete(source, dt):
        return "complete"
    return "incomplete" if landing.drop_files(source, dt) else "missing"


def wait_for_drop(landing: LandingZone, source: str, dt: date, timeout_s: float, poke_s: float = 5.0) -> str:
    deadline = time.monotonic() + timeout_s
    state = drop_state(landing, source, dt)
    while state == "incomplete" and time.monotonic() < deadline:
        time.sleep(min(poke_s, max(deadline - time.monotonic(), 0)))
        state = drop_state(landing, source, dt)
    return state


def ingest_source(landing_uri: str, source: str, dt: date) -> DropReport:
    with connect() as conn:
        return load_drop(conn, LandingZone.from_uri(landing_uri), source, dt)


def prepare_identifiers(dt: date | None = None) -> dict:
    with connect() as conn:
        return normalize_identifiers(conn, [dt] if dt else None)


def gate_variables(dt: date, max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE) -> dict[str, str]:
    """The values a checkpoint's queries may use ($run_date, ...)."""
    return {
        "run_date": dt.isoformat(),
        "max_quarantine_share": str(max_quarantine_share),
        "min_quarantined_rows": str(MIN_QUARANTINED_ROWS),
        "min_repeated_events": str(MIN_REPEATED_EVENTS),
        **identity_rule_variables(),
    }


def _recorded(dt: date, run: Callable[[], T]) -> T:
    """Run a stage that ends in, or contains, a gate, and keep the gate's outcome for the day's
    report (quality.gate_runs): the stage's own result when it is a gate's, a failed gate's always."""
    try:
        result = run()
    except GateFailed as exc:
        with connect() as conn:
            gate_log.record(conn, dt, exc.result)
        raise
    if isinstance(result, GateResult):
        with connect() as conn:
            gate_log.record(conn, dt, result)
    return result


def raw_gate(dt: date, max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE) -> GateResult:
    with connect() as conn:
        ensure_tables(conn)  # the gate reads every raw table, loaded today or not
    return _recorded(dt, lambda: run_checkpoint("raw_ingest", gate_variables(dt, max_quarantine_share)))


def build_warehouse(dt: date) -> BuildResult:
    return build(dt.isoformat())


def outputs_gate(dt: date) -> GateResult:
    with connect() as conn:
        record_audience_sizes(conn, dt)  # the history the day-over-day bounds compare with
    return _recorded(dt, lambda: run_checkpoint("warehouse_outputs", gate_variables(dt)))


def activate(name: str, dt: date, dry_run: bool = False) -> ActivationResult:
    activation = find_activation(name)
    check_activation(activation, load_manifest())  # a policy violation stops it before any record leaves

    def run() -> ActivationResult:
        with connect() as conn:
            return run_activation(conn, activation, dt, dry_run=dry_run)

    return _recorded(dt, run)  # a payload gate that stops a batch is kept for the day's report


# -- the whole job ---------------------------------------------------------------------------------


@dataclass
class DayResult:
    dt: date
    drops: list[DropReport] = field(default_factory=list)
    missing_drops: list[str] = field(default_factory=list)
    identifiers: dict = field(default_factory=dict)
    build: BuildResult | None = None
    gates: list[GateResult] = field(default_factory=list)
    activations: list[ActivationResult] = field(default_factory=list)
    error: str | None = None


def run_day(
    landing_uri: str,
    dt: date,
    sources: list[str] | None = None,
    dry_run: bool = False,
    wait_seconds: float = 0,
    max_quarantine_share: float = DEFAULT_MAX_QUARANTINE_SHARE,
) -> DayResult:
    landing = LandingZone.from_uri(landing_uri)
    landing.check()
    result = DayResult(dt)
    incomplete = []
    for source in sources or list(SOURCES):
        state = wait_for_drop(landing, source, dt, wait_seconds)
        if state == "missing":
            result.missing_drops.append(source)
        elif state == "incomplete":
            incomplete.append(source)
        else:
            result.drops.append(ingest_source(landing_uri, source, dt))
    if incomplete:
        message = ", ".join(f"{s} dt={dt}" for s in incomplete)
        raise DropIncomplete(f"no _SUCCESS marker after {wait_seconds:.0f}s for: {message}")
    try:
        result.gates.append(raw_gate(dt, max_quarantine_share))
        result.identifiers = prepare_identifiers(dt)
        result.build = build_warehouse(dt)
        result.gates.append(outputs_gate(dt))
    except GateFailed as exc:
        result.gates.append(exc.result)
        result.error = f"gate {exc.result.checkpoint} failed: activation skipped"
        return result
    except BuildFailed as exc:
        result.error = f"{exc}: activation skipped"
        return result
    blocked = []
    for activation in load_activations():
        try:
            result.activations.append(activate(activation.name, dt, dry_run=dry_run))
        except PolicyViolation as exc:  # nothing of it was sent; the other activations still run
            log.error("%s", exc)
            blocked.append(f"{activation.name} blocked by {', '.join(v.policy for v in exc.report.violations)}")
        except GateFailed as exc:  # its payload gate stopped a batch before it was sent
            result.gates.append(exc.result)
            blocked.append(f"{activation.name} stopped by gate {exc.result.checkpoint}")
    if blocked:
        result.error = "; ".join(blocked)
    return result


def run(landing_uri: str, start: date, end: date, **options) -> list[DayResult]:
    """Run every day of [start, end] in order; stops at the first day whose gates fail."""
    results = []
    for dt in days(start, end):
        log.info("=== %s ===", dt)
        day = run_day(landing_uri, dt, **options)
        results.append(day)
        if day.error:
            break
    return results
