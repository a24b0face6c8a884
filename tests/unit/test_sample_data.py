"""The sample-data generator: deterministic, contract-shaped, and as messy as it promises.

Small on purpose (300 customers x 3 days, well under a few seconds). The checks read the files
back independently of the generator's bookkeeping: the recount of malformed rows uses the
contract's column types, not the generator's list.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import phonenumbers
import pytest

from cdp.contracts import SOURCES, ColumnType
from cdp.sample_data import EMAIL_PLACEHOLDERS, PHONE_PLACEHOLDERS, GenerationStats, generate_landing_zone

START = date(2024, 3, 30)  # the EU switches to summer time on the second day: offsets change
DAYS = 3
CUSTOMERS = 300
DATES = [START + timedelta(days=i) for i in range(DAYS)]

ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d+)?)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$")
DECIMAL = re.compile(r"^[+-]?(\d+([.]\d*)?|[.]\d+)([eE][+-]?\d+)?$")


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, GenerationStats]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate_landing_zone(out, CUSTOMERS, DAYS, START, seed=42)


@pytest.fixture(scope="module")
def tables(landing) -> dict[tuple[str, date], list[tuple[str, int, dict | None]]]:
    """(source, dt) -> [(file, line, record or None when the line is not JSON)] for every data row."""
    root, _ = landing
    out: dict = {}
    for source in SOURCES:
        for dt in DATES:
            rows = []
            for path in sorted((root / source / f"dt={dt.isoformat()}").iterdir()):
                if path.name.startswith("_"):
                    continue
                rows.extend((str(path.relative_to(root)), line, rec) for line, rec in _read(path))
            out[source, dt] = rows
    return out


def _text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.name.endswith(".gz") else data).decode("utf-8")


def _read(path: Path):
    text = _text(path)
    if ".csv" in path.name:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        for rec in reader:
            yield reader.line_num, rec
    else:
        for line_no, line in enumerate(text.split("\n")[:-1], start=1):
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError:
                yield line_no, None


def _instant(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.strip())
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _is_bad(source: str, rec: dict | None) -> bool:
    """The contract's row rules, checked from scratch."""
    if rec is None:
        return True
    for column in SOURCES[source].columns:
        value = rec.get(column.name)
        text = "" if value is None else (value if isinstance(value, str) else json.dumps(value)).strip()
        if not text:
            if column.required:
                return True
            continue
        if column.allowed and text not in column.allowed:
            return True
        try:
            if column.type is ColumnType.TIMESTAMP:
                if not ISO_TIMESTAMP.match(text):
                    return True
                _instant(text)
            elif column.type is ColumnType.DATE:
                date.fromisoformat(text)
            elif column.type is ColumnType.INTEGER:
                int(text)
            elif column.type is ColumnType.DECIMAL and not DECIMAL.match(text):
                return True
            elif column.type is ColumnType.BOOLEAN and text.lower() not in ("true", "false"):
                return True
        except ValueError:
            return True
    return False


def _good(tables, source: str, dt: date | None = None) -> list[dict]:
    days = [dt] if dt else DATES
    return [rec for d in days for _, _, rec in tables[source, d] if not _is_bad(source, rec)]


def _norm_email(value: str) -> str:
    return value.strip().lower()


def _norm_subject(subject_type: str, value: str) -> str:
    if subject_type == "phone":
        digits = re.sub(r"\D", "", value)
        return digits[2:] if value.strip().startswith("00") else digits
    return _norm_email(value)


# -- determinism ------------------------------------------------------------------------------


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_files(landing, tmp_path):
    root, stats = landing
    again = generate_landing_zone(tmp_path, CUSTOMERS, DAYS, START, seed=42)
    assert _snapshot(tmp_path) == _snapshot(root)
    assert again == stats


def test_another_seed_gives_other_data(landing, tmp_path):
    root, _ = landing
    generate_landing_zone(tmp_path, CUSTOMERS, DAYS, START, seed=7)
    other, base = _snapshot(tmp_path), _snapshot(root)
    assert other.keys() == base.keys()
    assert all(other[k] != base[k] for k in base if not k.endswith("_SUCCESS"))


