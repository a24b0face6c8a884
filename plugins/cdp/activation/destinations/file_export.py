"""File export: one file set per activation and logical date, to a folder or to S3 (boto3), CSV or Parquet.

Keys are deterministic (`<prefix>/<activation>/dt=<date>/part-NNNNN.<csv|parquet>`), so a
rerun overwrites rather than adds. A set is split into parts of `batch_size` rows (100,000 by
default). `_manifest.json` is written last and lists every part with its rows, bytes and
SHA-256: a reader knows the set is complete when the manifest is there (it is deleted before a
set is rewritten). Mode `full` exports the whole audience each day; `incremental` exports only
the changes, with an `_action` column (add, update, remove), the first run being every member.

Where: the activation's `options.base_uri`, else the connection's `extra.base_uri` (an `aws`
connection whose login/password are the access key and secret, with optional `region_name`
and `endpoint_url`), else `CDP_EXPORTS_URI` or `.cdp/exports` (the sandbox).

Errors: boto3 makes one attempt per call (the engine owns retries, backoff and their counts),
with the activation's `retry.timeout_seconds` as connect and read timeout. No connection, a
timeout, a 5xx, `RequestTimeout` or `InternalError` is transient; `SlowDown` (and S3's other
throttling codes) is throttling; every other S3 error (`AccessDenied`, `NoSuchBucket`,
`InvalidAccessKeyId`, `SignatureDoesNotMatch`, missing credentials, ...) or a local folder that
cannot be written makes the destination unusable: the run stops and the set waits in the outbox.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cdp import settings
from cdp.activation.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    DestinationUnusable,
    Instance,
    Retryable,
    Throttled,
    mapped,
    scrub,
)

FORMATS = ("csv", "parquet")
S3_THROTTLING = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}
S3_TRANSIENT = {"RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "OperationAborted"}


class FileExport(Destination):
    type_name = "file_export"
    modes = ("full", "incremental")
    atomic_modes = ("full", "incremental")
    max_batch_size = 100_000  # rows per part
    pool_slots = 4

    def __init__(self, activation, instance: Instance):
        super().__init__(activation, instance)
        base = activation.options.get("base_uri") or instance.extra.get("base_uri") or instance.url
        self.base_uri = str(base or settings.exports_uri()).rstrip("/")
        self.format = activation.options.get("format", "csv")
        self.prefix = f"{activation.name}"
        self._s3 = None

    @classmethod
    def check(cls, activation) -> list[str]:
        if activation.options.get("format", "csv") not in FORMATS:
            return [f"options.format must be one of {', '.join(FORMATS)}"]
        return []

    @classmethod
    def payload(cls, activation, profile_id: str, row: dict[str, Any]):
        return mapped(activation, profile_id, row), None

    @classmethod
    @contextlib.contextmanager
    def sandbox(cls, activation) -> Iterator[Instance]:
        yield Instance(activation.connection_id, url=settings.exports_uri(), sandbox=True)

    # -- storage -----------------------------------------------------------------------------------

    def _s3_location(self, key: str) -> tuple[str, str]:
        parts = urlsplit(self.base_uri)
        return parts.netloc, "/".join(p for p in (parts.path.strip("/"), key) if p)

    def _client(self):
        if self._s3 is None:
            import boto3
            from botocore.config import Config

            extra = self.instance.extra
            timeout = self.activation.retry.timeout_seconds
            self._s3 = boto3.client(
                "s3",
                endpoint_url=extra.get("endpoint_url") or os.environ.get("AWS_ENDPOINT_URL") or None,
                region_name=extra.get("region_name"),
                aws_access_key_id=self.instance.login or None,
                aws_secret_access_key=self.instance.password or None,
                # One attempt per call: the engine retries, so every retry is counted, logged and bounded once.
                config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"total_max_attempts": 1}),
            )
        return self._s3

    def _write(self, key: str, body: bytes) -> str:
        if self.base_uri.startswith("s3://"):
            bucket, full_key = self._s3_location(key)
            with storage_errors("PutObject"):
                self._client().put_object(Bucket=bucket, Key=full_key, Body=body)
            return f"s3://{bucket}/{full_key}"
        path = Path(self.base_uri.removeprefix("file://")) / key
        with storage_errors("write"):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_bytes(body)
            tmp.replace(path)  # readers never see a half-written file
        return str(path)

    def _list(self, key_prefix: str) -> list[str]:
        """Keys (relative to the base) that start with `key_prefix`."""
        if self.base_uri.startswith("s3://"):
            bucket, full_prefix = self._s3_location(key_prefix)
            root = full_prefix[: len(full_prefix) - len(key_prefix)]
            with storage_errors("ListObjectsV2"):
                pages = self._client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=full_prefix)
                return [obj["Key"][len(root) :] for page in pages for obj in page.get("Contents", [])]
        folder = Path(self.base_uri.removeprefix("file://")) / Path(key_prefix).parent
        name = Path(key_prefix).name
        base = Path(self.base_uri.removeprefix("file://"))
        return [str(p.relative_to(base)) for p in folder.glob(f"{name}*")] if folder.is_dir() else []

    def _delete(self, keys: list[str]) -> None:
        for key in keys:
            if self.base_uri.startswith("s3://"):
                bucket, full_key = self._s3_location(key)
                with storage_errors("DeleteObject"):
                    self._client().delete_object(Bucket=bucket, Key=full_key)
            else:
                with storage_errors("delete"):
                    Path(self.base_uri.removeprefix("file://"), key).unlink(missing_ok=True)

    # -- encoding ----------------------------------------------------------------------------------

    def columns(self) -> list[str]:
        a = self.activation
        extra = ["_action"] if a.mode == "incremental" else []
        return ["profile_id", *a.identities, *a.fields, *extra]

    def _encode(self, rows: list[dict]) -> bytes:
        columns = self.columns()
        if self.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            # Text columns, as in the CSV: every part of a set has the same schema whatever its values.
            schema = pa.schema([(c, pa.string()) for c in columns])
            table = pa.Table.from_pylist([{c: _text(r.get(c)) for c in columns} for r in rows], schema=schema)
            sink = io.BytesIO()
            pq.write_table(table, sink)
            return sink.getvalue()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode("utf-8")

    # -- delivery ----------------------------------------------------------------------------------

    def _folder(self, batch: Batch) -> str:
        return f"{self.prefix}/dt={batch.dt.isoformat()}"

    def send(self, batch: Batch) -> BatchResult:
        folder = self._folder(batch)
        if batch.seq == 1:
            self._delete([f"{folder}/_manifest.json"])  # the set is incomplete until its manifest is back
        incremental = self.activation.mode == "incremental"
        rows = [{**item.payload, **({"_action": item.action} if incremental else {})} for item in batch.items]
        name = f"part-{batch.seq - 1:05d}.{self.format}"
        body = self._encode(rows)
        uri = self._write(f"{folder}/{name}", body)
        digest = hashlib.sha256(body).hexdigest()
        return BatchResult(detail={"name": name, "uri": uri, "rows": len(rows), "bytes": len(body), "sha256": digest})

    def complete(self, batches: list[tuple[Batch, BatchResult]]) -> dict[str, Any]:
        first = batches[0][0]
        folder = self._folder(first)
        parts = [result.detail for _, result in sorted(batches, key=lambda pair: pair[0].seq)]
        names = {part["name"] for part in parts}
        self._delete([k for k in self._list(f"{folder}/part-") if k.rsplit("/", 1)[-1] not in names])
        manifest = {
            "activation": self.activation.name,
            "audience": self.activation.audience,
            "run_id": first.run_id,
            "dt": first.dt.isoformat(),
            "as_of": f"{(first.dt + timedelta(days=1)).isoformat()}T00:00:00Z",
            "mode": self.activation.mode,
            "format": self.format,
            "columns": self.columns(),
            "rows": sum(part["rows"] for part in parts),
            "parts": parts,
        }
        uri = self._write(f"{folder}/_manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        return {"manifest": uri, "parts": len(parts), "rows": manifest["rows"]}


@contextlib.contextmanager
def storage_errors(operation: str) -> Iterator[None]:
    """S3 (botocore) and local file errors as the engine's: transient, throttling, or the destination unusable."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error") or {}
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        code = str(error.get("Code") or status)
        reason = f"S3 {operation}: {code} (HTTP {status}) {scrub(error.get('Message') or '', 200)}".rstrip()
        if code in S3_THROTTLING:
            raise Throttled(reason) from None
        if code in S3_TRANSIENT or status >= 500:
            raise Retryable(reason) from None
        raise DestinationUnusable(reason) from None
    except (ConnectionError, HTTPClientError) as exc:  # no connection, connect or read timeout, connection reset
        raise Retryable(f"S3 {operation}: {type(exc).__name__}") from None
    except BotoCoreError as exc:  # no credentials, a bad endpoint or region: configuration
        raise DestinationUnusable(f"S3 {operation}: {type(exc).__name__}: {scrub(str(exc), 200)}") from None
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise DestinationUnusable(f"cannot {operation} in the export folder: {why}") from None


def _text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)  # numbers and booleans as the CSV writes them
