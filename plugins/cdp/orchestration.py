"""The Airflow DAGs, built here and exposed by the thin files in `dags/`.

Tasks call the same stage functions as the `cdp run` command (cdp.pipeline); heavy imports
happen inside tasks, never at parse time. The DAGs are linked by assets:
cdp_ingest → (raw data ready) → cdp_build → (audiences ready) → cdp_activate.
"""

from __future__ import annotations

import logging
import os
from datetime import date, datetime, timedelta

from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

from cdp import settings
from cdp.contracts import SOURCES
from cdp.drop_sensor import DropSensor

log = logging.getLogger(__name__)
RAW_READY = Asset(name="cdp_raw_data_ready")
AUDIENCES_READY = Asset(name="cdp_audiences_ready")
SOURCE_NAMES = tuple(SOURCES)  # the contract's sources (a module of plain data: cheap at parse time)

DEFAULT_ARGS = {
    "owner": "data-engineering",
    "retries": 2,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(hours=2),
}
START = datetime(2026, 11, 1)
DAILY = CronDataIntervalTimetable("0 0 * * *", timezone="UTC")
DROP_TIMEOUT_MINUTES = int(os.environ.get("CDP_DROP_TIMEOUT_MINUTES", "360"))


def default_landing_uri() -> str:
    return os.environ.get("CDP_LANDING_URI", str(settings.state_dir() / "landing"))


def _run_date(params: dict) -> date:
    """The business date a run works on: the `dt` param, the triggering asset's date, or the logical date."""
    context = get_current_context()
    if params.get("dt"):
        return date.fromisoformat(params["dt"])
    # Several upstream runs (a backfill) can start one asset-triggered run: it works on the latest date.
    dates = [
        event.extra["dt"]
        for events in (context.get("triggering_asset_events") or {}).values()
        for event in events
        if event.extra.get("dt")
    ]
    if dates:
        return date.fromisoformat(max(dates))
    logical = context.get("logical_date") or context.get("data_interval_start")
    if logical is None:
        raise ValueError("no date to work on: set the dt param")
    return logical.date()


def _fail_on_gate(run_gate):
    """Run a gate; a failure stops the chain without retries (retrying bad data or a forbidden use fixes nothing)."""
    from airflow.sdk.exceptions import AirflowFailException

    from cdp.governance import PolicyViolation
    from cdp.quality import GateFailed

    try:
        return run_gate()
    except (GateFailed, PolicyViolation) as exc:
        raise AirflowFailException(str(exc)) from None


INGEST_DOC = """
### cdp_ingest — landing zone to `raw.*`

Daily, one pair of tasks per source: **wait_<source>** waits (rescheduling, no worker slot held)
for the drop's `_SUCCESS` marker, **load_<source>** loads the drop idempotently for `dt`
(re-running replaces that day's rows). Then **prepare_identifiers** normalizes new identifier
values and **raw_gate** runs the `raw_ingest` Great Expectations checkpoint, which updates
the *raw data ready* asset that starts `cdp_build`.

**Reads** the landing zone (`landing_uri` param, default `$CDP_LANDING_URI`).
**Writes** `raw.<source>`, `ingest.load_report`, `ingest.quarantined_rows`, `prep.identifiers`.

**Triage**
- *wait_<source> timed out*: the source system did not deliver `<source>/dt=<date>/_SUCCESS`.
  Ask its owner; re-run the task once the marker exists.
- *load_<source> failed*: read the task log's load report; rejected files and quarantined rows
  are in `ingest.load_report` / `ingest.quarantined_rows` with their reasons.
- *raw_gate failed* (no retry): a drop is clearly broken (too many quarantined rows, duplicate keys).
  Fix or re-deliver the drop, then clear the load task.
"""


def _landing_uri(params: dict) -> str:
    return params["landing_uri"] or default_landing_uri()


@task
def load_drop(source_name: str) -> dict:
    from cdp.pipeline import ingest_source

    params = get_current_context()["params"]
    report = ingest_source(_landing_uri(params), source_name, _run_date(params))
    for line in report.log_lines():
        print(line)
    return {
        "rows_read": report.rows_read,
        "rows_loaded": report.rows_loaded,
        "rows_quarantined": report.rows_quarantined,
        "files_rejected": report.files_rejected,
    }


@task(trigger_rule="none_failed")
def prepare_identifiers() -> dict:
    from cdp.pipeline import prepare_identifiers as prepare

    return prepare(_run_date(get_current_context()["params"]))


@task(outlets=[RAW_READY])
def raw_gate() -> dict:
    from cdp.pipeline import raw_gate as gate

    context = get_current_context()
    params = context["params"]
    dt = _run_date(params)
    result = _fail_on_gate(lambda: gate(dt, params["max_quarantine_share"]))
    context["outlet_events"][RAW_READY].extra = {"dt": dt.isoformat()}
    return {"checkpoint": result.checkpoint, "success": result.success}


