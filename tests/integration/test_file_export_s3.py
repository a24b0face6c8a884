"""The file export to S3 (moto's server mode, over HTTP): parts, deterministic keys, manifest last, CSV and Parquet.

S3 failures are real where moto or the network can produce them (a missing bucket, a closed
port, a server that never answers) and otherwise injected as S3 would answer (a botocore
`before-send` hook returning the HTTP answer, which botocore parses as it would S3's).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import socket
from datetime import date

import boto3
import pyarrow.parquet as pq
import pytest
from activation_world import connection_env, consented, execute, rows, seed
from botocore.awsrequest import AWSResponse

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
    "retry": {"base_seconds": 0.01, "max_seconds": 0.05, "timeout_seconds": 2, "attempts": 3},
}
FOLDER = "brand/partner_file/dt=2026-11-01"
PARTS = [f"{FOLDER}/part-0000{i}.csv" for i in range(3)]


def export_to(monkeypatch, endpoint: str, name: str) -> None:
    """The activation's connection: bucket `name` on the S3 at `endpoint`."""
    connection_env(
        monkeypatch,
        "test_s3",
        conn_type="aws",
        login="k",
        password="s",
        extra={"base_uri": f"s3://{name}/brand", "endpoint_url": endpoint, "region_name": "us-east-1"},
    )


@pytest.fixture
def s3(s3_endpoint):
    return boto3.client(
        "s3", endpoint_url=s3_endpoint, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1"
    )


@pytest.fixture
def bucket_name(request):
    return "exports-" + hashlib.sha256(request.node.name.encode()).hexdigest()[:10]


@pytest.fixture
def bucket(s3, s3_endpoint, bucket_name, monkeypatch):
    s3.create_bucket(Bucket=bucket_name)
    export_to(monkeypatch, s3_endpoint, bucket_name)
    return s3, bucket_name


@pytest.fixture
def events():
    """The events of the boto3 session the export's client is made from (a fresh default session per test)."""
    boto3.setup_default_session()
    yield boto3.DEFAULT_SESSION.events
    boto3.DEFAULT_SESSION = None


@pytest.fixture
def puts(events):
    """The keys the export writes, in order (a botocore event hook; the requests still go to moto)."""
    written: list[str] = []
    events.register("before-parameter-build.s3.PutObject", lambda params, **_: written.append(params["Key"]))
    return written


@pytest.fixture
def answers(events):
    """S3 answers to give instead of sending, keyed by (operation, call number): a botocore `before-send` hook."""
    scripted: dict[tuple[str, int], tuple[int, bytes]] = {}
    calls: dict[str, int] = {}

    def answer(request, event_name: str, **_):
        operation = event_name.rsplit(".", 1)[-1]
        calls[operation] = calls.get(operation, 0) + 1
        if (operation, calls[operation]) in scripted:
            status, body = scripted[(operation, calls[operation])]
            return AWSResponse(request.url, status, {"Content-Type": "application/xml"}, _Raw(body))
        return None

    events.register("before-send.s3", answer)
    return scripted


class _Raw:
    """An HTTP body as botocore reads it."""

    def __init__(self, body: bytes):
        self.body = body

    def stream(self, **_):
        yield self.body


def s3_error(code: str, message: str) -> bytes:
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
    ).encode()


def failed_log(db) -> list[tuple]:
    return rows(db, "select outcome, count(*) from activation.sync_log group by outcome order by outcome")


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


def test_a_missing_bucket_stops_cleanly_and_the_rerun_after_it_exists_writes_the_set_once(
    db, s3, s3_endpoint, bucket_name, monkeypatch, puts
):
    seed(db, 9)
    export_to(monkeypatch, s3_endpoint, bucket_name)  # the bucket does not exist yet
    result = run_activation(db, parse_activation(FILE), DAY1)
    assert result.error.startswith("S3 DeleteObject: NoSuchBucket (HTTP 404)")
    assert (result.sent, result.failed, result.retries) == (0, 9, 0)  # not transient: no retry
    assert failed_log(db) == [("failed", 9)]
    reasons = rows(db, "select distinct reason from activation.sync_log")
    assert reasons == [(result.error,)] and "@" not in result.error
    assert rows(db, "select count(*) from activation.outbox")[0][0] == 3  # the set waits for the next run

    s3.create_bucket(Bucket=bucket_name)
    rerun = run_activation(db, parse_activation(FILE), DAY1)
    assert (rerun.error, rerun.resumed, rerun.sent) == (None, 3, 9)
    assert puts == [*PARTS, f"{FOLDER}/_manifest.json"]  # every object written once
    assert keys(s3, bucket_name, FOLDER) == [f"{FOLDER}/_manifest.json", *PARTS]
    assert json.loads(body(s3, bucket_name, f"{FOLDER}/_manifest.json"))["rows"] == 9
    sent = rows(db, "select count(*), count(distinct profile_id) from activation.sync_log where outcome = 'sent'")
    assert sent == [(9, 9)] and rows(db, "select count(*) from activation.outbox")[0][0] == 0


