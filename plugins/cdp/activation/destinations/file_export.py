"""File export: one CSV set per activation and logical date, to a folder or an S3 prefix.

Keys are deterministic (`<activation>/dt=<date>/part-NNNNN.csv`), so a rerun overwrites
rather than adds; large exports are split into parts; `_manifest.json` is written last and
lists every part with its row count and SHA-256, so a reader knows the set is complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from cdp import settings

ROWS_PER_PART = 100_000


class FileExport:
    type_name = "file_export"
    marketing_actions = ("email_marketing", "sms_marketing", "personalization", "ad_targeting")

    def __init__(self, base_uri: str | None = None):
        self.base_uri = (base_uri or settings.exports_uri()).rstrip("/")

    def _write(self, key: str, body: bytes) -> str:
        if self.base_uri.startswith("s3://"):
            import boto3

            parts = urlsplit(self.base_uri)
            full_key = "/".join(p for p in (parts.path.strip("/"), key) if p)
            client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
            client.put_object(Bucket=parts.netloc, Key=full_key, Body=body)
            return f"s3://{parts.netloc}/{full_key}"
        path = Path(self.base_uri) / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(body)
        tmp.replace(path)  # readers never see a half-written file
        return str(path)

    def deliver(self, activation: str, dt: date, columns: list[str], records: list[dict]) -> dict:
        """Write the full desired state; every record given is accepted."""
        prefix = f"{activation}/dt={dt.isoformat()}"
        ordered = sorted(records, key=lambda r: r["profile_id"])
        parts = []
        for index, start in enumerate(range(0, max(len(ordered), 1), ROWS_PER_PART)):
            chunk = ordered[start : start + ROWS_PER_PART]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(chunk)
            body = buffer.getvalue().encode("utf-8")
            uri = self._write(f"{prefix}/part-{index:05d}.csv", body)
            parts.append({"uri": uri, "rows": len(chunk), "sha256": hashlib.sha256(body).hexdigest()})
        manifest = {"activation": activation, "dt": dt.isoformat(), "rows": len(ordered), "parts": parts}
        manifest_uri = self._write(f"{prefix}/_manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        return {"accepted": [r["profile_id"] for r in ordered], "rejected": {}, "manifest": manifest_uri}