def test_a_day_does_not_depend_on_how_many_days_follow(landing, tmp_path):
    root, _ = landing
    generate_landing_zone(tmp_path, CUSTOMERS, 2, START, seed=42)
    shorter = _snapshot(tmp_path)
    full = _snapshot(root)
    assert shorter == {k: v for k, v in full.items() if f"dt={DATES[2].isoformat()}" not in k}


def test_gzip_headers_carry_no_timestamp(landing):
    root, _ = landing
    gz = sorted(root.rglob("*.gz"))
    assert gz
    for path in gz:
        header = path.read_bytes()[:10]
        assert header[4:8] == b"\0\0\0\0", path  # MTIME


# -- layout and contract ------------------------------------------------------------------


def test_every_source_and_day_is_a_complete_drop(landing):
    root, stats = landing
    for source in SOURCES:
        for dt in DATES:
            folder = root / source / f"dt={dt.isoformat()}"
            assert (folder / "_SUCCESS").read_bytes() == b""
            files = [p for p in folder.iterdir() if p.name != "_SUCCESS"]
            assert files, folder
            assert all(p.name.endswith((".csv", ".jsonl", ".csv.gz", ".jsonl.gz")) for p in files)
            assert all(p.name.endswith(".csv") or p.name.endswith(".csv.gz") for p in files) == (
                SOURCES[source].file_format == "csv"
            )
    assert stats.files == sum(1 for p in root.rglob("*") if p.is_file() and p.name != "_SUCCESS")
    assert set(stats.rows_per_source) == set(SOURCES)


def test_formats_vary_big_drops_are_split(landing):
    root, _ = landing
    for dt in DATES:
        web = sorted(p.name for p in (root / "web_events" / f"dt={dt.isoformat()}").iterdir())
        assert len([n for n in web if n.endswith(".jsonl.gz")]) >= 2
    pos_day2 = [p.name for p in (root / "pos_transactions" / f"dt={DATES[1].isoformat()}").iterdir()]
    assert any(n.endswith(".csv.gz") for n in pos_day2)


def test_csv_headers_cover_the_contract(landing):
    root, _ = landing
    headers = {}
    for source, contract in SOURCES.items():
        if contract.file_format != "csv":
            continue
        for dt in DATES:
            for path in (root / source / f"dt={dt.isoformat()}").glob("*.csv*"):
                header = next(csv.reader(io.StringIO(_text(path), newline="")))
                assert set(contract.required_columns) <= set(header), path
                assert set(contract.column_names) <= set(header), path
                if not path.name.endswith("_history.csv"):
                    headers[source, dt] = header
    assert "store_region" in headers["pos_transactions", START]  # an unknown column for the overflow
    loyalty = SOURCES["loyalty_members"].column_names
    assert tuple(headers["loyalty_members", START]) == loyalty
    assert tuple(headers["loyalty_members", DATES[1]]) != loyalty  # column order changes; names match


def test_row_counts_match_the_stats(landing, tables):
    _, stats = landing
    for source in SOURCES:
        assert stats.rows_per_source[source] == sum(len(tables[source, dt]) for dt in DATES)
    assert stats.rows_per_source["crm_customers"] > CUSTOMERS  # full extract, then the changes


# -- malformed rows -----------------------------------------------------------------------


def test_malformed_rows_are_counted_and_listed_exactly(landing, tables):
    _, stats = landing
    bad = {(file, line) for (source, _), rows in tables.items() for file, line, rec in rows if _is_bad(source, rec)}
    assert stats.malformed_rows > 0
    assert stats.malformed_rows == len(bad) == len(stats.malformed)
    assert {(m.file, m.line) for m in stats.malformed} == bad
    kinds = {m.defect for m in stats.malformed}
    assert {"bad timestamp", "value not allowed", "invalid JSON"} <= kinds
    total = sum(len(rows) for rows in tables.values())
    assert len(bad) < 0.01 * total


