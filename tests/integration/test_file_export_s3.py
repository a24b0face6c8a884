"""The file export to S3 (moto's server mode, over HTTP): parts, deterministic keys, manifest last, CSV and Parquet."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import date

import boto3
import pyarrow.parquet as pq
import pytest
from activation_world import connection_env, consented, execute, seed

from cdp.activation.config import parse_activation
from cdp.activation.engine import run_activation

pytestmark = pytest.mark.integration
DAY1, DAY2 = date(2026, 11, 1), date(2026, 11, 2)
FILE = {
    "name": "partner_file",
    "audience": "aud_test",
    "destination": "file_export",
    "connection": "test_s3",
    "purpose": "email_marketing",
    "mode": "full",
    "required": ["email"],
    "fields": {"email": "email", "last_name": "last_name"},
    "batch_size": 4,
}


@pytest.fixture
def bucket(s3_endpoint, monkeypatch, request):
    name = "exports-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]
    s3 = boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )
    s3.create_bucket(Bucket=name)
    connection_env(
        monkeypatch,
        "test_s3",
        conn_type="aws",
        login="k",
        password="s",
        extra={"base_uri": f"s3://{name}/brand", "endpoint_url": s3_endpoint, "region_name": "us-east-1"},
    )
    return s3, name


@pytest.fixture
def puts():
    """The keys the export writes, in order (a botocore event hook; the requests still go to moto)."""
    boto3.setup_default_session()
    written: list[str] = []
    boto3.DEFAULT_SESSION.events.register(
        "before-parameter-build.s3.PutObject", lambda params, **_: written.append(params["Key"])
    )
    yield written
    boto3.DEFAULT_SESSION = None


def keys(s3, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_full_export_in_parts_with_the_manifest_last_and_reruns_overwriting(db, bucket, puts):
    s3, name = bucket
    seed(db, 10, denied={2})
    run_activation(db, parse_activation(FILE), DAY1)
    folder = "brand/partner_file/dt=2026-11-01"
    parts = [f"{folder}/part-0000{i}.csv" for i in range(3)]
    assert keys(s3, name, folder) == [f"{folder}/_manifest.json", *parts]
    assert puts == [*parts, f"{folder}/_manifest.json"]  # the manifest, the completion marker, comes last

    manifest = json.loads(body(s3, name, f"{folder}/_manifest.json"))
    assert (manifest["rows"], manifest["mode"], manifest["format"]) == (9, "full", "csv")
    assert manifest["columns"] == ["profile_id", "email", "last_name"]
    exported = []
    for part in manifest["parts"]:
        data = body(s3, name, f"{folder}/{part['name']}")
        assert part["sha256"] == hashlib.sha256(data).hexdigest() and part["bytes"] == len(data)
        assert part["uri"] == f"s3://{name}/{folder}/{part['name']}"
        exported += [row["profile_id"] for row in csv.DictReader(io.StringIO(data.decode()))]
    assert [p["rows"] for p in manifest["parts"]] == [4, 4, 1]
    assert sorted(exported) == sorted(consented(db))

    puts.clear()
    run_activation(db, parse_activation(FILE), DAY1)
    assert puts == []  # the same set for the same date: nothing written again

    # A correction for the same date shrinks the set: the same keys are rewritten, the stale part removed.
    execute(db, "delete from audiences.aud_test where profile_id in ('P00001', 'P00003')")
    run_activation(db, parse_activation(FILE), DAY1)
    assert keys(s3, name, folder) == [f"{folder}/_manifest.json", *parts[:2]]
    assert json.loads(body(s3, name, f"{folder}/_manifest.json"))["rows"] == 7


def test_incremental_parquet_carries_only_changes_with_their_action(db, bucket):
    s3, name = bucket
    seed(db, 6)
    entry = {**FILE, "mode": "incremental", "options": {"format": "parquet"}, "batch_size": 100}
    run_activation(db, parse_activation(entry), DAY1)
    execute(db, "delete from audiences.aud_test where profile_id = 'P00001'")
    execute(db, "update profiles.profiles set last_name = 'New' where profile_id = 'P00002'")
    result = run_activation(db, parse_activation(entry), DAY2)
    assert result.sent == 2

    first = pq.read_table(io.BytesIO(body(s3, name, "brand/partner_file/dt=2026-11-01/part-00000.parquet")))
    assert first.column("_action").to_pylist() == ["add"] * 6
    second = pq.read_table(io.BytesIO(body(s3, name, "brand/partner_file/dt=2026-11-02/part-00000.parquet")))
    assert second.column_names == ["profile_id", "email", "last_name", "_action"]
    changes = {r["profile_id"]: (r["_action"], r["last_name"]) for r in second.to_pylist()}
    assert changes == {"P00001": ("remove", "Lee1"), "P00002": ("update", "New")}
    manifest = json.loads(body(s3, name, "brand/partner_file/dt=2026-11-02/_manifest.json"))
    assert (manifest["mode"], manifest["format"], manifest["rows"]) == ("incremental", "parquet", 2)

    run_activation(db, parse_activation(entry), date(2026, 11, 3))  # nothing changed: no file set at all
    assert keys(s3, name, "brand/partner_file/dt=2026-11-03") == []