@pytest.mark.parametrize(
    ("status", "error", "throttled"),
    [
        (503, b"", False),  # a bare 503 from a load balancer
        (500, s3_error("InternalError", "We encountered an internal error. Please try again."), False),
        (503, s3_error("SlowDown", "Please reduce your request rate."), True),
        (400, s3_error("RequestTimeout", "Your socket connection to the server was not read from"), False),
    ],
)
def test_a_transient_s3_error_on_one_put_is_retried_and_the_export_completes(
    db, bucket, answers, puts, status, error, throttled
):
    s3, name = bucket
    seed(db, 9)
    answers[("PutObject", 2)] = (status, error)
    result = run_activation(db, parse_activation(FILE), DAY1)
    assert (result.error, result.sent, result.retries, result.throttled) == (None, 9, 1, int(throttled))
    assert puts == [PARTS[0], PARTS[1], PARTS[1], PARTS[2], f"{FOLDER}/_manifest.json"]
    manifest = json.loads(body(s3, name, f"{FOLDER}/_manifest.json"))
    assert [p["rows"] for p in manifest["parts"]] == [4, 4, 1]
    assert all(
        hashlib.sha256(body(s3, name, f"{FOLDER}/{p['name']}")).hexdigest() == p["sha256"] for p in manifest["parts"]
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (403, "AccessDenied"),
        (403, "InvalidAccessKeyId"),
        (403, "SignatureDoesNotMatch"),
        (404, "NoSuchBucket"),
    ],
)
def test_an_unusable_bucket_stops_the_run_without_retrying_and_keeps_the_set(db, bucket, answers, status, code):
    s3, name = bucket
    seed(db, 9)
    answers[("PutObject", 2)] = (status, s3_error(code, "refused"))
    result = run_activation(db, parse_activation(FILE), DAY1)
    assert result.error == f"S3 PutObject: {code} (HTTP {status}) refused"
    assert (result.retries, result.failed) == (0, 9)
    assert failed_log(db) == [("failed", 9)]
    assert keys(s3, name, FOLDER) == [PARTS[0]]  # no manifest: a reader sees no complete set
    rerun = run_activation(db, parse_activation(FILE), DAY1)  # S3 is fine again: the same set, completed
    assert (rerun.error, rerun.sent, rerun.resumed) == (None, 9, 2)  # part 1 was taken: not sent again
    assert keys(s3, name, FOLDER) == [f"{FOLDER}/_manifest.json", *PARTS]


def test_the_manifest_write_is_retried_like_a_part(db, bucket, answers):
    s3, name = bucket
    seed(db, 9)
    answers[("PutObject", 4)] = (503, s3_error("SlowDown", "Please reduce your request rate."))
    result = run_activation(db, parse_activation(FILE), DAY1)
    assert (result.error, result.retries, result.throttled) == (None, 1, 1)
    assert json.loads(body(s3, name, f"{FOLDER}/_manifest.json"))["rows"] == 9


def test_no_connection_and_no_answer_are_retried_then_stop_cleanly(db, monkeypatch):
    seed(db, 5)
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    export_to(monkeypatch, f"http://127.0.0.1:{port}", "exports")
    result = run_activation(db, parse_activation(FILE), DAY1)
    assert result.error == "S3 DeleteObject: EndpointConnectionError (gave up after 3 attempts)"
    assert (result.retries, result.failed) == (2, 5)

    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        export_to(monkeypatch, f"http://127.0.0.1:{silent.getsockname()[1]}", "exports")
        entry = {**FILE, "retry": {**FILE["retry"], "timeout_seconds": 0.3, "attempts": 2}}
        result = run_activation(db, parse_activation(entry), DAY1)
    assert result.error == "S3 DeleteObject: ReadTimeoutError (gave up after 2 attempts)"
    assert failed_log(db) == [("failed", 5)]  # every record logged failed (once per run id), none lost