def test_jsonl_lines_parse_except_the_malformed_ones(landing, tables):
    _, stats = landing
    broken = {(m.file, m.line) for m in stats.malformed if m.defect == "invalid JSON"}
    unparsable = {(f, line) for (s, _), rows in tables.items() for f, line, rec in rows if rec is None}
    assert unparsable == broken
    assert broken


# -- realistic mess -----------------------------------------------------------------------


def test_placeholders_appear_in_identifier_fields(tables):
    crm = _good(tables, "crm_customers") + _good(tables, "loyalty_members")
    assert any(r["email"] in EMAIL_PLACEHOLDERS for r in crm)
    assert any(r["phone"] in PHONE_PLACEHOLDERS for r in crm)


def test_emails_come_in_several_spellings(tables):
    emails = [r["email"] for r in _good(tables, "crm_customers") + _good(tables, "loyalty_members")]
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() and "@" in e for e in emails)


def test_household_email_is_shared_by_two_crm_customers(tables):
    owners = defaultdict(set)
    for r in _good(tables, "crm_customers", START):
        email = _norm_email(r["email"])
        if email and r["email"] not in EMAIL_PLACEHOLDERS and "@" in email and email != "test@test.com":
            owners[email].add(r["customer_id"])
    assert any(len(ids) >= 2 for email, ids in owners.items() if not email.startswith("noemail@"))


def test_phones_are_mostly_valid_numbers_of_their_country(tables):
    checked = valid = 0
    formats = set()
    for r in _good(tables, "crm_customers"):
        phone = r["phone"].strip()
        if not phone or phone in PHONE_PLACEHOLDERS:
            continue
        checked += 1
        formats.add(re.sub(r"\d", "9", phone)[:6])
        number = phonenumbers.parse("+" + phone[2:].strip() if phone.startswith("00") else phone, r["country"])
        valid += phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == r["country"]
    assert checked > 200
    assert valid / checked > 0.95
    assert len(formats) > 10  # E.164, spaced, national, dotted, 00-prefixed...


def test_kiosk_device_is_shared_by_many_customers(tables):
    customers_per_ecid = defaultdict(set)
    for r in _good(tables, "web_events"):
        if r["customer_id"]:
            customers_per_ecid[r["ecid"]].add(r["customer_id"])
    assert max(len(ids) for ids in customers_per_ecid.values()) >= 5
    # Ordinary devices belong to one person.
    assert sorted(len(ids) for ids in customers_per_ecid.values())[-2] == 1


def test_web_sessions_carry_login_and_newsletter_identities(tables):
    events = _good(tables, "web_events")
    assert all(e["customer_id"] for e in events if e["event_type"] == "login")
    assert all(e["email"] for e in events if e["event_type"] == "newsletter_signup")
    assert any(e["customer_id"] for e in events if e["event_type"] == "product_view")
    assert all(
        e["properties"]["sku"] and e["properties"]["category"] for e in events if e["event_type"] == "product_view"
    )


def test_duplicate_and_late_events(tables):
    dup_found = late_found = False
    for dt in DATES:
        lines = [rec for _, _, rec in tables["web_events", dt] if rec is not None]
        counts = Counter(e["event_id"] for e in lines)
        repeated = [eid for eid, c in counts.items() if c > 1]
        for eid in repeated:
            copies = [e for e in lines if e["event_id"] == eid]
            assert all(c == copies[0] for c in copies)  # the same event, sent twice
        dup_found |= bool(repeated)
        late_found |= any(_instant(e["occurred_at"]).date() < dt for e in lines)
    assert dup_found and late_found


def test_timestamps_fall_on_their_drop_day(tables):
    checks = {"crm_customers": "updated_at", "pos_transactions": "transacted_at", "privacy_requests": "received_at"}
    styles = set()
    for source, column in checks.items():
        for dt in DATES:
            for r in _good(tables, source, dt):
                if r[column] and r.get("transaction_id", "").startswith("T-H"):
                    continue  # the tills' past receipts: see the test below
                assert _instant(r[column]).date() == dt, (source, r)
                styles.add("Z" if r[column].endswith("Z") else "offset" if r[column][-6] in "+-" else "naive")
    assert styles == {"Z", "offset", "naive"}


