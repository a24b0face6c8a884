"""Loading drops into the real Postgres: quarantine reasons, rejected files, idempotency, S3."""

from __future__ import annotations

import gzip
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path

import psycopg2
import pytest

from cdp.ingest import binary_copy, jsonl_batches, staging
from cdp.ingest.loader import DropIncomplete, ensure_tables, load_drop
from cdp.landing import LandingZone

pytestmark = pytest.mark.integration
DT = date(2026, 11, 1)

CRM_HEADER = "customer_id,email,phone,first_name,birth_date,gender,country,updated_at,is_deleted"
CRM_GOOD = "C-1,a@b.com,+33612345678,Ana,1980-01-02,F,FR,2026-11-01T10:00:00Z,false"
POS_HEADER = "transaction_id,store_id,loyalty_id,transacted_at,item_count,total_amount,currency"
POS_GOOD = "T-1,S-001,L-1,2026-11-01T12:00:00+01:00,2,59.90,EUR"
WEB_GOOD = '{"event_id":"e1","event_type":"login","occurred_at":"2026-11-01T10:00:00Z","ecid":"d1"}'
ORDER_GOOD = (
    '{"order_id":"O-1","customer_id":"C-1","email":"a@b.com","ordered_at":"2026-11-01T09:00:00Z",'
    '"status":"placed","total_amount":10.5,"items":[{"sku":"K","quantity":1}],"shipping_address":{"country":"FR"}}'
)
CONSENT_HEADER = "subject_type,subject_value,purpose,status,collected_at,source"
# Every character Python's str.strip() removes: a value of only these is missing.
BLANKS = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())


def web_defect(rest: str) -> str:
    """A web-events file of a good event and a second one, whose keys after the first three are `rest`."""
    return WEB_GOOD + '\n{"event_id":"e2","event_type":"login","occurred_at":"2026-11-01"' + rest + "}"


# One defect per case: (source, file name, content, expected column, expected reason). The
# good row next to each defect must still load.
ROW_DEFECTS = [
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\n,x@y.z,,,,,,2026-11-01,",
        "customer_id",
        "missing required value",
    ),
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,2024-13-45T99:00,", "updated_at", "ISO-8601"),
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,,", "updated_at", "missing required value"),
    # A value of blanks other than spaces is missing too: a tab, no-break and ideographic spaces, all of them.
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\n\t,x@y.z,,,,,,2026-11-01,",
        "customer_id",
        "missing required value",
    ),
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,\u00a0\u3000,",
        "updated_at",
        "missing required value",
    ),
    ("web_events", "w.jsonl", web_defect(',"ecid":' + json.dumps(BLANKS)), "ecid", "missing required value"),
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,1999-02-30,,,2026-11-01,",
        "birth_date",
        "not a date",
    ),
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,01/02/1980,,,2026-11-01,",
        "birth_date",
        "not a date",
    ),
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,Q,,2026-11-01,", "gender", "not allowed"),
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,2026-11-01,yes", "is_deleted", "not a boolean"),
    (
        "crm_customers",
        "a.csv",
        f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,2026-11-01,false,extra",
        None,
        "expected 9 fields",
    ),
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,Nov 1 2026,false", "updated_at", "ISO-8601"),
    (
        "loyalty_members",
        "l.csv",
        "loyalty_id,tier,updated_at\nL-1,gold,2026-11-01\nL-2,diamond,2026-11-01",
        "tier",
        "not allowed",
    ),
    (
        "loyalty_members",
        "l.csv",
        "loyalty_id,points_balance,updated_at\nL-1,10,2026-11-01\nL-2,12.5,2026-11-01",
        "points_balance",
        "not an integer",
    ),
    (
        "loyalty_members",
        "l.csv",
        "loyalty_id,points_balance,updated_at\nL-1,10,2026-11-01\nL-2,99999999999999999999,2026-11-01",
        "points_balance",
        "not an integer",
    ),
    (
        "pos_transactions",
        "p.csv",
        f'{POS_HEADER}\n{POS_GOOD}\nT-2,S-001,,2026-11-01T12:00:00Z,1,"12,50",EUR',
        "total_amount",
        "decimal",
    ),
    (
        "pos_transactions",
        "p.csv",
        f"{POS_HEADER}\n{POS_GOOD}\nT-2,S-001,,2026-11-01T12:00:00Z,1,abc,EUR",
        "total_amount",
        "decimal",
    ),
    (
        "pos_transactions",
        "p.csv",
        f"{POS_HEADER}\n{POS_GOOD}\nT-2,S-001,,2026-11-01T12:00:00Z,1,NaN,EUR",
        "total_amount",
        "decimal",
    ),
    (
        "pos_transactions",
        "p.csv",
        f"{POS_HEADER}\n{POS_GOOD}\nT-2,,,2026-11-01T12:00:00Z,1,1.00,EUR",
        "store_id",
        "missing required value",
    ),
    (
        "pos_transactions",
        "p.csv",
        f"{POS_HEADER}\n{POS_GOOD}\nT-2,S-1,,2026-11-01T25:00:00Z,1,1.00,EUR",
        "transacted_at",
        "ISO-8601",
    ),
    ("web_events", "w.jsonl", f"{WEB_GOOD}\n{{not json", None, "invalid JSON"),
    ("web_events", "w.jsonl", f"{WEB_GOOD}\n[1,2]", None, "not a JSON object"),
    (
        "pos_transactions",
        "p.csv",
        f"{POS_HEADER}\n{POS_GOOD}\nT-2,S-1,,2026-11-01,1,1e131072,EUR",  # beyond numeric
        "total_amount",
        "decimal",
    ),
    # What jsonb cannot hold, in an unknown key or nested deeper than Python's recursion limit allows.
    ("web_events", "w.jsonl", web_defect(',"ecid":"d","x":NaN'), "x", "number out of range"),
    ("web_events", "w.jsonl", web_defect(',"ecid":[1e999]'), "ecid", "number out of range"),
    ("web_events", "w.jsonl", web_defect(',"ecid":"d","a\\u0000":1'), "a\ufffd", "NUL"),
    (
        "web_events",
        "w.jsonl",
        web_defect(',"ecid":"d","z":' + '{"a":' * 900 + "null" + "}" * 900 + ',"n":"\\u0000"'),
        "n",
        "NUL",
    ),
    # A NUL, which Postgres text cannot hold, in a contract column, an unknown column, a nested value.
    ("crm_customers", "a.csv", f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,A\x00na,,,,2026-11-01,", "first_name", "NUL"),
    ("crm_customers", "a.csv", f"{CRM_HEADER},note\n{CRM_GOOD},\nC-2,,,,,,,2026-11-01,,\x00", "note", "NUL"),
    ("web_events", "w.jsonl", web_defect(',"ecid":"d","properties":{"k":["\\u0000"]}'), "properties", "NUL"),
    ("web_events", "w.jsonl", web_defect(',"ecid":"d","note":"a\\u0000"'), "note", "NUL"),
    ("web_events", "w.jsonl", f'{WEB_GOOD}\n{{"event_id":"e\x00"}}', None, "invalid JSON"),
    (
        "web_events",
        "w.jsonl",
        f'{WEB_GOOD}\n{{"event_id":"e2\\ud800","event_type":"login","occurred_at":"2026-11-01","ecid":"d"}}',
        "event_id",
        "unpaired surrogate",
    ),
    (
        "web_events",
        "w.jsonl",
        f'{WEB_GOOD}\n{{"event_id":"e2","event_type":"teleport","occurred_at":"2026-11-01","ecid":"d"}}',
        "event_type",
        "not allowed",
    ),
    ("web_events", "w.jsonl", web_defect(""), "ecid", "missing required value"),
    ("web_events", "w.jsonl", web_defect(',"ecid":{"a":1}'), "ecid", "nested value"),
    ("web_events", "w.jsonl", web_defect(',"ecid":"d","properties":"x"'), "properties", "JSON object"),
    (
        "ecommerce_orders",
        "o.jsonl",
        f'{ORDER_GOOD}\n{{"order_id":"O-2","ordered_at":"2026-11-01","status":"lost"}}',
        "status",
        "not allowed",
    ),
    (
        "ecommerce_orders",
        "o.jsonl",
        f'{ORDER_GOOD}\n{{"order_id":"O-2","ordered_at":"2026-11-01","status":"placed","total_amount":"1,5"}}',
        "total_amount",
        "decimal",
    ),
    (
        "consent_events",
        "c.csv",
        f"{CONSENT_HEADER}\nemail,a@b.com,email_marketing,granted,2026-11-01,store\nfax,1,email_marketing,granted,2026-11-01,store",
        "subject_type",
        "not allowed",
    ),
    (
        "consent_events",
        "c.csv",
        f"{CONSENT_HEADER}\nemail,a@b.com,email_marketing,granted,2026-11-01,store\nemail,a@b.com,telepathy,granted,2026-11-01,store",
        "purpose",
        "not allowed",
    ),
    (
        "privacy_requests",
        "r.csv",
        "request_id,request_type,subject_type,subject_value\nR-1,delete,email,a@b.com\nR-2,forget,email,a@b.com",
        "request_type",
        "not allowed",
    ),
]


