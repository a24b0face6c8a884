"""Binary COPY fields: each value's bytes as Postgres's binary form has them."""

from __future__ import annotations

import random
import struct
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from cdp.contracts import ColumnType
from cdp.ingest import binary_copy

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _random_timestamp(rng: random.Random) -> str:
    """A timestamp in one of the ready forms Python's fromisoformat also reads."""
    day = datetime(1800, 1, 1) + timedelta(days=rng.randrange(120_000))
    text = day.strftime("%Y-%m-%d")
    if rng.random() < 0.8:
        text += rng.choice("T ") + f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"
        if rng.random() < 0.8:
            text += f":{rng.randrange(60):02d}"
            if rng.random() < 0.5:
                text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 6)))
        offset = rng.random()
        if offset < 0.3:
            text += "Z"
        elif offset < 0.7:
            text += f"{rng.choice('+-')}{rng.randrange(15):02d}:{rng.randrange(60):02d}"
    return text


def _micros(text: str) -> int:
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def test_timestamps_read_as_python_reads_them():
    rng = random.Random(7)
    texts = [_random_timestamp(rng) for _ in range(20_000)]
    assert binary_copy.timestamp_micros(pa.array(texts)).tolist() == [_micros(t) for t in texts]


def test_a_sliced_array_reads_its_own_values():
    texts = pa.array(["2026-11-01", "2026-11-01T10:00:00.5+01:00", "2026-11-02"])
    assert binary_copy.timestamp_micros(texts.slice(1, 1)).tolist() == [_micros("2026-11-01T09:00:00.5+00:00")]


def _fields(pieces: binary_copy.Field, rows: int) -> list[bytes]:
    joined = pc.binary_join_element_wise(*pieces, b"")
    assert len(joined) == rows
    return joined.to_pylist()


def test_fields_carry_their_size_and_an_empty_value_is_null():
    texts = _fields(binary_copy.typed_field(pa.array(["ab", "", "é"]), ColumnType.STRING), 3)
    assert texts == [b"\x00\x00\x00\x02ab", b"\xff\xff\xff\xff", b"\x00\x00\x00\x02\xc3\xa9"]
    integers = _fields(binary_copy.typed_field(pa.array(["+5", "", "-007"]), ColumnType.INTEGER), 3)
    assert integers == [struct.pack(">iq", 8, 5), b"\xff\xff\xff\xff", struct.pack(">iq", 8, -7)]
    booleans = _fields(binary_copy.typed_field(pa.array(["TRUE", "false"]), ColumnType.BOOLEAN), 2)
    assert booleans == [b"\x00\x00\x00\x01\x01", b"\x00\x00\x00\x01\x00"]
    dates = _fields(binary_copy.typed_field(pa.array(["2000-01-02", "1999-12-31"]), ColumnType.DATE), 2)
    assert dates == [struct.pack(">ii", 4, 1), struct.pack(">ii", 4, -1)]
    jsonb = _fields(binary_copy.text_field(pa.array(['{"a":1}', ""]), binary_copy.JSONB), 2)
    assert jsonb == [b'\x00\x00\x00\x08\x01{"a":1}', b"\xff\xff\xff\xff"]


def test_copy_data_frames_the_rows():
    row = [binary_copy.row_header(2), binary_copy.constant_field(b"x"), binary_copy.integer_field([7, 8])]
    header, body, trailer = binary_copy.copy_data(row)
    assert header == b"PGCOPY\n\xff\r\n\x00" + bytes(8) and trailer == b"\xff\xff"
    assert bytes(body) == (b"\x00\x02" + b"\x00\x00\x00\x01x" + struct.pack(">ii", 4, 7)) + (
        b"\x00\x02" + b"\x00\x00\x00\x01x" + struct.pack(">ii", 4, 8)
    )
