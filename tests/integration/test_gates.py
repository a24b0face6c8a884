"""Quality gates as real Great Expectations checkpoints: pass on clean data, fail on crafted broken data."""

from __future__ import annotations

from datetime import date

import pytest

from cdp.ingest.loader import ensure_tables, load_drop
from cdp.landing import LandingZone
from cdp.pipeline import gate_variables, outputs_gate, raw_gate
from cdp.quality import GateFailed, run_checkpoint
from cdp.sample_data import generate_landing_zone

pytestmark = pytest.mark.integration
DT = date(2026, 11, 1)
POS_HEADER = "transaction_id,store_id,transacted_at,total_amount,currency"


def load_all(db, root, dt=DT):
    landing = LandingZone.from_uri(str(root))
    for source in landing.sources_present():
        if landing.is_complete(source, dt):
            load_drop(db, landing, source, dt)
    db.commit()


def write(root, source, name, text, dt=DT):
    folder = root / source / f"dt={dt.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    (folder / "_SUCCESS").touch()


def failed_descriptions(result) -> set[str]:
    return {o.description for o in result.failed}


def test_raw_gate_passes_on_generated_data(db, tmp_path):
    generate_landing_zone(tmp_path, customers=200, days=1, start=DT, seed=5)
    load_all(db, tmp_path)
    result = raw_gate(DT)
    assert result.success and len(result.outcomes) >= 10
    assert result.data_docs and result.data_docs.endswith("index.html")


def test_raw_gate_names_duplicate_keys_bad_currency_and_a_dead_drop(db, tmp_path):
    rows = ["T-1,S-1,2026-11-01T10:00:00Z,5.00,EUR", "T-1,S-1,2026-11-01T11:00:00Z,6.00,euro"] * 3
    write(tmp_path, "pos_transactions", "p.csv", POS_HEADER + "\n" + "\n".join(rows) + "\n")
    write(tmp_path, "loyalty_members", "l.csv", "loyalty_id,updated_at\n" + "L-1,never\n" * 12)
    load_all(db, tmp_path)
    with pytest.raises(GateFailed) as failure:
        raw_gate(DT)
    failed = failed_descriptions(failure.value.result)
    assert "transaction_id is unique within a till drop" in failed
    assert "currency is an ISO-4217 code in at least 99% of the drop's rows" in failed
    assert "a delivered drop loads rows (not every file rejected, not every row quarantined)" in failed
    assert "no drop has more than the allowed share of its rows quarantined" in failed
    assert "loyalty_id is unique within a loyalty drop" not in failed
    report = str(failure.value)
    assert "FAILED raw.pos_transactions" in report and "T-1" not in report  # counts, not values


def test_a_rejected_drop_fails_but_a_small_share_of_bad_rows_does_not(db, tmp_path):
    good = [f"T-{i},S-1,2026-11-01T10:00:00Z,5.00,EUR" for i in range(200)]
    write(tmp_path, "pos_transactions", "p.csv", POS_HEADER + "\n" + "\n".join(good + ["T-x,S-1,bad,1,EUR"]) + "\n")
    load_all(db, tmp_path)
    assert raw_gate(DT).success  # one bad row in 201 is normal
    write(tmp_path, "crm_customers", "c.csv", "email\nx@y.z\n")  # missing the required key column
    load_all(db, tmp_path)
    with pytest.raises(GateFailed) as failure:
        raw_gate(DT)
    assert failed_descriptions(failure.value.result) == {
        "a delivered drop loads rows (not every file rejected, not every row quarantined)"
    }


def test_outputs_gate_fails_when_consent_is_incomplete(db):
    with db.cursor() as cur:
        cur.execute("create schema profiles; create schema identity")
        cur.execute("create table profiles.profiles (profile_id text)")
        cur.execute("insert into profiles.profiles values ('P1'), ('P2')")
        cur.execute("create table profiles.consent (profile_id text, purpose text, status text)")
        for profile in ("P1", "P2"):
            for purpose in ("email_marketing", "sms_marketing", "personalization", "ad_targeting"):
                cur.execute("insert into profiles.consent values (%s, %s, 'denied')", (profile, purpose))
        cur.execute("create table identity.identity_map (namespace text, identity_value text, profile_id text)")
        cur.execute("insert into identity.identity_map values ('email', 'a@b.com', 'P1')")
    db.commit()
    assert outputs_gate(DT).success
    with db.cursor() as cur:
        cur.execute("delete from profiles.consent where profile_id = 'P2' and purpose = 'ad_targeting'")
        cur.execute("insert into identity.identity_map values ('email', 'test@test.com', 'P2')")
    db.commit()
    with pytest.raises(GateFailed) as failure:
        outputs_gate(DT)
    assert failed_descriptions(failure.value.result) == {
        "consent is resolved for every profile and each of the four purposes",
        "no placeholder value stitched into a profile",
    }
    assert "test@test.com" not in str(failure.value)


def test_a_broken_expectation_is_reported_as_an_error(db, tmp_path, monkeypatch):
    ensure_tables(db)
    db.commit()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "typo.yml").write_text(
        "name: typo\nvalidations:\n  - table: raw.crm_customers\n    expectations:\n"
        "      - type: unexpected_rows_expectation\n        description: typo\n"
        "        kwargs: {unexpected_rows_query: 'select nosuchcolumn from {batch}'}\n"
    )
    monkeypatch.setenv("CDP_EXPECTATIONS_DIR", str(tmp_path))
    result = run_checkpoint("typo", gate_variables(DT), raise_on_failure=False)
    assert not result.success
    (outcome,) = result.outcomes
    assert "nosuchcolumn" in outcome.error
    assert "ERROR raw.crm_customers" in "\n".join(result.report_lines())
