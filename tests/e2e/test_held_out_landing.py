"""`cdp run` on a landing zone written by hand from the contract, not by the project's generator.

Two days of all seven sources as other systems write them: columns in other orders, optional
columns and keys left out, an unknown column, a byte-order mark, CRLF line ends, gzip, quoted
commas and line breaks, names in many scripts, the contract's own identifier spellings, change
rows that carry only what changed, a status update without the order's items, an event
collected twice. The run must succeed, and what each row left out must not be read as cleared.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

pytestmark = pytest.mark.e2e
D1, D2 = "2025-06-01", "2025-06-02"


def drop(root: Path, source: str, dt: str, name: str, data: bytes) -> None:
    folder = root / source / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    (folder / "_SUCCESS").touch()


def jsonl(rows: list[dict], end: str = "\n") -> bytes:
    return (end.join(json.dumps(r, ensure_ascii=False) for r in rows) + end).encode()


def write_landing(root: Path) -> None:
    crm1 = (
        "updated_at,last_name,first_name,customer_id,email,phone,country,city,postal_code,address_line1,vip_flag\r\n"
        "2025-06-01T08:00:00Z,Müller,Zoë,C-100, Zoe.Muller@Example.COM ,+49 30 1234567,DE,Berlin,10115,"
        '"Unter den Linden 5, Hinterhaus",yes\r\n'
        "2025-06-01 09:30:00,李,小龙,C-200,bruce.lee@example.org,555.010.2233,US,San Francisco,94103,1 Market St,\r\n"
        '2025-06-01T10:00:00+02:00,O\'Brien,"Siobhán ""Shiv""",C-500,N/A,0000000000,IE,Dublin,D02,'
        '"12, Main St\r\nApt 4",no\r\n'
    )
    drop(root, "crm_customers", D1, "export.csv", b"\xef\xbb\xbf" + crm1.encode())
    crm2 = "customer_id,updated_at,last_name\nC-100,2025-06-02T07:00:00Z,Schmidt\n"  # only what changed
    drop(root, "crm_customers", D2, "delta.csv", crm2.encode())

    loyalty1 = (
        "country,tier,loyalty_id,email,phone,points_balance,updated_at,customer_id\n"
        "DE,gold,L-1,ZOE.MULLER@EXAMPLE.COM,+49 (30) 123-4567,1200,2025-06-01T08:10:00Z,C-100\n"
        "JP,bronze,L-7,hanako@example.jp,090-1234-5678,0,2025-06-01T12:00:00+09:00,\n"
    )
    drop(root, "loyalty_members", D1, "members.csv.gz", gzip.compress(loyalty1.encode()))
    loyalty2 = "loyalty_id,updated_at,tier,points_balance\nL-1,2025-06-02T09:00:00Z,platinum,5400\n"
    drop(root, "loyalty_members", D2, "members.csv.gz", gzip.compress(loyalty2.encode()))

    till = (
        "store_id,transaction_id,transacted_at,total_amount,item_count,loyalty_id\r\n"  # no currency column
        "S-01,T-1,2025-06-01T10:00:00Z,120.50,3,L-1\r\nS-01,T-2,2025-06-01T10:05:00Z,-20.00,1,L-1\r\n"
    )
    drop(root, "pos_transactions", D1, "till.csv", till.encode())
    drop(root, "pos_transactions", D2, "till.csv", b"transaction_id,store_id,transacted_at\nT-5,S-01,2025-06-02\n")

    items = [{"sku": "SKU-3", "category": "jackets", "quantity": 1, "unit_price": 200.0}]
    order = {
        "order_id": "O-3",
        "customer_id": "C-200",
        "email": "bruce.lee@example.org",
        "phone": "+1 (555) 010-2233",
        "ordered_at": "2025-06-01T13:00:00Z",
        "status": "shipped",
        "currency": "USD",
        "total_amount": 200.0,
        "ecid": "ecid-bruce",
        "items": items,
    }
    drop(root, "ecommerce_orders", D1, "orders.jsonl", jsonl([order]))
    update = {"order_id": "O-3", "status": "returned", "ordered_at": "2025-06-01T13:00:00Z"}
    update["updated_at"] = "2025-06-02T16:00:00Z"  # no identifiers, no items: only the new status
    drop(root, "ecommerce_orders", D2, "orders-1.jsonl.gz", gzip.compress(jsonl([update], "\r\n")))

    event = {"event_id": "e1", "event_type": "login", "occurred_at": "2025-06-01T07:01:00Z", "ecid": "ecid-zoe"}
    search = {"event_id": "e2", "event_type": "search", "occurred_at": "2025-06-01T08:00:00Z", "ecid": "ecid-x"}
    search["properties"] = {"query": "chaussures d’été — 靴"}
    drop(root, "web_events", D1, "events.jsonl", jsonl([{**event, "customer_id": "C-100"}, search, search]))
    drop(root, "web_events", D2, "events.jsonl", jsonl([{**event, "event_id": "e3", "occurred_at": f"{D2}T07:00:00Z"}]))

    consent = (
        "collected_at,status,purpose,subject_value,subject_type\n"
        "2025-06-01T08:00:00Z,granted,email_marketing,ZOE.MULLER@example.com,email\n"
        "2025-06-01T09:00:00Z,granted,ad_targeting,+1 555 010 2233,phone\n"
    )
    drop(root, "consent_events", D1, "prefs.csv", consent.encode())
    denied = "subject_type,subject_value,purpose,status,collected_at,source\ncustomer_id,C-200,email_marketing,denied,"
    drop(root, "consent_events", D2, "prefs.csv", (denied + "2025-06-02T10:00:00Z,unsubscribe_link\n").encode())
    drop(root, "privacy_requests", D1, "requests.csv", b"subject_value,request_type,request_id,subject_type\n")
    drop(root, "privacy_requests", D2, "requests.csv", b"request_id,request_type,subject_type,subject_value\n")


