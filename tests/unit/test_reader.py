"""Reading landing files: header matching, unknown columns, whole-file rejections, JSONL defects."""

from __future__ import annotations

import gzip
import io
import re

import pytest

from cdp.contracts import SOURCES
from cdp.ingest.reader import FileRejected, read_records
from cdp.landing import LandingFile


def records(name: str, data: bytes, source: str):
    file = LandingFile(name=name, uri=f"/landing/{name}", size=len(data))
    return list(read_records(io.BytesIO(data), file, SOURCES[source]))


def test_csv_columns_matched_by_name_in_any_order_and_unknown_columns_kept():
    data = b"updated_at,favourite_colour,customer_id,email\n2026-11-01T10:00:00Z,blue,C-1,a@b.com\n"
    (record,) = records("c.csv", data, "crm_customers")
    assert record.values["customer_id"] == "C-1"
    assert record.values["email"] == "a@b.com"
    assert record.values["phone"] is None  # absent optional column
    assert record.extra == {"favourite_colour": "blue"}
    assert record.line == 2 and record.error is None


def test_csv_line_numbers_follow_multiline_quoted_fields():
    data = b'customer_id,updated_at,address_line1\nC-1,2026-11-01,"1 Main St\nFlat 2"\nC-2,2026-11-01,x\n'
    first, second = records("c.csv", data, "crm_customers")
    assert (first.line, second.line) == (2, 4)
    assert first.values["address_line1"] == "1 Main St\nFlat 2"


def test_csv_row_with_wrong_field_count_is_flagged_not_fatal():
    data = b"customer_id,updated_at\nC-1,2026-11-01,extra\nC-2,2026-11-01\n"
    bad, good = records("c.csv", data, "crm_customers")
    assert bad.error == "expected 2 fields, found 3"
    assert good.error is None


def test_gzip_csv_with_byte_order_mark_reads():
    data = gzip.compress("\ufeffcustomer_id,updated_at\nC-1,2026-11-01\n".encode())
    (record,) = records("c.csv.gz", data, "crm_customers")
    assert record.values["customer_id"] == "C-1"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.csv", b"", "empty file"),
        ("blank.csv", b"\n\n", "empty file"),
        ("latin1.csv", "customer_id,updated_at\nC-1,Zoë\n".encode("latin-1"), "not valid UTF-8"),
        ("cut.csv.gz", gzip.compress(b"customer_id,updated_at\n" * 500)[:40], "truncated gzip"),
        ("nogzip.csv.gz", b"customer_id,updated_at\n", "gzip"),
        ("missing.csv", b"email,updated_at\nx@y.z,2026-11-01\n", "missing required column(s): customer_id"),
        ("dupe.csv", b"customer_id,customer_id,updated_at\n", "duplicate columns"),
        ("wrong.jsonl", b'{"customer_id": "C-1"}\n', "delivered as csv"),
        ("notes.txt", b"hello", "unsupported file type"),
    ],
)
def test_whole_file_defects_reject_the_file(name, data, reason):
    with pytest.raises(FileRejected, match=re.escape(reason)):
        records(name, data, "crm_customers")


def test_jsonl_defects_travel_with_the_record():
    data = (
        b'{"event_id": "e1", "event_type": "login", "occurred_at": "2026-11-01T10:00:00Z", "ecid": "d1",'
        b' "properties": {"url": "/"}, "new_field": 1}\n'
        b"{not json\n"
        b"[1, 2]\n"
        b'{"event_id": "e3", "event_type": "search", "occurred_at": "2026-11-01", "ecid": {"nested": true}}\n'
    )
    good, not_json, not_object, nested = records("e.jsonl", data, "web_events")
    assert good.error is None and good.extra == {"new_field": 1}
    assert good.values["properties"] == '{"url":"/"}'
    assert not_json.error.startswith("invalid JSON") and not_json.line == 2
    assert not_object.error == "not a JSON object"
    assert (nested.error_column, nested.error) == ("ecid", "nested value where string expected")