def ingest_dag():
    @dag(
        dag_id="cdp_ingest",
        # A run covers one day and starts when it is over: the run at midnight loads yesterday's drop
        # (logical date = the day's start), and a backfill's runs are one per business day.
        schedule=DAILY,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["cdp", "ingest"],
        doc_md=INGEST_DOC,
        params={
            "landing_uri": Param(None, type=["null", "string"], description="Landing zone override"),
            "dt": Param(
                None,
                type=["null", "string"],
                format="date",
                description="Business date YYYY-MM-DD (default: logical date)",
            ),
            "sources": Param(
                list(SOURCE_NAMES),
                type="array",
                items={"type": "string", "enum": list(SOURCE_NAMES)},
                minItems=1,
                uniqueItems=True,
                description="Sources to load",
            ),
            "drop_timeout_minutes": Param(
                DROP_TIMEOUT_MINUTES, type="integer", minimum=0, description="How long to wait for a drop's _SUCCESS"
            ),
            "max_quarantine_share": Param(
                0.05,
                type="number",
                minimum=0,
                maximum=1,
                description="Raw gate: largest share of a file's rows quarantined",
            ),
        },
    )
    def cdp_ingest():
        identifiers = prepare_identifiers()
        for source in SOURCE_NAMES:
            waited = DropSensor(task_id=f"wait_{source}", source=source, run_date=_run_date, landing_uri=_landing_uri)
            loaded = load_drop.override(task_id=f"load_{source}")(source)
            waited >> loaded >> identifiers
        identifiers >> raw_gate() >> report_if_stopped("raw_gate", "cdp_ingest")

    return cdp_ingest()


BUILD_DOC = """
### cdp_build — `raw.*` to identity, profiles and audiences

Runs when *raw data ready* updates (or by hand with a `dt`). **run_date** resolves the business
date; dbt builds every model for it, each model's tests right after the model; **outputs_gate**
runs the `warehouse_outputs` checkpoint and updates *audiences ready*, which starts `cdp_activate`.

**Writes** `staging.*`, `identity.*`, `profiles.*`, `audiences.*`.

**Triage**
- *a dbt task failed*: the log names the failing model or test; `dbt build --select <model>`
  with `dbt_project/profiles.yml` reproduces it locally.
- *outputs_gate failed* (no retry): the report names the expectation and the count; nothing is
  activated until the data is fixed and the build re-run.
"""

BUILD_DOC_MODELS = """
**dbt tasks**: the **dbt** group has one task per model (Cosmos, rendered from
`dbt_project/target/airflow/manifest.json`). Its **dbt_producer_watcher** task runs one `dbt build`;
each model's task follows that model and its tests. Clear a failed model's task to re-run it alone.
"""

BUILD_DOC_SINGLE = """
**dbt tasks**: one **dbt_build** task runs `dbt build` for the whole project ({reason}).
For a task per model with its tests, set `CDP_DBT_TASKS=models` (Cosmos; it needs the manifest
that `make install` and `make up` write with `dbt parse`).
"""


@task
def dbt_build() -> dict:
    from cdp.pipeline import build_warehouse

    result = build_warehouse(_run_date(get_current_context()["params"]))
    return {"models": result.models, "tests": result.tests}


@task(outlets=[AUDIENCES_READY])
def outputs_gate() -> dict:
    from cdp.pipeline import outputs_gate as gate

    context = get_current_context()
    dt = _run_date(context["params"])
    result = _fail_on_gate(lambda: gate(dt))
    context["outlet_events"][AUDIENCES_READY].extra = {"dt": dt.isoformat()}
    return {"checkpoint": result.checkpoint, "success": result.success}


@task
def run_date() -> str:
    """The business date of this build; the dbt tasks read it as dbt's `run_date` var."""
    return _run_date(get_current_context()["params"]).isoformat()


def build_dag():
    from cdp.dbt_tasks import dbt_task_group, per_model_tasks

    per_model, reason = per_model_tasks()
    note = BUILD_DOC_MODELS if per_model else BUILD_DOC_SINGLE.format(reason=reason)

    @dag(
        dag_id="cdp_build",
        schedule=[RAW_READY],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["cdp", "dbt"],
        doc_md=BUILD_DOC + note,
        params={"dt": Param(None, type=["null", "string"], format="date", description="Business date YYYY-MM-DD")},
    )
    def cdp_build():
        if per_model:
            gated = run_date() >> dbt_task_group("{{ ti.xcom_pull(task_ids='run_date') }}") >> outputs_gate()
        else:
            gated = dbt_build() >> outputs_gate()
        gated >> report_if_stopped("outputs_gate", "cdp_build")

    return cdp_build()