def rows(url: str, sql: str) -> list[tuple]:
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def profile_of(url: str, namespace: str, value: str) -> str:
    found = rows(
        url,
        f"select profile_id from identity.identity_map where namespace = '{namespace}' and identity_value = '{value}'",
    )
    assert len(found) == 1, (namespace, value, found)
    return found[0][0]


def test_a_hand_written_landing_zone_runs_and_keeps_what_change_rows_leave_out(warehouse_url, tmp_path):
    landing = tmp_path / "landing"
    write_landing(landing)
    cli = Path(sys.executable).parent / "cdp"
    run = subprocess.run(
        [str(cli), "run", "--landing", str(landing), "--start", D1, "--end", D2],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert "Result: all stages succeeded" in run.stdout
    assert rows(warehouse_url, "select count(*) from ingest.load_report where rejected_reason is not null") == [(0,)]
    assert rows(warehouse_url, "select count(*) from ingest.quarantined_rows") == [(0,)]

    # Delivered as written: the byte-order mark is not part of a name, quoted commas and breaks stay.
    (address, first_name), *_ = rows(
        warehouse_url, "select address_line1, first_name from raw.crm_customers where customer_id = 'C-500'"
    )
    assert address == "12, Main St\r\nApt 4" and first_name == 'Siobhán "Shiv"'
    assert rows(
        warehouse_url, f"select _extra->>'vip_flag' from raw.crm_customers where customer_id = 'C-100' and _dt = '{D1}'"
    ) == [("yes",)]

    # A change row that leaves columns out keeps them; the column it carries changes.
    customer = rows(
        warehouse_url,
        "select email, phone, last_name, city from staging.stg_crm__customers where customer_id = 'C-100'",
    )
    assert customer == [("zoe.muller@example.com", "+49301234567", "Schmidt", "Berlin")]
    member = rows(warehouse_url, "select customer_id, email, tier from staging.stg_loyalty__members")
    assert ("C-100", "zoe.muller@example.com", "platinum") in member
    (ecid, status, has_items), *_ = rows(
        warehouse_url,
        "select ecid, status, items is not null from staging.stg_ecommerce__orders where order_id = 'O-3'",
    )
    assert (ecid, status, has_items) == ("ecid-bruce", "returned", True)

    # So the people stay whole: card, CRM id, email, the contract's own phone spellings, cookies.
    zoe = profile_of(warehouse_url, "crm", "C-100")
    assert profile_of(warehouse_url, "loyalty", "L-1") == zoe
    assert profile_of(warehouse_url, "email", "zoe.muller@example.com") == zoe
    assert profile_of(warehouse_url, "ecid", "ecid-zoe") == zoe
    bruce = profile_of(warehouse_url, "crm", "C-200")
    assert profile_of(warehouse_url, "phone", "+15550102233") == bruce
    assert profile_of(warehouse_url, "ecid", "ecid-bruce") == bruce != zoe
    rejected = rows(warehouse_url, "select namespace, reason from identity.rejected_identities order by 1")
    assert ("email", "blocked_value") in rejected and ("phone", "blocked_value") in rejected
