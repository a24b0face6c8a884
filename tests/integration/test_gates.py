"""Quality gates as real Great Expectations checkpoints: pass on clean data, fail on crafted broken data."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from cdp.identity.rules import load_rules
from cdp.ingest.loader import ensure_tables, load_drop
from cdp.landing import LandingZone
from cdp.pipeline import build_warehouse, gate_variables, outputs_gate, prepare_identifiers, raw_gate
from cdp.quality import GateFailed, run_checkpoint
from cdp.quality.audience_sizes import record_audience_sizes
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


def one_query_checkpoint(root, monkeypatch, name: str, table: str, select: str) -> None:
    """A checkpoint `name` in a private expectations folder: one unexpected-rows query on `table`."""
    (root / "checkpoints").mkdir()
    query = f"{select} from {{batch}}"
    (root / "checkpoints" / f"{name}.yml").write_text(
        f"name: {name}\nvalidations:\n  - table: {table}\n    expectations:\n"
        f"      - type: unexpected_rows_expectation\n        description: {name}\n"
        f'        kwargs: {{unexpected_rows_query: "{query}"}}\n'
    )
    monkeypatch.setenv("CDP_EXPECTATIONS_DIR", str(root))


def failed_descriptions(result) -> set[str]:
    return {o.description for o in result.failed}


def samples(result) -> dict[str, tuple[str | None, list[str]]]:
    """Per failed expectation: the key its samples come from and the samples."""
    return {o.description: (o.sample_key, o.samples) for o in result.failed}


def outputs_gate_failures_result():
    """The outputs gate must fail: its result."""
    with pytest.raises(GateFailed) as failure:
        outputs_gate(DT)
    return failure.value.result


def outputs_gate_failures() -> tuple[set[str], str]:
    """The outputs gate must fail: the descriptions of what failed, and the report."""
    result = outputs_gate_failures_result()
    return failed_descriptions(result), str(GateFailed(result))


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
    assert "currency, where given, is an ISO-4217 code in at least 99% of the drop's rows" in failed
    assert "a delivered drop loads rows (not every file rejected, not every row quarantined)" in failed
    assert "no drop has more than the allowed share of its rows quarantined" in failed
    assert "a member's change (loyalty_id, updated_at) appears once within a loyalty drop" not in failed
    report = str(failure.value)
    assert "FAILED raw.pos_transactions" in report and "T-1" not in report  # counts, not values
    # Failing rows are named by keys that identify no person: the file, the source, the date.
    named = samples(failure.value.result)
    key, files = named["transaction_id is unique within a till drop"]
    assert (key, files) == ("file", ["p.csv"])  # the file as named in its drop
    assert named["currency, where given, is an ISO-4217 code in at least 99% of the drop's rows"] == (
        "dt",
        ["2026-11-01"],
    )
    dead = "a delivered drop loads rows (not every file rejected, not every row quarantined)"
    assert named[dead] == ("source", ["loyalty_members"])
    assert f"e.g. file {files[0]}" in report and "e.g. source loyalty_members" in report


def test_raw_gate_passes_what_the_contract_allows_and_fails_a_repeated_change(db, tmp_path):
    # No currency column (optional), a customer changed twice in one day, one event collected twice.
    write(tmp_path, "pos_transactions", "p.csv", "transaction_id,store_id,transacted_at\nT-1,S-1,2026-11-01\n")
    crm = "customer_id,updated_at\nC-1,2026-11-01T08:00:00Z\nC-1,2026-11-01T12:00:00Z\n"
    write(tmp_path, "crm_customers", "c.csv", crm)
    event = '{"event_id": "e-%d", "event_type": "page_view", "occurred_at": "2026-11-01T10:00:00Z", "ecid": "d-1"}\n'
    write(tmp_path, "web_events", "w.jsonl", "".join(event % i for i in (1, 2, 3, 3, 4, 5, 6)))
    load_all(db, tmp_path)
    assert raw_gate(DT).success

    write(tmp_path, "crm_customers", "c.csv", crm + "C-1,2026-11-01T12:00:00Z\n")  # the same change twice
    load_all(db, tmp_path)
    with pytest.raises(GateFailed) as failure:
        raw_gate(DT)
    assert failed_descriptions(failure.value.result) == {
        "a customer's change (customer_id, updated_at) appears once within a CRM drop"
    }


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
    failed, report = outputs_gate_failures()
    assert failed == {
        "consent is resolved for every profile and each of the four purposes",
        "no blocked value (placeholder or blocked pattern) is stitched into a profile",
    }
    assert "test@test.com" not in report
    assert "e.g. profile_id P2" in report


def test_samples_are_at_most_ten_keys_and_only_keys_that_name_no_person(db):
    with db.cursor() as cur:
        cur.execute("create schema profiles; create schema identity")
        cur.execute("create table profiles.profiles (profile_id text)")
        cur.execute("create table profiles.consent (profile_id text, purpose text, status text)")
        cur.execute("create table identity.identity_map (namespace text, identity_value text, profile_id text)")
        # 12 profiles holding a blocked value each: the report names 10 of them, not the values.
        cur.executemany(IDENTITY, [("email", "test@test.com", f"P{i:02}") for i in range(12)])
        cur.executemany("insert into profiles.profiles values (%s)", [(f"P{i:02}",) for i in range(12)])
        cur.executemany(
            CONSENT,
            [
                (f"P{i:02}", purpose, "denied")
                for i in range(12)
                for purpose in ("email_marketing", "sms_marketing", "personalization", "ad_targeting")
            ],
        )
    db.commit()
    failed = outputs_gate_failures_result()
    ((description, (key, profiles)),) = samples(failed).items()
    assert description == "no blocked value (placeholder or blocked pattern) is stitched into a profile"
    assert key == "profile_id" and len(profiles) == 10 and set(profiles) < {f"P{i:02}" for i in range(12)}
    (outcome,) = failed.failed
    assert outcome.unexpected_count is None and outcome.observed == 12  # the count is of all of them


def test_a_query_selecting_no_safe_key_reports_counts_only(db, tmp_path, monkeypatch):
    with db.cursor() as cur:
        cur.execute("create schema identity")
        cur.execute("create table identity.identity_map (namespace text, identity_value text, profile_id text)")
        cur.execute(IDENTITY, ("email", "someone@example.com", "P1"))
    db.commit()
    one_query_checkpoint(tmp_path, monkeypatch, "values", "identity.identity_map", "select identity_value, namespace")
    result = run_checkpoint("values", gate_variables(DT), raise_on_failure=False)
    (outcome,) = result.failed
    assert outcome.observed == 1 and outcome.samples == [] and outcome.sample_key is None
    assert "someone@example.com" not in "\n".join(result.report_lines())


def test_a_broken_expectation_is_reported_as_an_error(db, tmp_path, monkeypatch):
    ensure_tables(db)
    db.commit()
    one_query_checkpoint(tmp_path, monkeypatch, "typo", "raw.crm_customers", "select nosuchcolumn")
    result = run_checkpoint("typo", gate_variables(DT), raise_on_failure=False)
    assert not result.success
    (outcome,) = result.outcomes
    assert "nosuchcolumn" in outcome.error
    assert "ERROR raw.crm_customers" in "\n".join(result.report_lines())


IDENTITY = "insert into identity.identity_map (namespace, identity_value, profile_id) values (%s, %s, %s)"
CONSENT = "insert into profiles.consent (profile_id, purpose, status) values (%s, %s, %s)"


def test_outputs_gate_passes_on_generated_data_and_names_each_broken_rule(db, tmp_path):
    generate_landing_zone(tmp_path, customers=300, days=1, start=DT, seed=11)
    load_all(db, tmp_path)
    prepare_identifiers(DT)
    build_warehouse(DT)
    clean = outputs_gate(DT)
    assert clean.success and len(clean.outcomes) == 11

    cap = load_rules().max_identities_per_profile
    yesterday = DT - timedelta(days=1)
    with db.cursor() as cur:
        # A profile over the cap, one with two CRM ids, placeholders stitched into a third.
        cur.executemany(IDENTITY, [("ecid", f"ecid-cap-{i}", "PCAP") for i in range(cap + 1)])
        cur.executemany(IDENTITY, [("crm", "C-X1", "PTWO"), ("crm", "C-X2", "PTWO")])
        cur.executemany(IDENTITY, [("phone", "+0000000", "PBLK"), ("email", "noemail@shop.example", "PBLK")])
        # Consent missing for one purpose of a profile, doubled for another, given to no profile.
        cur.execute("select profile_id from profiles.profiles order by profile_id limit 2")
        (first,), (second,) = cur.fetchall()
        cur.execute("delete from profiles.consent where profile_id = %s and purpose = 'sms_marketing'", (first,))
        cur.executemany(CONSENT, [(second, "ad_targeting", "denied"), ("PGHOST", "ad_targeting", "granted")])
    # Yesterday an audience was ten times larger than it is now.
    sizes = record_audience_sizes(db, yesterday)
    with db.cursor() as cur:
        cur.execute(
            "update quality.audience_sizes set members = %s where run_date = %s and audience = %s",
            (10 * sizes["aud_online_browsers_no_purchase_ads"] + 100, yesterday, "aud_online_browsers_no_purchase_ads"),
        )
    db.commit()
    failed, report = outputs_gate_failures()
    assert failed == {
        "consent is resolved for every profile and each of the four purposes",
        "consent rows are one per profile and purpose, for existing profiles and known purposes",
        f"no profile holds more identities than the identity cap ({cap})",
        "no profile holds two values of a unique namespace",
        "no blocked value (placeholder or blocked pattern) is stitched into a profile",
        "no audience of 100 members or more shrinks below half or grows beyond three times its size"
        " of the previous run date",
    }
    assert "noemail@shop.example" not in report and "+0000000" not in report
    assert "e.g. profile_id PCAP" in report and "e.g. profile_id PTWO" in report and "e.g. profile_id PBLK" in report
    assert "e.g. audience aud_online_browsers_no_purchase_ads" in report


def test_audience_sizes_are_recorded_once_per_run_date(db):
    with db.cursor() as cur:
        cur.execute("create schema audiences; create table audiences.aud_a (profile_id text)")
        cur.execute("insert into audiences.aud_a values ('P1'), ('P2')")
    assert record_audience_sizes(db, DT) == {"aud_a": 2}
    with db.cursor() as cur:
        cur.execute("insert into audiences.aud_a values ('P3')")
    record_audience_sizes(db, DT)  # a rerun of the date replaces its row
    with db.cursor() as cur:
        cur.execute("select run_date, audience, members from quality.audience_sizes")
        assert cur.fetchall() == [(DT, "aud_a", 3)]


def test_data_docs_keep_every_run(db):
    ensure_tables(db)
    db.commit()
    raw_gate(DT)
    result = raw_gate(DT + timedelta(days=1))
    index = open(result.data_docs.removeprefix("file://"), encoding="utf-8").read()
    assert "raw_ingest 2026-11-01" in index and "raw_ingest 2026-11-02" in index
