"""Activation over several days of the whole pipeline: every destination ends holding the consented audience.

1. Sandbox: `cdp run` with no connection configured starts the stand-ins itself; their state
   files, and the last day's file exports (manifest and parts), must end equal to each audience's
   consented members, and nothing personal may appear in anything the run logged (`-v`: every
   logger), its summary and reports, or what it recorded about deliveries.
2. Faults: the same days against stand-ins run here, reached through `AIRFLOW_CONN_<ID>`, that
   throttle, fail, time out, lose answers and refuse some members (the webhook answers 422 for
   them, Meta counts them invalid). The run must end in the exact state: every consented member
   but the refused ones held, the refused ones recorded as rejections, every change applied once
   and as logged in `activation.sync_log`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import zlib
from collections import Counter
from datetime import date
from pathlib import Path

import psycopg2
import pytest
import yaml

from cdp.activation.config import load_activations
from cdp.activation.destinations.meta_custom_audiences import sandbox_audience_id
from cdp.activation.standins import Fault, MetaStandIn, WebhookStandIn, load_state
from cdp.activation.standins.meta import error_body
from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.e2e
START, END = "2026-11-01", "2026-11-03"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    generate_landing_zone(root, customers=300, days=3, start=date.fromisoformat(START), seed=5)
    return root


def cdp(*args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).parent / "cdp"
    return subprocess.run([str(cli), *args], capture_output=True, text=True, env=os.environ.copy(), timeout=900)


def query(url: str, sql: str, params=None) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def consented(url: str, audience: str, purpose: str, identity_sql: str) -> set[str]:
    """Members with the purpose's consent and an identity the destination takes, as the warehouse says."""
    sql = (
        f'select a.profile_id from audiences."{audience}" a join profiles.profiles p using (profile_id)'
        " join profiles.consent c using (profile_id)"
        f" where c.purpose = %s and c.status = 'granted' and ({identity_sql})"
    )
    return {pid for (pid,) in query(url, sql, (purpose,))}


def expected(url: str) -> dict[str, set[str]]:
    """Each activation's consented members with what it needs (an email; Meta: an email or a phone)."""
    activations = {a.name: a for a in load_activations()}
    meta_identity = "p.email is not null or p.phone is not null"
    return {
        name: consented(
            url,
            a.audience,
            a.purpose,
            meta_identity if a.destination == "meta_custom_audiences" else "p.email is not null",
        )
        for name, a in activations.items()
    }


def exported(folder: Path) -> list[dict]:
    """The rows of a complete file export: its manifest's parts, each checked against its entry."""
    manifest = json.loads((folder / "_manifest.json").read_text())
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["_manifest.json", *(p["name"] for p in manifest["parts"])]
    )
    rows = []
    for part in manifest["parts"]:
        body = (folder / part["name"]).read_bytes()
        assert (len(body), hashlib.sha256(body).hexdigest()) == (part["bytes"], part["sha256"])
        reader = csv.DictReader(io.StringIO(body.decode("utf-8")))
        assert reader.fieldnames == manifest["columns"]
        part_rows = list(reader)
        assert len(part_rows) == part["rows"]
        rows += part_rows
    assert len(rows) == manifest["rows"]
    return rows


def personal_values(url: str) -> list[str]:
    """Every generated person's email, phone and last name (long enough not to occur by chance)."""
    people = query(url, "select email, phone, last_name from profiles.profiles")
    assert len(people) > 100
    return [v for row in people for v in row if v and len(v) > 5]


def recorded(url: str) -> str:
    """What the run kept about deliveries and wrote as reports: no place for anything personal."""
    texts = [
        json.dumps(query(url, "select * from activation.sync_log"), default=str),
        json.dumps(query(url, "select * from activation.batch_log"), default=str),
        json.dumps(query(url, "select activation, profile_id, action, reason from activation.rejections")),
    ]
    reports = Path(os.environ["CDP_HOME"]) / "reports"
    texts += [path.read_text() for path in sorted(reports.glob("*.md"))]
    assert any("Run summary" in text for text in texts)  # the run's summary is among them
    return "\n".join(texts)