@pytest.mark.parametrize(
    "number",
    [
        "59.90",  # its scale too
        "12345678901234567890.12",  # beyond a float's 17 digits
        "0.1000000000000000055511151231257827",
        "1E+3",
        "-0.0",
        "123456789012345678901234567890",
        "true",
    ],
)
def test_jsonl_numbers_and_booleans_keep_their_json_spelling(number):
    data = (
        '{"order_id": "O-1", "ordered_at": "2026-11-01", "status": "placed", "customer_id": ' + number + ","
        ' "total_amount": ' + number + ', "items": [{"price": 1.5}]}\n'
    ).encode()
    (record,) = records("o.jsonl", data, "ecommerce_orders")
    assert (record.values["total_amount"], record.values["customer_id"]) == (number, number)
    assert record.values["items"] == '[{"price":1.5}]' and record.error is None


def test_nul_character_is_flagged():
    data = b"customer_id,updated_at,first_name\nC-1,2026-11-01,a\x00b\n"
    (record,) = records("c.csv", data, "crm_customers")
    assert (record.error_column, record.error) == ("first_name", "contains a NUL character")
    assert record.values["first_name"] == "a\ufffdb"  # shown in quarantine, which cannot hold a NUL either


def test_a_nul_anywhere_in_a_row_is_its_defect_and_is_shown_as_a_replacement_character():
    (row,) = records("c.csv", b"customer_id,updated_at,note\nC-1,2026-11-01,a\x00b\n", "crm_customers")
    assert (row.error_column, row.error, row.extra) == ("note", "contains a NUL character", {"note": "a\ufffdb"})
    line = '{"event_id": "e", "properties": {"k\\u0000": ["\\u0000"]}, "x": "\\u0000", "ecid": "d\\u0000"}'
    (row,) = records("w.jsonl", f"{line}\n".encode(), "web_events")
    assert (row.error_column, row.error) == ("ecid", "contains a NUL character")  # the contract's columns first
    assert row.values == dict.fromkeys(SOURCES["web_events"].column_names)
    assert row.extra == {"_raw": line}  # the escapes stay text, which Postgres holds


OUT_OF_RANGE = "a number out of range (NaN, Infinity or beyond 1.8e308)"
EVENT = '"event_id": "e", "event_type": "login", "occurred_at": "2026-11-01", "ecid": "d"'
AWKWARD_LINES = [
    "{" + EVENT + "}\n",
    " \t{" + EVENT + "} \r\n",
    "{" + EVENT + "}",
    "{" + EVENT + "} x\n",
    "{" + EVENT + "}{}\n",
    "\ufeff{" + EVENT + "}\n",
    "{" + EVENT + ', "properties": {"n": NaN, "f": 1e400, "x": 1.50, "big": 123456789012345678901234567890}}\n',
    "{" + EVENT + ', "properties": [{"deep": [[["é", "\\ud83c\\udf89", "\\u2028"]]]}, true, null]}\n',
    "{" + EVENT + ', "email": "a\\u0000b"}\n',
    "{" + EVENT + ", \n",
    '"just a string"\n',
    "{" + EVENT + ', "event_id": "second"}\n',
    '{"event_id": 17, "event_type": "login", "occurred_at": "2026-11-01", "ecid": true, "customer_id": 1.50,'
    ' "email": null}\n',
    "{" + EVENT + ', "properties": { "x" : 1.50, "e": 1E+2 }}\n',
]