def test_the_first_till_extract_carries_past_receipts_of_card_holders(tables):
    past = [r for dt in DATES for r in _good(tables, "pos_transactions", dt) if r["transaction_id"].startswith("T-H")]
    assert past and {r["transaction_id"][3:11] for r in past} == {START.strftime("%Y%m%d")}  # first day only
    days_back = {(START - _instant(r["transacted_at"]).date()).days for r in past}
    assert min(days_back) >= 46 and max(days_back) <= 120
    assert all(r["loyalty_id"] for r in past)  # identified by the scanned card
    per_card = Counter(r["loyalty_id"] for r in past)
    assert max(per_card.values()) >= 3  # frequent buyers: the history recency audiences need


def test_orders_come_back_with_a_newer_status(tables):
    seen = defaultdict(dict)
    for dt in DATES:
        for o in _good(tables, "ecommerce_orders", dt):
            seen[o["order_id"]][dt] = o
            assert isinstance(o["shipping_address"], dict) and o["items"]
            assert all({"sku", "category", "quantity", "unit_price"} <= set(i) for i in o["items"])
    updated = [days for days in seen.values() if len(days) >= 2]
    assert updated
    for days in updated:
        first, *later = (days[d] for d in sorted(days))
        for o in later:
            assert o["status"] != first["status"]
            assert _instant(o["updated_at"]) > _instant(first["updated_at"])
    guests = [o for days in seen.values() for o in days.values() if o["customer_id"] is None]
    assert guests


def test_pos_has_loyalty_scans_receipts_and_returns(tables):
    pos = _good(tables, "pos_transactions")
    assert any(r["loyalty_id"].startswith("L-") for r in pos)
    assert any(r["receipt_email"] for r in pos)
    assert any(float(r["total_amount"]) < 0 for r in pos)
    currencies = {r["currency"] for r in pos}
    assert currencies <= {"EUR", "GBP", "USD"} and len(currencies) >= 2


def test_consent_has_ties_unsubscribes_and_phone_subjects(tables):
    by_choice = defaultdict(set)
    for r in _good(tables, "consent_events"):
        key = (r["subject_type"], _norm_subject(r["subject_type"], r["subject_value"]), r["purpose"])
        by_choice[key, _instant(r["collected_at"])].add(r["status"])
    assert any(statuses == {"granted", "denied"} for statuses in by_choice.values())
    later = [r for dt in DATES[1:] for r in _good(tables, "consent_events", dt)]
    assert any(r["source"] == "unsubscribe_link" and r["status"] == "denied" for r in later)
    phones = [r["subject_value"] for r in _good(tables, "consent_events") if r["subject_type"] == "phone"]
    assert phones and all(p.startswith(("+", "00")) for p in phones)
    assert {r["subject_type"] for r in _good(tables, "consent_events")} == {"customer_id", "email", "phone"}


def test_consent_file_is_not_in_time_order(tables):
    rows = _good(tables, "consent_events", START)
    times = [_instant(r["collected_at"]) for r in rows]
    assert times != sorted(times)


def test_privacy_requests_are_about_known_people(tables):
    ids = {r["customer_id"] for r in _good(tables, "crm_customers")}
    requests = _good(tables, "privacy_requests")
    assert {r["request_type"] for r in requests} == {"access", "delete"}
    assert all(r["subject_value"] in ids for r in requests if r["subject_type"] == "customer_id")


def test_later_days_carry_changes_new_customers_and_deletions(tables):
    first = {r["customer_id"]: r for r in _good(tables, "crm_customers", START)}
    later = [r for dt in DATES[1:] for r in _good(tables, "crm_customers", dt)]
    assert 0 < len(later) < 0.1 * len(first)
    assert any(r["customer_id"] not in first for r in later)  # new customers
    assert any(r["is_deleted"] == "true" for r in later)
    loyalty = _good(tables, "loyalty_members", START)
    assert 0.45 * CUSTOMERS < len(loyalty) < 0.75 * CUSTOMERS
    assert any(r["customer_id"] == "" for r in loyalty) and any(r["customer_id"] for r in loyalty)