def write_drop(root: Path, source: str, files: dict[str, bytes], dt: date = DT, complete: bool = True) -> None:
    folder = root / source / f"dt={dt.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    if complete:
        (folder / "_SUCCESS").touch()


def quarantined(db, source):
    with db.cursor() as cur:
        cur.execute(
            "select line, column_name, reason from ingest.quarantined_rows where source = %s order by line", (source,)
        )
        return cur.fetchall()


def count(db, sql, params=()):
    with db.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


@pytest.mark.parametrize(("source", "name", "content", "column", "reason"), ROW_DEFECTS)
def test_bad_row_is_quarantined_with_its_reason_and_the_good_row_loads(
    db, tmp_path, source, name, content, column, reason
):
    write_drop(tmp_path, source, {name: content.encode()})
    report = load_drop(db, LandingZone.from_uri(str(tmp_path)), source, DT)
    db.commit()
    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (2, 1, 1)
    ((line, bad_column, bad_reason),) = quarantined(db, source)
    assert line == 3 if name.endswith(".csv") else line == 2
    assert bad_column == column
    assert reason in bad_reason
    assert count(db, f'select count(*) from raw."{source}"') == 1


def test_files_load_in_segments_and_a_file_rejected_late_loads_nothing(db, tmp_path, monkeypatch):
    monkeypatch.setattr("cdp.ingest.staging.SEGMENT_ROWS", 3)
    good = [f"C-{i},,,,,,,2026-11-01," for i in range(10)]
    good[7] = "C-7,,,,,,,not a date,"
    cut = gzip.compress(
        f"{CRM_HEADER}\n".encode() + "".join(f"C-9{i},,,,,,,2026-11-01,\n" for i in range(3000)).encode()
    )
    write_drop(
        tmp_path,
        "crm_customers",
        {"a.csv": (f"{CRM_HEADER}\n" + "\n".join(good) + "\n").encode(), "b.csv.gz": cut[: len(cut) - 40]},
    )
    report = load_drop(db, LandingZone.from_uri(str(tmp_path)), "crm_customers", DT)
    db.commit()
    a, b = report.files
    assert (a.rows_read, a.rows_loaded, a.rows_quarantined, a.rejected_reason) == (10, 9, 1, None)
    assert (b.rows_read, b.rows_loaded, b.rows_quarantined) == (0, 0, 0) and "gzip" in b.rejected_reason
    with db.cursor() as cur:
        cur.execute("select customer_id, _line from raw.crm_customers order by _line")
        assert cur.fetchall() == [(f"C-{i}", i + 2) for i in range(10) if i != 7]
    assert quarantined(db, "crm_customers") == [(9, "updated_at", "not an ISO-8601 timestamp")]


def test_rejected_files_do_not_stop_the_rest_of_the_drop(db, tmp_path):
    write_drop(
        tmp_path,
        "crm_customers",
        {
            "good.csv": f"{CRM_HEADER}\n{CRM_GOOD}\n".encode(),
            "empty.csv": b"",
            "latin1.csv": f"{CRM_HEADER}\nC-9,zoë@b.com,,,,,,2026-11-01,\n".encode("latin-1"),
            "cut.csv.gz": gzip.compress(f"{CRM_HEADER}\n{CRM_GOOD}\n".encode() * 200)[:60],
            "broken.csv.gz": _broken_deflate(f"{CRM_HEADER}\n{CRM_GOOD}\n".encode() * 200),
            "nokey.csv": b"email,updated_at\na@b.com,2026-11-01\n",
            "nul.csv": f"{CRM_HEADER},no\x00te\n{CRM_GOOD},x\n".encode(),
        },
    )
    folder = tmp_path / "crm_customers" / f"dt={DT.isoformat()}"
    (folder / os.fsdecode(b"caf\xe9.csv")).write_bytes(f"{CRM_HEADER}\n{CRM_GOOD}\n".encode())  # Latin-1 name
    report = load_drop(db, LandingZone.from_uri(str(tmp_path)), "crm_customers", DT)
    db.commit()
    reasons = {f.file: f.rejected_reason for f in report.files}
    assert reasons["caf\ufffd.csv"] == "file name is not valid UTF-8"
    assert reasons["good.csv"] is None
    assert reasons["empty.csv"] == "empty file"
    assert "UTF-8" in reasons["latin1.csv"]
    assert "gzip" in reasons["cut.csv.gz"] and "gzip" in reasons["broken.csv.gz"]
    assert "customer_id" in reasons["nokey.csv"]
    assert reasons["nul.csv"] == "a NUL character in the header"
    assert count(db, "select count(*) from raw.crm_customers") == 1
    assert count(db, "select count(*) from ingest.load_report where rejected_reason is not null") == 7


