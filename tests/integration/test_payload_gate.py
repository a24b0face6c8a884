"""The payload gate: a real GX checkpoint over a batch of records in memory, just before sending.

Good batches pass; crafted ones (no consent, a plaintext or upper-case identifier where the
destination takes hashes, a duplicate profile) fail with the rule, the count and profile ids,
and no value of a record reaches the report, the stored results or Data Docs. In the sync
engine, a batch failing the gate stops the run before the stand-in sees a request, and no
sync state is committed.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import psycopg2
import pytest
import yaml
from activation_world import META as META_ENTRY
from activation_world import WEBHOOK, connection_env, seed

from cdp import settings
from cdp.activation.config import Activation, parse_activation
from cdp.activation.engine import run_activation
from cdp.activation.standins import MetaStandIn, WebhookStandIn
from cdp.quality import GateFailed, check_payload, read_consent

pytestmark = pytest.mark.integration
PLAIN_EMAIL = "jeanne.martin@example.org"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("CDP_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


META = Activation(
    name="browsers_meta",
    audience="aud_online_browsers_no_purchase_ads",
    destination="meta_custom_audiences",
    purpose="ad_targeting",
    fields={},
    identities={"EMAIL": "email", "PHONE": "phone", "EXTERN_ID": "profile_id"},
)
FILE = Activation(
    name="buyers_file",
    audience="aud_recent_store_buyers_email",
    destination="file_export",
    purpose="email_marketing",
    fields={"email": "email"},
)


def meta_batch() -> list[dict]:
    return [
        {"profile_id": "P1", "EMAIL": sha("a@example.org"), "PHONE": sha("33612345678"), "EXTERN_ID": "P1"},
        {"profile_id": "P2", "EMAIL": sha("b@example.org"), "PHONE": "", "EXTERN_ID": "P2"},  # no phone: left empty
    ]


def failed(exc: GateFailed) -> dict[str, list[str]]:
    return {o.description: o.samples for o in exc.result.failed}


def all_text(folder: Path) -> str:
    return "\n".join(p.read_text(errors="ignore") for p in folder.rglob("*") if p.is_file() and p.suffix != ".png")


def test_a_hashed_consented_batch_passes():
    result = check_payload(META, meta_batch(), {"P1": "granted", "P2": "granted"})
    assert result.success and result.subject == "browsers_meta"
    descriptions = {o.description for o in result.outcomes}
    assert "EMAIL is hashed as the destination requires (SHA-256, 64 lowercase hex)" in descriptions
    assert "PHONE is hashed as the destination requires (SHA-256, 64 lowercase hex)" in descriptions
    assert not any("EXTERN_ID" in d for d in descriptions)  # Meta takes it plain


def test_plain_or_upper_case_identifiers_fail_with_profile_ids_and_no_values(state):
    batch = meta_batch()
    batch[0]["EMAIL"] = PLAIN_EMAIL
    batch[1]["PHONE"] = sha("33698765432").upper()
    with pytest.raises(GateFailed) as stopped:
        check_payload(META, batch, {"P1": "granted", "P2": "granted"})
    assert failed(stopped.value) == {
        "EMAIL is hashed as the destination requires (SHA-256, 64 lowercase hex)": ["P1"],
        "PHONE is hashed as the destination requires (SHA-256, 64 lowercase hex)": ["P2"],
    }
    report = str(stopped.value)
    assert "1 unexpected row(s), e.g. profile_id P1" in report
    assert PLAIN_EMAIL not in report
    docs = Path(stopped.value.result.data_docs.removeprefix("file://")).parent
    assert docs.joinpath("index.html").is_file()
    assert PLAIN_EMAIL not in all_text(state)  # neither Data Docs nor the stored results keep it


def test_records_without_the_consent_fail_and_removals_need_none():
    batch = meta_batch()
    with pytest.raises(GateFailed) as stopped:
        check_payload(META, batch, {"P1": "denied"})  # P2 has no decision on record
    assert failed(stopped.value) == {"every record has the consent its purpose requires": ["P1", "P2"]}
    assert check_payload(META, batch, {}, require_consent=False).success


def test_a_profile_twice_in_a_batch_fails():
    batch = [*meta_batch(), {**meta_batch()[0], "EMAIL": sha("other@example.org")}]
    with pytest.raises(GateFailed) as stopped:
        check_payload(META, batch, {"P1": "granted", "P2": "granted"})
    assert failed(stopped.value) == {"no two records share a key (a profile is sent once per batch)": ["P1"]}


def test_a_destination_that_needs_plain_email_gets_no_hash_check():
    result = check_payload(FILE, [{"profile_id": "P1", "email": PLAIN_EMAIL}], {"P1": "granted"})
    assert result.success
    assert not any("hashed" in o.description for o in result.outcomes)


def test_every_run_stays_listed_in_data_docs(state):
    check_payload(META, meta_batch(), {"P1": "granted", "P2": "granted"})
    check_payload(FILE, [{"profile_id": "P1", "email": PLAIN_EMAIL}], {"P1": "granted"})
    index = (state / "data_docs" / "index.html").read_text()
    assert "browsers_meta" in index and "buyers_file" in index


def test_consent_is_read_for_the_purpose(db):
    with db.cursor() as cur:
        cur.execute("create schema profiles")
        cur.execute("create table profiles.consent (profile_id text, purpose text, status text)")
        cur.executemany(
            "insert into profiles.consent values (%s, %s, %s)",
            [
                ("P1", "ad_targeting", "granted"),
                ("P1", "email_marketing", "denied"),
                ("P2", "ad_targeting", "denied"),
                ("P3", "ad_targeting", "granted"),
            ],
        )
        assert read_consent(cur, "ad_targeting", ["P1", "P2", "P9"]) == {"P1": "granted", "P2": "denied"}


# -- in the sync engine: a failing gate sends nothing -------------------------------------------------

STATE_TABLES = ("sync_log", "outbox", "batch_log", "destination_state", "watermarks", "rejections")


def require_hashed(tmp_path: Path, monkeypatch, destination: str, key: str) -> None:
    """A policies file saying `destination` takes `key` hashed, when its module sends it plain."""
    document = yaml.safe_load(settings.policies_file().read_text())
    document["destinations"].setdefault(destination, {}).setdefault("hashed_identifiers", []).append(key)
    path = tmp_path / "policies.yml"
    path.write_text(yaml.safe_dump(document))
    monkeypatch.setenv("CDP_POLICIES_FILE", str(path))


def committed_state(warehouse_url: str) -> dict[str, int]:
    """Rows of each activation state table as another session sees them (what was committed)."""
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            counts = {}
            for table in STATE_TABLES:
                cur.execute(f"select count(*) from activation.{table}")
                counts[table] = cur.fetchone()[0]
            return counts
    finally:
        conn.close()


@pytest.mark.parametrize("destination", ["webhook", "meta_custom_audiences"])
def test_a_payload_failing_the_gate_stops_the_sync_before_any_request(
    db, warehouse_url, tmp_path, monkeypatch, destination
):
    seed(db, 6)
    if destination == "webhook":
        entry, key, server = WEBHOOK, "email", WebhookStandIn("hook-secret")
        fields = {"host": f"{server.url}/hooks", "password": "hook-secret"}
    else:
        entry, key, server = META_ENTRY, "EXTERN_ID", MetaStandIn("meta-token")
        server.create_audience(META_ENTRY["options"]["audience_id"], "test")
        fields = {"host": server.url, "password": "meta-token"}
    require_hashed(tmp_path, monkeypatch, destination, key)  # the module sends it plain: the gate must stop it
    with server:
        connection_env(monkeypatch, entry["connection"], conn_type="http", **fields)
        with pytest.raises(GateFailed) as stopped:
            run_activation(db, parse_activation(entry), date(2026, 11, 1))
        assert server.requests == []
    db.rollback()  # the failed task's transaction ends with its process
    (failure,) = stopped.value.result.failed
    assert failure.description == f"{key} is hashed as the destination requires (SHA-256, 64 lowercase hex)"
    assert failure.unexpected_count == 6 and failure.samples[0] == "P00001"
    assert "person1@example.com" not in str(stopped.value)
    assert committed_state(warehouse_url) == dict.fromkeys(STATE_TABLES, 0)