def test_jsonl_rows_are_what_json_loads_makes_of_each_line(monkeypatch):
    """Most lines are read by msgspec, the rest by json's scanner called directly; the rows are
    those of json.loads, outcome and error message alike, a number keeping its digits on both
    paths (in a scalar column its spelling, in a JSON column its value)."""
    import msgspec

    import cdp.ingest.reader as reader

    data = "".join(line if line.endswith("\n") else line + "\n" for line in AWKWARD_LINES).encode()
    fast = records("w.jsonl", data, "web_events")

    def no_decoder(source):
        def decode(line):
            raise msgspec.DecodeError("not this way")

        return decode

    def no_scan(text, index):
        raise StopIteration(index)

    monkeypatch.setattr(reader, "_object_decoder", no_decoder)
    monkeypatch.setattr(reader, "_scan_json", no_scan)
    plain = records("w.jsonl", data, "web_events")
    assert fast == plain
    assert [r.line for r in fast if r.error is None] == [1, 2, 3, 8, 12, 13, 14]
    assert fast[3].error == "invalid JSON (Extra data at column 84)"
    assert (fast[6].error_column, fast[6].error) == ("properties", OUT_OF_RANGE)
    assert [fast[12].values[c] for c in ("event_id", "ecid", "customer_id", "email")] == ["17", "true", "1.50", None]
    assert fast[13].values["properties"] == '{"x":1.50,"e":1E+2}'
    assert fast[13].absent == ("customer_id", "email")


@pytest.mark.parametrize(
    "number",
    ["59.90", "12345678901234567890.12", "0.1000000000000000055511151231257827", "1E+3", "-0.0", "1e-5", "2.5e-300"],
)
@pytest.mark.parametrize("path", ["msgspec", "json"])
def test_a_number_inside_a_json_column_keeps_every_digit_on_either_path(number, path):
    """A JSON column's number reaches jsonb as the value delivered, not as the nearest float (an
    unknown key sends the line to json's path)."""
    import json
    from decimal import Decimal

    unknown = ', "campaign": 7' if path == "json" else ""
    line = (
        '{"order_id": "O-1", "items": [{"price": '
        + number
        + ', "qty": 2}], "shipping_address": {"lat": '
        + number
        + "}"
        + unknown
        + "}\n"
    )
    (record,) = records("o.jsonl", line.encode(), "ecommerce_orders")
    assert record.error is None and bool(record.extra) == (path == "json")
    items = json.loads(record.values["items"], parse_float=Decimal)
    address = json.loads(record.values["shipping_address"], parse_float=Decimal)
    assert items == [{"price": Decimal(number), "qty": 2}] and address == {"lat": Decimal(number)}
    assert str(items[0]["price"]) == str(Decimal(number))  # the scale too: 59.90, not 59.9


@pytest.mark.parametrize("path", ["msgspec", "json"])
def test_a_number_inside_a_json_column_beyond_a_float_is_judged_as_json_judges_it(path):
    """Beyond a float's range json's reading decides on either path: an infinite number is
    quarantined, a vanishing one loads as the float json reads (0.0)."""
    unknown = ', "campaign": 7' if path == "json" else ""
    lines = "".join(
        '{"order_id": "O-1", "items": [{"price": ' + n + "}]" + unknown + "}\n" for n in ("1e400", "1e-400")
    )
    huge, tiny = records("o.jsonl", lines.encode(), "ecommerce_orders")
    assert (huge.error_column, huge.error) == ("items", OUT_OF_RANGE)
    assert tiny.error is None and tiny.values["items"] == '[{"price":0.0}]'


def test_jsonl_lines_beyond_the_parsers_limits_or_beyond_unicode_are_quarantined_not_fatal():
    deep = '{"event_id": "e", "properties": ' + "[" * 5000 + "]" * 5000 + "}"
    long_number = '{"event_id": "e", "properties": {"n": 1' + "0" * 5000 + "}}"
    half_pair = '{"event_id": "e\\ud800", "properties": {"k": ["\\uDC00"]}}'
    pair = '{"event_id": "e\\ud83c\\udf89"}'
    data = f"{deep}\n{long_number}\n{half_pair}\n{pair}\n{{{EVENT}}}\n".encode()
    deep_row, number_row, half_pair_row, pair_row, good = records("w.jsonl", data, "web_events")
    assert deep_row.error == "invalid JSON (nested too deeply)"
    assert number_row.error == "invalid JSON (a number too long)"
    assert half_pair_row.error == "invalid JSON (an unpaired surrogate escape)"
    assert half_pair_row.extra == {"_raw": half_pair}
    assert pair_row.error is None and pair_row.values["event_id"] == "e\U0001f389"
    assert good.error is None and good.line == 5