def _broken_deflate(data: bytes) -> bytes:
    """Gzip whose deflate stream breaks in its first block (an invalid block type), length intact."""
    compressed = bytearray(gzip.compress(data))
    compressed[10] |= 0b110  # the first block's type bits: 11, reserved
    return bytes(compressed)


def test_rows_carry_lineage_and_unknown_columns(db, tmp_path):
    write_drop(
        tmp_path,
        "pos_transactions",
        {"p.csv.gz": gzip.compress(f"{POS_HEADER},store_region\n{POS_GOOD},north\n".encode())},
    )
    report = load_drop(db, LandingZone.from_uri(str(tmp_path)), "pos_transactions", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute("select total_amount, transacted_at, _dt, _file, _line, _load_id, _extra from raw.pos_transactions")
        amount, at, dt, file, line, load_id, extra = cur.fetchone()
    assert str(amount) == "59.90" and at.isoformat() == "2026-11-01T11:00:00+00:00"
    assert (dt, line, load_id, extra) == (DT, 2, report.load_id, {"store_region": "north"})
    assert file == "p.csv.gz"  # its name in the drop: with the source and _dt, the key of its load report row
    with db.cursor() as cur:
        cur.execute(
            "select l.uri from raw.pos_transactions r join ingest.load_report l"
            " on l.source = 'pos_transactions' and l.dt = r._dt and l.file = r._file"
        )
        assert cur.fetchall() == [(str(tmp_path / "pos_transactions" / "dt=2026-11-01" / "p.csv.gz"),)]


def test_a_json_amount_lands_with_every_digit_it_was_delivered_with(db, tmp_path):
    """A float holds 17 significant digits; the decimal column, and a price inside the JSON
    column, hold what the file says."""
    amounts = ["12345678901234567890.12", "59.90", "0.1000000000000000055511151231257827", "1E+3"]
    lines = [
        ORDER_GOOD.replace('"total_amount":10.5', f'"total_amount":{a}')
        .replace('"quantity":1', f'"quantity":1,"price":{a}')
        .replace("O-1", f"O-{i}")
        for i, a in enumerate(amounts)
    ]
    write_drop(tmp_path, "ecommerce_orders", {"o.jsonl": ("\n".join(lines) + "\n").encode()})
    report = load_drop(db, LandingZone.from_uri(str(tmp_path)), "ecommerce_orders", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute("select total_amount::text, items -> 0 ->> 'price' from raw.ecommerce_orders order by _line")
        loaded = cur.fetchall()
    assert report.rows_quarantined == 0
    expected = ["12345678901234567890.12", "59.90", "0.1000000000000000055511151231257827", "1000"]
    assert loaded == [(amount, amount) for amount in expected]  # 1E+3 is 1000 to numeric and jsonb alike


def test_an_unknown_keys_number_is_kept_in_extra_with_every_digit(db, tmp_path):
    line = ORDER_GOOD.replace('"status"', '"fx_rate":1.08500000000000000001,"status"')
    write_drop(tmp_path, "ecommerce_orders", {"o.jsonl": (line + "\n").encode()})
    load_drop(db, LandingZone.from_uri(str(tmp_path)), "ecommerce_orders", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute("select _extra ->> 'fx_rate' from raw.ecommerce_orders")
        assert cur.fetchall() == [("1.08500000000000000001",)]


def test_a_days_rows_are_found_by_a_block_range_index_which_replaces_an_earlier_b_tree(db):
    ensure_tables(db)
    with db.cursor() as cur:
        cur.execute('drop index raw."web_events_dt_range"; create index "web_events_dt" on raw."web_events" (_dt)')
        ensure_tables(db)
        cur.execute("select indexname, indexdef from pg_indexes where schemaname = 'raw' and tablename = 'web_events'")
        indexes = dict(cur.fetchall())
    db.rollback()
    assert list(indexes) == ["web_events_dt_range"]
    assert "USING brin (_dt)" in indexes["web_events_dt_range"]


def test_tables_made_before_a_column_existed_get_it(db):
    ensure_tables(db)
    db.commit()
    with db.cursor() as cur:
        cur.execute(
            "alter table ingest.load_report drop column uri; alter table raw.pos_transactions drop column _absent"
        )
        ensure_tables(db)
        cur.execute(
            "select table_name, column_name from information_schema.columns"
            " where (table_name, column_name) in (('load_report', 'uri'), ('pos_transactions', '_absent'))"
        )
        added = set(cur.fetchall())
    db.rollback()
    assert added == {("load_report", "uri"), ("pos_transactions", "_absent")}


def test_an_allowed_value_is_stored_as_the_value_it_matched(db, tmp_path):
    rows = "email, a@b.com ,email_marketing, granted ,2026-11-01, store \n"
    write_drop(tmp_path, "consent_events", {"c.csv": f"{CONSENT_HEADER}\n{rows}".encode()})
    load_drop(db, LandingZone.from_uri(str(tmp_path)), "consent_events", DT)
    with db.cursor() as cur:
        cur.execute("select subject_type, subject_value, status, source from raw.consent_events")
        stored = cur.fetchall()
    db.rollback()
    assert stored == [("email", " a@b.com ", "granted", " store ")]  # other strings as delivered


def test_hostile_strings_load_as_data(db, tmp_path):
    hostile = [
        "Robert'); DROP TABLE raw.crm_customers;--",
        'quote "inside"',
        "x" * 100_000,
        "emoji 🎉",
        "עברית RTL",
        "back\\slash\ttab",
    ]
    rows = "\n".join(f'C-{i},,,"{v.replace(chr(34), chr(34) * 2)}",,,,2026-11-01,' for i, v in enumerate(hostile))
    write_drop(tmp_path, "crm_customers", {"h.csv": f"{CRM_HEADER}\n{rows}\n".encode()})
    load_drop(db, LandingZone.from_uri(str(tmp_path)), "crm_customers", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute("select first_name from raw.crm_customers order by _line")
        assert [r[0] for r in cur.fetchall()] == hostile


def test_jsonl_strings_load_exactly_and_an_empty_string_is_not_null(db, tmp_path):
    hostile = ["back\\slash", "tab\there", "new\nline", 'quote "x"', "emoji 🎉", "\\N", ""]
    lines = [
        json.dumps({"event_id": f"e{i}", "event_type": "login", "occurred_at": "2026-11-01", "ecid": "d", "email": v})
        for i, v in enumerate(hostile)
    ]
    lines.append('{"event_id":"e-null","event_type":"login","occurred_at":"2026-11-01","ecid":"d","email":null}')
    write_drop(tmp_path, "web_events", {"w.jsonl": ("\n".join(lines) + "\n").encode()})
    load_drop(db, LandingZone.from_uri(str(tmp_path)), "web_events", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute("select email from raw.web_events order by _line")
        assert [r[0] for r in cur.fetchall()] == [*hostile, None]


def test_rerun_and_redelivery_replace_the_day_never_duplicate(db, tmp_path):
    landing = LandingZone.from_uri(str(tmp_path))
    write_drop(tmp_path, "crm_customers", {"a.csv": f"{CRM_HEADER}\n{CRM_GOOD}\nC-2,,,,,,,bad,\n".encode()})
    write_drop(
        tmp_path, "crm_customers", {"a.csv": f"{CRM_HEADER}\nC-7,,,,,,,2026-11-02,\n".encode()}, dt=date(2026, 11, 2)
    )
    for _ in range(2):
        load_drop(db, landing, "crm_customers", DT)
        load_drop(db, landing, "crm_customers", date(2026, 11, 2))
        db.commit()
    snapshot = "select customer_id, _dt, _line, _load_id from raw.crm_customers order by 1"
    with db.cursor() as cur:
        cur.execute(snapshot)
        first = cur.fetchall()
    assert [r[0] for r in first] == ["C-1", "C-7"]
    assert count(db, "select count(*) from ingest.quarantined_rows") == 1
    # Re-delivery of day one with an extra file: that day is replaced, day two untouched.
    write_drop(tmp_path, "crm_customers", {"b.csv": f"{CRM_HEADER}\nC-3,,,,,,,2026-11-01,\n".encode()})
    report = load_drop(db, landing, "crm_customers", DT)
    db.commit()
    with db.cursor() as cur:
        cur.execute(snapshot)
        assert [r[0] for r in cur.fetchall()] == ["C-1", "C-3", "C-7"]
    assert report.load_id != first[0][3]
    assert count(db, "select count(*) from ingest.load_report where dt = %s", (DT,)) == 2


def test_incomplete_drop_is_not_loaded(db, tmp_path):
    write_drop(tmp_path, "crm_customers", {"a.csv": f"{CRM_HEADER}\n{CRM_GOOD}\n".encode()}, complete=False)
    with pytest.raises(DropIncomplete, match="crm_customers dt=2026-11-01"):
        load_drop(db, LandingZone.from_uri(str(tmp_path)), "crm_customers", DT)


def test_loads_from_s3(db, s3_endpoint, monkeypatch, tmp_path):
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="landing")
    prefix = "brand/landing/web_events/dt=2026-11-01"
    s3.put_object(
        Bucket="landing", Key=f"{prefix}/part-0.jsonl.gz", Body=gzip.compress(f"{WEB_GOOD}\n{{bad\n".encode())
    )
    landing = LandingZone.from_uri("s3://landing/brand/landing")
    with pytest.raises(DropIncomplete):
        load_drop(db, landing, "web_events", DT)
    db.rollback()
    s3.put_object(Bucket="landing", Key=f"{prefix}/_SUCCESS", Body=b"")
    assert landing.sources_present() == ["web_events"]
    report = load_drop(db, landing, "web_events", DT)
    db.commit()
    assert (report.rows_loaded, report.rows_quarantined) == (1, 1)
    assert count(db, "select count(*) from raw.web_events where _file = 'part-0.jsonl.gz'") == 1
    with db.cursor() as cur:  # the file's location is in its load report
        cur.execute("select uri from ingest.load_report where source = 'web_events' and file = 'part-0.jsonl.gz'")
        assert cur.fetchall() == [("s3://landing/brand/landing/web_events/dt=2026-11-01/part-0.jsonl.gz",)]


def test_generated_landing_zone_loads_the_same_from_s3_as_from_a_folder(db, s3_endpoint, monkeypatch, tmp_path):
    import boto3

    from cdp.sample_data import generate_landing_zone

    for name, value in {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    stats = generate_landing_zone(tmp_path, customers=150, days=1, start=DT, seed=9)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="generated")
    for path in tmp_path.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), "generated", f"lz/{path.relative_to(tmp_path)}")

    counts = {}
    for uri in (str(tmp_path), "s3://generated/lz"):
        landing = LandingZone.from_uri(uri)
        assert landing.sources_present() == sorted(stats.rows_per_source)
        reports = [load_drop(db, landing, source, DT) for source in landing.sources_present()]
        db.commit()
        counts[uri] = {r.source: (r.rows_read, r.rows_loaded, r.rows_quarantined) for r in reports}
    assert counts[str(tmp_path)] == counts["s3://generated/lz"]
    assert {s: c[0] for s, c in counts[str(tmp_path)].items()} == stats.rows_per_source
    assert sum(c[2] for c in counts[str(tmp_path)].values()) == stats.malformed_rows


# Values around the edges of the contract's patterns: blanks, other digits, partial or extra parts.
EDGE_TIMESTAMPS = [
    "2026-11-01T10:00:00Z",
    "2026-11-01 10:00:00.123456+01:00",
    "2026-11-01T10:00+0100",
    "2026-11-01T10:00:00,5z",
    "2026-11-01",
    " 2026-11-01T10:00:00Z ",
    "2026-11-01T10:00:00Z\t",
    "2026-11-01T10:00:00Z\n",
    "２０２６-11-01T10:00:00Z",
    "2026-11-01T10:00:00 UTC",
    "2026-11-01T24:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-01T10:00:00.Z",
    "2026-11-1T10:00:00Z",
    "now",
    "",
]
EDGE_DATES = [
    "1980-01-02",
    " 1980-01-02",
    "1980-1-02",
    "1999-02-30",
    "19800102",
    "1980-01-02T00:00",
    "١٩٨٠-01-02",
    "\t",
    "\u00a0\t1980-01-02\u3000",
]


EDGE_NUMBERS = [
    "2",
    " 2",
    "+2",
    "-0",
    "2.0",
    "1e3",
    "1E+3",
    "99999999999999999999",
    "١",
    "59.90",
    ".5",
    "5.",
    "1,5",
    "-",
    "1e131072",  # beyond numeric: not a decimal
    "0e-999999999",
    "1" * 131_073,
]


def test_python_patterns_accept_only_what_the_sql_patterns_accept(db):
    from cdp.contracts import SOURCES
    from cdp.ingest.checks import DECIMAL, INTEGER, ISO_DATE, ISO_TIMESTAMP, well_formed_test

    with db.cursor() as cur:
        for source, column, pattern, values in (
            ("crm_customers", "updated_at", ISO_TIMESTAMP, EDGE_TIMESTAMPS),
            ("crm_customers", "birth_date", ISO_DATE, EDGE_DATES),
            ("pos_transactions", "item_count", INTEGER, EDGE_NUMBERS),
            ("pos_transactions", "total_amount", DECIMAL, EDGE_NUMBERS),
        ):
            names = SOURCES[source].column_names
            well_formed = well_formed_test(SOURCES[source])
            marked = 0
            for value in values:
                row = [""] * len(names)
                row[names.index(column)] = value
                cur.execute("select btrim(%s) ~ %s", (value, pattern))
                if value and well_formed(row):  # an empty value is missing: no pattern applies
                    assert cur.fetchone()[0], value
                    marked += 1
            assert marked >= 2, (column, marked)  # the mark is given, not only withheld
    db.rollback()


def _write_edge_drops(tmp_path) -> LandingZone:
    """CRM, web and POS drops of the edge values: dates, timestamps, numbers and JSON at and beyond each limit."""
    csv_rows = [f"C-{i},,,,{d},,,{t}," for i, (t, d) in enumerate(zip(EDGE_TIMESTAMPS, EDGE_DATES * 3, strict=False))]
    web_lines = [
        json.dumps({"event_id": f"e{i}", "event_type": "login", "occurred_at": t, "ecid": "d", "properties": p})
        for i, (t, p) in enumerate(
            zip(
                EDGE_TIMESTAMPS,
                [{"a": 1.5}, [], "x", 5, {"n": float("nan")}, None, {"i": float("inf")}] * 3,
                strict=False,
            )
        )
    ]
    # Numbers at and beyond the parsers' limits: an infinite float, an underflow, a 5,000-digit integer.
    event = '{"event_id": "%s", "event_type": "login", "occurred_at": "2026-11-01", "ecid": "d", "properties": %s}'
    limits = {"n1": '{"big": 1e999999}', "n2": "[1e-20000]", "n3": '{"long": 1' + "0" * 5000 + "}", "n4": "[1.50e3]"}
    web_lines += [event % item for item in limits.items()]
    write_drop(tmp_path, "crm_customers", {"a.csv": (f"{CRM_HEADER}\n" + "\n".join(csv_rows) + "\n").encode()})
    pos_rows = [f"T-{i},S-1,,2026-11-01T12:00:00Z,{n},{n},EUR" for i, n in enumerate([*EDGE_NUMBERS, ""])]
    write_drop(tmp_path, "pos_transactions", {"p.csv": (f"{POS_HEADER}\n" + "\n".join(pos_rows) + "\n").encode()})
    write_drop(tmp_path, "web_events", {"w.jsonl": ("\n".join(web_lines) + "\n").encode()})
    return LandingZone.from_uri(str(tmp_path))


def _edge_outcome(db, landing: LandingZone) -> list:
    """Each edge drop's raw rows (key, line, the whole row) and quarantined rows; rolled back after."""
    outcome = []
    for source, key in (
        ("crm_customers", "customer_id"),
        ("web_events", "event_id"),
        ("pos_transactions", "transaction_id"),
    ):
        load_drop(db, landing, source, DT)
        with db.cursor() as cur:
            cur.execute(f'select {key}, _line, r::text from raw."{source}" r order by _line')
            outcome.append(cur.fetchall())
        outcome.append(quarantined(db, source))
    db.rollback()
    return outcome


def test_neither_the_ready_path_nor_the_well_formed_mark_changes_a_rows_outcome(db, tmp_path, monkeypatch):
    """CSV files are read by Arrow and JSONL files in batches, rows ready for raw skip the staging
    table, and the staging table skips the patterns of rows marked well-formed: without each
    shortcut in turn (the row reader, then every row staged, then none marked) every outcome is the same."""
    landing = _write_edge_drops(tmp_path)
    ready_rows = []
    ready_test = staging.raw_ready_test

    def counted(source):
        ready = ready_test(source)
        return lambda values: ready(values) and not ready_rows.append(values)

    outcomes = [_edge_outcome(db, landing)]  # CSV read by Arrow, JSONL in batches (whole-file readers)
    monkeypatch.setattr("cdp.ingest.staging.read_csv_segments", lambda *args, **kwargs: None)
    monkeypatch.setattr("cdp.ingest.staging.read_jsonl_segments", lambda *args, **kwargs: None)
    monkeypatch.setattr("cdp.ingest.staging.raw_ready_test", counted)
    outcomes.append(_edge_outcome(db, landing))
    assert len(ready_rows) >= 5  # the edge drops' ready rows took the ready path
    monkeypatch.setattr("cdp.ingest.staging.raw_ready_test", lambda source: lambda values: False)
    outcomes.append(_edge_outcome(db, landing))
    monkeypatch.setattr("cdp.ingest.staging.well_formed_test", lambda source: lambda values: False)
    outcomes.append(_edge_outcome(db, landing))
    assert outcomes[0] == outcomes[1] == outcomes[2] == outcomes[3]
    assert all(outcomes[0][1::2])  # some rows of each source are quarantined
    web_loaded, web_quarantined = outcomes[0][2], outcomes[0][3]
    lines = {event_id: line for event_id, line, _ in web_loaded}
    assert {"n2", "n4"} <= set(lines) and not {"n1", "n3"} & set(lines)
    assert web_quarantined[-2:] == [
        (lines["n2"] - 1, "properties", "a number out of range (NaN, Infinity or beyond 1.8e308)"),
        (lines["n2"] + 1, None, "invalid JSON (a number too long)"),
    ]


def test_a_value_raw_refuses_makes_the_file_load_again_through_the_checks(db, tmp_path, monkeypatch, caplog):
    """Should the ready test pass a value Postgres refuses (here an impossible date), the file's
    load is rolled back and every row of it goes through the staging table: the same outcome."""
    landing = _write_edge_drops(tmp_path)
    expected = _edge_outcome(db, landing)
    ready_test = staging.raw_ready_test

    def lenient(source):
        ready = ready_test(source)
        return lambda values: ready(values) or "1999-02-30" in values

    monkeypatch.setattr("cdp.ingest.staging.raw_ready_test", lenient)
    with caplog.at_level(logging.WARNING, logger="cdp.ingest.loader"):
        assert _edge_outcome(db, landing) == expected
    assert "a.csv: raw refused a ready value; the file loads again through the checks" in caplog.text
    assert "1999-02-30" not in caplog.text  # Postgres's message quotes the value: it is not logged


def _drop_outcome(db, landing: LandingZone, source: str, key: str) -> tuple[list, list]:
    """A drop's load, rolled back after: its raw rows (file, line, key, the whole row) and quarantine
    rows (file, line, column, reason, record), and the load report's line per file."""
    report = load_drop(db, landing, source, DT)
    with db.cursor() as cur:
        cur.execute(f'select _file, _line, {key}, r::text from raw."{source}" r order by _file, _line')
        rows = cur.fetchall()
        cur.execute("select file, line, column_name, reason, record::text from ingest.quarantined_rows order by 1, 2")
        rows += cur.fetchall()
    db.rollback()
    return rows, [(f.file, f.rows_read, f.rows_loaded, f.rows_quarantined, f.rejected_reason) for f in report.files]


# CSV files in every form the row reader takes; Arrow's reader takes those in plain RFC 4180 form
# with one record per line and leaves the others (True: taken) to the row reader.
CSV_FORMS = {
    "quoted.csv": (
        f'{CRM_HEADER}\nC-1,a@b.com,,"Ana, ""la"" Maria",,,,2026-11-01T10:00:00Z,\n"C-2",,,"",,,,2026-11-01,\n',
        True,
    ),
    "crlf.csv": (f"{CRM_HEADER}\r\nC-3,,,Bo,,,,2026-11-01,true\r\nC-4,,,Cy,,,,2026-11-01,\r\n", True),
    "bom.csv": (f"\ufeff{CRM_HEADER}\nC-5,,,Di,1980-02-29,F,,2026-11-01 10:00,FALSE", True),
    "blanks.csv": (" customer_id , email ,updated_at\nC-6, a@b.com ,2026-11-01\nC-7,,\u00a02026-11-01\n", True),
    "escapes.csv": (
        f'{CRM_HEADER}\nC-8,,,"tab\there",back\\slash \\N,,,2026-11-01,\nC-9,,,🎉 עברית,,,,2026-11-01,\n',
        True,
    ),
    "extras.csv": (f"{CRM_HEADER},loyalty_tier\nC-10,,,,,,,2026-11-01,,gold\nC-11,,,,,,,2026-11-01,,\n", True),
    "two_extras.csv": (
        f"{CRM_HEADER},tier,note\nC-26,,,,,,,2026-11-01,,gold,\nC-27,,,,,,,2026-11-01,,,é x\n"
        f'C-28,,,,,,,2026-11-01,,silver,"say ""hi"""\nC-29,,,,,,,2026-11-01,,,\nC-30,,,,,,,2026-11-01,,a,b\n',
        True,
    ),
    "defects.csv": (f"{CRM_HEADER}\nC-12,,,,1999-02-30,X,,2026-13-01,maybe\n,,,,,,,2026-11-01,\n", True),
    "blank_line.csv": (f"{CRM_HEADER}\nC-13,,,,,,,2026-11-01,\n\nC-14,,,,,,,2026-11-01,\n", False),
    "multiline.csv": (f'{CRM_HEADER}\nC-15,,,"two\nlines",,,,2026-11-01,\nC-16,,,,,,,2026-11-01,\n', False),
    "stray_quote.csv": (f'{CRM_HEADER}\nC-17,,,5" screen,,,,2026-11-01,\n', False),
    "after_quote.csv": (f'{CRM_HEADER}\nC-18,,,"ab"c,,,,2026-11-01,\n', False),
    "doubled_start.csv": (f'{CRM_HEADER}\nC-19,,,""x,,,,2026-11-01,\n', False),
    "lone_cr.csv": (f"{CRM_HEADER}\rC-20,,,,,,,2026-11-01,\r", False),
    "wide.csv": (f"{CRM_HEADER}\nC-21,,,,,,,2026-11-01,,extra\nC-22,,,,,,,2026-11-01,\n", False),
    "nul.csv": (f"{CRM_HEADER}\nC-23,,,a\x00b,,,,2026-11-01,\n", False),
    "control.csv": (f"{CRM_HEADER}\nC-25,,,a\x01b,,,,2026-11-01,\n", False),
    "header_only.csv": (f"{CRM_HEADER}\n", False),
}


def test_arrow_reads_a_csv_file_as_the_row_reader_does_or_leaves_it_to_the_row_reader(db, tmp_path, monkeypatch):
    files = {name: content.encode() for name, (content, _) in CSV_FORMS.items()}
    files["gzipped.csv.gz"] = gzip.compress(CSV_FORMS["quoted.csv"][0].replace("C-", "G-").encode())
    files["not_utf8.csv"] = f"{CRM_HEADER}\nC-24,,,".encode() + b"\xff" + b",,,,2026-11-01,\n"
    write_drop(tmp_path, "crm_customers", files)
    landing = LandingZone.from_uri(str(tmp_path))
    taken = []
    read_csv_segments = staging.read_csv_segments

    def recorded(data, *args, **kwargs):
        segments = read_csv_segments(data, *args, **kwargs)
        taken.append((data, segments is not None))
        return segments

    def outcome():
        return _drop_outcome(db, landing, "crm_customers", "customer_id")

    monkeypatch.setattr("cdp.ingest.staging.read_csv_segments", recorded)
    by_arrow = outcome()
    monkeypatch.setattr("cdp.ingest.staging.read_csv_segments", lambda *args, **kwargs: None)
    assert outcome() == by_arrow
    expected = {content.encode(): arrow for content, arrow in CSV_FORMS.values()}
    for data, arrow in taken:
        if data in expected:
            assert arrow == expected.pop(data), data
    assert not expected  # every file was offered to Arrow's reader
    rows, reports = by_arrow
    assert sum(r[3] for r in reports) >= 3 and sum(1 for r in reports if r[4]) == 1  # defects found, not_utf8 rejected
    assert ("gzipped.csv.gz", 2, 2, 0, None) in reports


# Every form of value the CSV reader sends to raw in binary: timestamps in each ready form (time
# and seconds or not, fractions of 1 to 6 digits, Z, offsets either side, a date alone with an
# offset, the first and last years), integers with a sign and leading zeros, booleans in any case.
BINARY_TIMESTAMPS = [
    "2026-11-01",
    "2026-11-01T10:13",
    "2026-11-01 10:13:05",
    "2026-11-01T10:13:05.5Z",
    "2026-11-01T10:13:05.123456+14:00",
    "2026-11-01T23:59:59.000001-12:45",
    "2026-11-01 00:00:00.12-00:30",
    "2024-02-29T12:00+05:45",
    "2026-11-01Z",
    "2026-11-01+02:00",
    "2026-11-01T10:13Z",
    "1999-12-31T23:59:59.999999",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59.999999-14:00",
]
LOYALTY_HEADER = "loyalty_id,customer_id,email,phone,first_name,tier,points_balance,enrolled_at,updated_at"
BINARY_LOYALTY = [
    "L-1,C-1,a@b.com,,Ana,gold,+5,,2026-11-01T10:00:00Z",
    "L-2,,,,,silver,-007,2026-01-01,2026-11-01",
    "L-3,,,,🎉 עברית,bronze,123456789012345678,,2026-11-01 10:00",
    "L-4,,,,tab\there back\\slash \\N,,-123456789012345678,,2026-11-01",
    "L-5,,,,'; drop table raw.loyalty_members; --,gold,0,,2026-11-01",
    "L-6,,,,,gold,,,2026-11-01",
]


def test_csv_values_go_to_raw_in_binary_as_postgres_reads_their_text(db, tmp_path, monkeypatch, caplog):
    consent = "subject_type,subject_value,purpose,status,collected_at,source\n" + "".join(
        f"email,u{i}@b.com,email_marketing,granted,{ts},store\n" for i, ts in enumerate(BINARY_TIMESTAMPS)
    )
    crm = f"{CRM_HEADER},created_at\n" + "".join(
        f"C-{i},,,,1980-02-29,,,2026-11-01,{flag},{ts}\n"
        for i, (ts, flag) in enumerate(zip(BINARY_TIMESTAMPS, ["true", "FALSE", "True", ""] * 4, strict=False))
    )
    write_drop(tmp_path, "consent_events", {"c.csv": consent.encode()})
    write_drop(tmp_path, "crm_customers", {"c.csv": crm.encode()})
    write_drop(tmp_path, "loyalty_members", {"l.csv": ("\n".join([LOYALTY_HEADER, *BINARY_LOYALTY]) + "\n").encode()})
    landing = LandingZone.from_uri(str(tmp_path))
    binary_copies = []
    copy_data = binary_copy.copy_data
    monkeypatch.setattr(binary_copy, "copy_data", lambda row: binary_copies.append(row) or copy_data(row))
    keys = {"consent_events": "subject_value", "crm_customers": "customer_id", "loyalty_members": "loyalty_id"}
    in_binary = {source: _drop_outcome(db, landing, source, key) for source, key in keys.items()}
    # each file's ready rows went to raw in binary, and Postgres took them (no load again through the checks)
    assert len(binary_copies) == 3 and "raw refused" not in caplog.text
    monkeypatch.setattr("cdp.ingest.staging.read_csv_segments", lambda *args, **kwargs: None)
    for source, key in keys.items():
        rows, reports = in_binary[source]
        assert (rows, reports) == _drop_outcome(db, landing, source, key), source  # as the row reader loads them
        assert reports[0][3] == 0  # nothing quarantined: every row went to raw
    # Postgres's own reading of each text (with the session in UTC, as the loader's), by the binary path
    monkeypatch.undo()
    for source in keys:
        load_drop(db, landing, source, DT)
    with db.cursor() as cur:
        cur.execute("set timezone = 'UTC'")
        cur.execute(
            "select t::timestamptz::text from unnest(%s::text[]) with ordinality u(t, n) order by n",
            (BINARY_TIMESTAMPS,),
        )
        expected = [r[0] for r in cur.fetchall()]
        cur.execute("select collected_at::text from raw.consent_events order by _line")
        assert [r[0] for r in cur.fetchall()] == expected
        cur.execute("select created_at::text, birth_date::text, is_deleted from raw.crm_customers order by _line")
        crm_rows = cur.fetchall()
        cur.execute("select loyalty_id, first_name, points_balance from raw.loyalty_members order by _line")
        loyalty_rows = cur.fetchall()
    db.rollback()
    assert [r[0] for r in crm_rows] == expected
    assert {r[1] for r in crm_rows} == {"1980-02-29"}
    assert [r[2] for r in crm_rows] == [True, False, True, None] * 3 + [True, False]
    assert loyalty_rows == [
        ("L-1", "Ana", 5),
        ("L-2", None, -7),
        ("L-3", "🎉 עברית", 123456789012345678),
        ("L-4", "tab\there back\\slash \\N", -123456789012345678),
        ("L-5", "'; drop table raw.loyalty_members; --", 0),
        ("L-6", None, None),
    ]


def _web(event_id: str, **fields) -> str:
    """A web event with every key of the contract (the generated files' form), `fields` changed."""
    event = {
        "event_id": event_id,
        "event_type": "login",
        "occurred_at": "2026-11-01T10:00:00.5Z",
        "ecid": "d",
        "customer_id": None,
        "email": None,
        "properties": None,
    }
    return json.dumps({**event, **fields}, ensure_ascii=False)


# JSON lines of every kind, in files whose batches of 4 lines mix plain rows with one odd line each.
JSONL_LINES = [
    _web("plain-1", properties={"url": "https://x.example/a?b=1&c=é", "n": [1, 2.50, -0.0, 3]}),
    _web("plain-2", customer_id="C-1", email="a@b.com", properties=None),
    _web("plain-3", properties={"tab": "a\tb", "quote": '"q"', "slash": "a\\b", "emoji": "🎉", "rtl": "עברית"}),
    _web("plain-4", properties=[]),
    _web("exponent", properties={"n": 1.5e300}),
    '{"event_id":"beyond","event_type":"login","occurred_at":"2026-11-01","ecid":"d","properties":{"n":1e400}}',
    '{"event_id":"tiny","event_type":"login","occurred_at":"2026-11-01","ecid":"d","properties":[1e-400]}',
    '{"event_id":"long","event_type":"login","occurred_at":"2026-11-01","ecid":"d","properties":[12345678901234567890]}',
    '{"event_id":"escaped","event_type":"login","occurred_at":"2026-11-01","ecid":"d","properties":{"a":"\\u00e9"}}',
    '{"event_id":"nul","event_type":"login","occurred_at":"2026-11-01","ecid":"d\\u0000"}',
    _web("string-json", properties="x"),
    _web("number-text", customer_id=12),
    '{"event_id":"absent","event_type":"login","occurred_at":"2026-11-01","ecid":"d"}',
    _web("unknown", channel="app"),
    _web("bad-time", occurred_at="2026-02-30T10:00:00Z"),
    _web("bad-type", event_type="logout"),
    _web("blank-id", ecid=" "),
    _web("empty-time", occurred_at=""),
    "",
    "   ",
    '{"event_id":"two"} {"event_id":"values"}',
    '{"event_id":"a","event_type":"login","occurred_at":"2026-11-01","ecid":"d"},{"event_id":"b"}',
    "[1, 2]",
    "not json",
]


def test_jsonl_batches_read_a_file_as_the_row_reader_does(db, tmp_path, monkeypatch):
    plain = [line for line in JSONL_LINES if '"plain-' in line]
    odd = [line for line in JSONL_LINES if '"plain-' not in line]
    mixed = "".join(f"{chr(10).join(plain[:3])}\n{line}\n" for line in odd)  # each batch of 4: 3 plain, 1 odd
    write_drop(
        tmp_path,
        "web_events",
        {
            "mixed.jsonl": mixed.encode(),
            "plain.jsonl.gz": gzip.compress(("\n".join(plain * 3)).encode()),  # no line break at the end
            "crlf.jsonl": ("\r\n".join(plain) + "\r\n").encode(),
            "bom.jsonl": ("\ufeff" + "\n".join(plain)).encode(),
            "not_utf8.jsonl": plain[0].encode() + b"\n" + plain[1].encode()[:-2] + b'\xff"}\n',
            "blank.jsonl": b"\n \n",
        },
    )
    landing = LandingZone.from_uri(str(tmp_path))
    monkeypatch.setattr("cdp.ingest.jsonl_batches.BATCH_LINES", 4)
    batches = []
    ready_text = jsonl_batches._BatchReader.ready_text

    def recorded(self, batch, first_line):
        text = ready_text(self, batch, first_line)
        batches.append(text is not None)
        return text

    def outcome():
        return _drop_outcome(db, landing, "web_events", "event_id")

    monkeypatch.setattr(jsonl_batches._BatchReader, "ready_text", recorded)
    in_batches = outcome()
    monkeypatch.setattr("cdp.ingest.staging.read_jsonl_segments", lambda *args, **kwargs: None)
    assert outcome() == in_batches
    # the plain batches were read whole (mixed: none; plain: 3 of 3), the others line by line
    assert batches.count(True) == 3 and batches.count(False) == len(odd)
    reports = {r[0]: r[1:] for r in in_batches[1]}
    assert reports["plain.jsonl.gz"] == (12, 12, 0, None)
    assert reports["crlf.jsonl"] == (4, 4, 0, None) and reports["bom.jsonl"] == (4, 4, 0, None)
    assert reports["not_utf8.jsonl"][3].startswith("not valid UTF-8") and reports["blank.jsonl"][3] == "empty file"
    loaded = {row[2] for row in in_batches[0] if len(row) == 4 and row[0].endswith("mixed.jsonl")}
    assert {"exponent", "tiny", "long", "escaped", "absent", "unknown", "number-text"} <= loaded
    assert not {"beyond", "nul", "string-json", "bad-time", "bad-type", "blank-id", "empty-time"} & loaded


def test_jsonl_batches_spell_an_amount_as_the_row_reader_does(db, tmp_path, monkeypatch):
    """A decimal column delivered as a JSON number keeps its spelling either way; a value the batch
    reader does not take (an exponent, a boolean, a nested value) leaves its batch to the row reader."""
    from cdp.contracts import SOURCES

    order = dict.fromkeys(SOURCES["ecommerce_orders"].column_names) | json.loads(ORDER_GOOD)  # every key, as generated
    amounts = [10.5, "10.50", 10, 59.90, 12345678901234567890.12, -0.0, None, 1e3, True, [1], "x"]
    lines = [json.dumps({**order, "order_id": f"O-{i}", "total_amount": a}) for i, a in enumerate(amounts)]
    lines[3] = lines[3].replace("59.9", "59.90")
    lines[4] = lines[4].replace("1.2345678901234567e+19", "12345678901234567890.12")
    lines[7] = lines[7].replace("1000.0", "1e3")
    write_drop(tmp_path, "ecommerce_orders", {"o.jsonl": ("\n".join(lines) + "\n").encode()})
    landing = LandingZone.from_uri(str(tmp_path))
    monkeypatch.setattr("cdp.ingest.jsonl_batches.BATCH_LINES", 1)
    batches = []
    ready_text = jsonl_batches._BatchReader.ready_text
    monkeypatch.setattr(
        jsonl_batches._BatchReader, "ready_text", lambda *args: batches.append(ready_text(*args)) or batches[-1]
    )

    def outcome():
        load_drop(db, landing, "ecommerce_orders", DT)
        with db.cursor() as cur:
            cur.execute("select order_id, total_amount::text, r::text from raw.ecommerce_orders r order by _line")
            rows = cur.fetchall()
        rows.append(quarantined(db, "ecommerce_orders"))
        db.rollback()
        return rows

    in_batches = outcome()
    monkeypatch.setattr("cdp.ingest.staging.read_jsonl_segments", lambda *args, **kwargs: None)
    assert outcome() == in_batches
    assert [text is not None for text in batches] == [True] * 7 + [False] * 4
    amounts_loaded = {order_id: amount for order_id, amount, _ in in_batches[:-1]}
    assert amounts_loaded["O-1"] == "10.50" and amounts_loaded["O-3"] == "59.90"
    assert amounts_loaded["O-4"] == "12345678901234567890.12" and amounts_loaded["O-7"] == "1000"


def test_a_file_larger_than_the_whole_file_limit_streams_through_the_row_reader(db, tmp_path, monkeypatch):
    landing = _write_edge_drops(tmp_path)
    whole = _edge_outcome(db, landing)
    read = []
    monkeypatch.setattr("cdp.ingest.staging.read_csv_segments", lambda *args, **kwargs: read.append(args))
    monkeypatch.setattr("cdp.ingest.staging.read_jsonl_segments", lambda *args, **kwargs: read.append(args))
    monkeypatch.setattr("cdp.ingest.staging.WHOLE_FILE_MAX_BYTES", {False: 100, True: 100})
    assert _edge_outcome(db, landing) == whole
    assert read == []  # no file was read whole


def test_two_sources_load_at_once_without_waiting_for_each_other(db, warehouse_url, tmp_path):
    """The ingest DAG loads each source in its own task: one source's open load must not hold
    another's (a lock taken for the tables, held until the load commits, did)."""
    write_drop(tmp_path, "pos_transactions", {"p.csv": f"{POS_HEADER}\n{POS_GOOD}\n".encode()})
    write_drop(tmp_path, "web_events", {"w.jsonl": f"{WEB_GOOD}\n".encode()})
    landing = LandingZone.from_uri(str(tmp_path))
    load_drop(db, landing, "pos_transactions", DT)  # the warehouse's first load makes the tables
    db.commit()
    load_drop(db, landing, "pos_transactions", DT)  # a load of one source, not yet committed
    other = psycopg2.connect(warehouse_url)
    try:
        with other.cursor() as cur:
            cur.execute("set lock_timeout = '5s'")  # waiting for the open load would fail here
        report = load_drop(other, landing, "web_events", DT)
        other.commit()
    finally:
        other.close()
    assert report.rows_loaded == 1
    db.commit()
    assert count(db, "select count(*) from raw.pos_transactions") == 1


def test_a_tab_between_a_json_values_tokens_loads_the_same_from_a_batch(db, tmp_path, monkeypatch, caplog):
    """A raw tab is JSON whitespace (no backslash in the batch): the batch still escapes it in the
    COPY text, and the row lands as the row reader lands it."""
    lines = [
        _web("t-1", properties={"a": "x"}).replace('"properties": {"a": "x"}', '"properties": {"a":\t"x"}'),
        _web("t-2"),
    ]
    assert "\t" in lines[0] and "\\" not in "".join(lines)
    write_drop(tmp_path, "web_events", {"w.jsonl": ("\n".join(lines) + "\n").encode()})
    landing = LandingZone.from_uri(str(tmp_path))
    taken = []
    ready_text = jsonl_batches._BatchReader.ready_text
    monkeypatch.setattr(
        jsonl_batches._BatchReader,
        "ready_text",
        lambda *args: taken.append(ready_text(*args) is not None) or ready_text(*args),
    )
    in_batches = _drop_outcome(db, landing, "web_events", "properties::text")
    assert taken == [True] and "raw refused" not in caplog.text  # copied straight into raw, not loaded again
    monkeypatch.setattr("cdp.ingest.staging.read_jsonl_segments", lambda *args, **kwargs: None)
    assert _drop_outcome(db, landing, "web_events", "properties::text") == in_batches
    assert in_batches[0][0][2] == '{"a": "x"}'