def refused(profile_id: str) -> bool:
    """The members the fault stand-ins refuse: a fixed quarter or so, whatever the day."""
    return zlib.crc32(profile_id.encode()) % 4 == 0


class RefusedRecipients(dict):
    """The webhook stand-in's `refuse` table, for every profile `refused` picks."""

    def get(self, profile_id, default=None):
        return (422, "unknown recipient") if refused(profile_id) else default


class RefusedRows(set):
    """The Meta stand-in's `invalid_extern_ids`, for every profile `refused` picks."""

    def __contains__(self, profile_id) -> bool:
        return isinstance(profile_id, str) and refused(profile_id)


def meta_members(state: dict, activation: str) -> set[str]:
    audience = state["audiences"][sandbox_audience_id(activation)]
    return {identity.removeprefix("EXTERN_ID:") for identity in audience["members"]}


def test_sandbox_days_leave_every_destination_with_the_consented_audience(warehouse_url, landing):
    result = cdp("-v", "run", "--landing", str(landing), "--start", START, "--end", END)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(sandbox)" in result.stdout + result.stderr  # the log says where records went

    want = expected(warehouse_url)
    sandbox = Path(os.environ["CDP_HOME"]) / "sandbox"
    hook = load_state(sandbox / "crm_webhook.json")
    assert set(hook["members"]["store_buyers_webhook"]) == want["store_buyers_webhook"] != set()
    meta = load_state(sandbox / "meta_ads.json")
    assert meta_members(meta, "online_browsers_meta") == want["online_browsers_meta"] != set()
    assert meta_members(meta, "store_buyers_meta_mirror") == want["store_buyers_meta_mirror"] != set()
    # Every change the webhook applied, applied once.
    assert set(hook["applied"]["store_buyers_webhook"].values()) == {1}

    exports = Path(os.environ["CDP_HOME"]) / "exports"
    for name in ("store_buyers_email_file", "online_browsers_ads_file"):
        assert sorted(p.name for p in (exports / name).iterdir()) == ["dt=2026-11-01", "dt=2026-11-02", "dt=2026-11-03"]
        # The last day's set is the consented audience, each row with the warehouse's values.
        rows = exported(exports / name / f"dt={END}")
        assert len(rows) == len({r["profile_id"] for r in rows})
        assert {r["profile_id"] for r in rows} == want[name] != set()
        emails = dict(query(warehouse_url, "select profile_id, email from profiles.profiles"))
        assert all(r["email"] == emails[r["profile_id"]] for r in rows)

    # Nothing personal in anything the run logged, reported or recorded: no address, phone or name.
    logged = result.stdout + result.stderr + recorded(warehouse_url)
    assert [v for v in personal_values(warehouse_url) if v in logged] == []