ACTIVATE_DOC = """
### cdp_activate — audiences to destinations

Runs when *audiences ready* updates. One **activate_<name>** task per activation in
`config/activations.yml`, in the Airflow pool of its destination instance
(`destination_<connection id>`, created by `make up`; a task whose pool is missing stays
queued): it plans adds, updates and removes against what the destination holds, withholds
members without consent or identity, sends in batches of the destination's size with retries
(backoff, `Retry-After` and vendor throttling honoured), and records every record's fate in
`activation.sync_log`. **summarize** puts every activation's counts in the run's XCom.
Set `dry_run` to see the plans without sending. Without a connection, API destinations go to
a local sandbox stand-in (set `CDP_SANDBOX=off` to forbid that).

**Triage**
- *activate_<name> failed, "violates ... policy"* (no retry): the activation would send data its
  labels forbid for its destination; the log gives the policy, the labels and their lineage
  (`cdp governance check` shows the same). Change the activation, the labels or the policy.
- *activate_<name> failed, "gate activation_payload"* (no retry): a batch lacked consent, an
  unhashed identifier or a duplicate key; the report names the rule, the count and profile ids.
- *activate_<name> failed*: the log shows the plan, each retry and the destination's error.
  State is committed per accepted batch and unsent batches stay in `activation.outbox`, so the
  task's retry (or clearing it) resumes where it stopped and sends nothing twice.
- *records rejected*: `activation.sync_log` has the destination's reason; they are not sent
  again until they change (`activation.rejections`; delete a row there to force a resend).
- *a throttled destination*: lower the pool's slots or the activation's `batch_size`.
"""


@task
def activate(name: str) -> dict:
    from cdp.pipeline import activate as run_activation

    params = get_current_context()["params"]
    # A policy violation or a failed payload gate: no retry, nothing of the batch was sent.
    result = _fail_on_gate(lambda: run_activation(name, _run_date(params), dry_run=params["dry_run"]))
    print(result.log_line())
    if result.error:
        # Accepted batches are committed: Airflow's retry resumes with what is left.
        raise RuntimeError(f"activation {name} stopped: {result.error}")
    return result.counts()


def _write_day_report(dt: date, activations: dict[str, dict | None] | None, stopped: str | None) -> None:
    """The day's report in the task log, line by line, and as `airflow-<dt>.md` in the reports folder."""
    from cdp.summary import day_report, write_report

    report = day_report(dt, activations, stopped)
    # Logged line by line (not printed): the task log then shows it in order, not after the return value.
    for line in report.splitlines():
        log.info("%s", line)
    log.info("summary written to %s", write_report(f"airflow-{dt}", f"Daily run summary for {dt}", report))


@task(trigger_rule="all_done")
def report_if_stopped(gate_task: str, dag_label: str) -> None:
    """The chain's last step in this DAG: when the gate did not pass, the day's report says how far
    the day got (loads, gates, what failed) and the run fails; otherwise the chain goes on."""
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    if context["ti"].xcom_pull(task_ids=gate_task):
        log.info("%s passed: the day's report is written by cdp_activate at the end of the chain", gate_task)
        return
    stopped = f"{dag_label} stopped: {gate_task} or a task before it did not succeed (see their logs)"
    _write_day_report(_run_date(context["params"]), None, stopped)
    raise AirflowFailException(stopped)


@task(trigger_rule="all_done")
def summarize(names: list[str]) -> dict:
    """Every activation's counts (never identifiers), as the run's summary in XCom; the day's report.

    The run fails when an activation did not finish (blocked by a policy or a gate, or stopped by its
    destination), after the report and the summary are written."""
    from airflow.sdk.exceptions import AirflowFailException

    context = get_current_context()
    ti = context["ti"]
    results = {name: ti.xcom_pull(task_ids=f"activate_{name}") for name in names}
    dt = _run_date(context["params"])
    _write_day_report(dt, results, None)
    done = [c for c in results.values() if c]
    summary = {
        "activations": results,
        "sent": sum(c["sent"] for c in done),
        "rejected": sum(c["rejected"] for c in done),
        "failed": sum(c["failed"] for c in done),
        "withheld": sum(c["withheld"] for c in done),
        "not_finished": sorted(name for name, counts in results.items() if not counts),
    }
    if summary["not_finished"]:
        ti.xcom_push("return_value", summary)
        raise AirflowFailException(f"activations not finished: {', '.join(summary['not_finished'])}")
    return summary


def activate_dag():
    from cdp.activation.config import load_activations

    # The configuration is the DAG's shape: one task per activation, each in its destination's
    # pool (a mapped task cannot take a pool per instance). Reading one small YAML file is cheap.
    activations = load_activations()

    @dag(
        dag_id="cdp_activate",
        schedule=[AUDIENCES_READY],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["cdp", "activation"],
        doc_md=ACTIVATE_DOC,
        params={
            "dt": Param(None, type=["null", "string"], format="date", description="Business date YYYY-MM-DD"),
            "dry_run": Param(False, type="boolean", description="Plan only; send nothing"),
        },
    )
    def cdp_activate():
        runs = [activate.override(task_id=f"activate_{a.name}", pool=a.pool)(a.name) for a in activations]
        runs >> summarize([a.name for a in activations])

    return cdp_activate()