def test_faults_on_every_day_still_end_in_the_exact_state(warehouse_url, landing, tmp_path, monkeypatch):
    config = yaml.safe_load((REPO / "config" / "activations.yml").read_text())
    for entry in config["activations"]:
        entry["retry"] = {"base_seconds": 0.05, "max_seconds": 0.2, "timeout_seconds": 1.0}
        if entry["destination"] != "file_export":
            entry["batch_size"] = 40  # several requests a day, so faults land mid-run
        if entry["destination"] == "meta_custom_audiences":
            entry["batch_size"] = 10  # no more rows a request than Meta's invalid_entry_samples can name
        if entry["destination"] == "meta_custom_audiences":
            entry["options"] = {"audience_id": sandbox_audience_id(entry["name"])}
    activations_file = tmp_path / "activations.yml"
    activations_file.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("CDP_ACTIVATIONS_FILE", str(activations_file))

    with WebhookStandIn("hook-secret") as hook, MetaStandIn("meta-token") as meta:
        for entry in config["activations"]:
            if entry["destination"] == "meta_custom_audiences":
                meta.create_audience(entry["options"]["audience_id"], entry["name"])
        monkeypatch.setenv(
            "AIRFLOW_CONN_CRM_WEBHOOK", json.dumps({"conn_type": "https", "host": hook.url, "password": "hook-secret"})
        )
        monkeypatch.setenv(
            "AIRFLOW_CONN_META_ADS", json.dumps({"conn_type": "https", "host": meta.url, "password": "meta-token"})
        )
        hook.refuse = RefusedRecipients()
        meta.invalid_extern_ids = RefusedRows()
        hook.fail(
            Fault(429, {"error": "slow down"}, {"Retry-After": "1"}, skip=1),
            Fault(503, {"error": "unavailable"}, skip=2, times=2),
            Fault(status=None, delay=2.0, after_apply=True, skip=4),  # applied; the answer comes too late
        )
        meta.fail(
            Fault(400, error_body(80003, "There have been too many calls to this ad-account", 2446289), skip=1),
            Fault(400, error_body(613, "Calls to this api have exceeded the rate limit", 1487742), skip=3),
            Fault(500, error_body(2, "Service temporarily unavailable"), skip=5),
            Fault(400, error_body(2650, "first batch_seq was not detected", 1870147), path="usersreplace", skip=1),
        )
        result = cdp("run", "--landing", str(landing), "--start", START, "--end", END)
        assert result.returncode == 0, result.stdout + result.stderr
        assert [f for f in hook.faults + meta.faults if f.times] == []  # every fault was hit

        want = expected(warehouse_url)
        held = {"store_buyers_webhook": set(hook.members("store_buyers_webhook"))}
        for name in ("online_browsers_meta", "store_buyers_meta_mirror"):
            held[name] = {i.removeprefix("EXTERN_ID:") for i in meta.members(sandbox_audience_id(name))}
        rejections = query(warehouse_url, "select activation, profile_id, reason from activation.rejections")
        for name, members in held.items():
            refusals = {pid for pid in want[name] if refused(pid)}
            assert refusals, (name, len(want[name]))
            assert members == want[name] - refusals  # every consented member but the refused
            recorded_refusals = {pid for activation, pid, _ in rejections if activation == name}
            assert refusals <= recorded_refusals and all(refused(pid) for pid in recorded_refusals)
        reasons = {reason for _, _, reason in rejections}
        assert any("unknown recipient" in r for r in reasons) and "Meta invalid entry: invalid data" in reasons

        # Applied exactly once each, and exactly what the sync log says was sent.
        applied = Counter({tuple(k.split("|")): n for k, n in hook.applied("store_buyers_webhook").items()})
        logged = Counter(
            (run_id, "remove" if action == "remove" else "add", pid)
            for run_id, pid, action in query(
                warehouse_url,
                "select run_id, profile_id, action from activation.sync_log"
                " where activation = 'store_buyers_webhook' and outcome = 'sent'",
            )
        )
        assert set(applied.values()) == {1} and applied == logged
        history = meta.applied(sandbox_audience_id("online_browsers_meta"))
        sent = Counter(
            pid
            for (pid,) in query(
                warehouse_url,
                "select profile_id from activation.sync_log"
                " where activation = 'online_browsers_meta' and outcome = 'sent'",
            )
        )
        assert {identity.removeprefix("EXTERN_ID:"): len(changes) for identity, changes in history.items()} == sent
        # Every transient fault cost one retry, each said in the log: 429, two 503s and a timeout; 80003, 613 and 2.
        logged = result.stdout + result.stderr
        assert logged.count("; attempt ") == 7
        assert logged.count("starting the session again from batch 1") == 1  # the lost replace session
        assert query(warehouse_url, "select count(*) from activation.outbox")[0][0] == 0
        assert [v for v in personal_values(warehouse_url) if v in logged + recorded(warehouse_url)] == []
