"""The landing zone: a local folder or an S3 prefix holding `<source>/dt=<YYYY-MM-DD>/` drops.

Only listing, the completeness marker and opening files live here; parsing is the loader's job.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

SUCCESS_MARKER = "_SUCCESS"
SUPPORTED_SUFFIXES = (".csv", ".jsonl", ".csv.gz", ".jsonl.gz")


@dataclass(frozen=True)
class LandingFile:
    name: str  # file name inside the drop
    uri: str  # full location, recorded on every raw row
    size: int

    @property
    def compressed(self) -> bool:
        return self.name.endswith(".gz")

    @property
    def file_format(self) -> str | None:
        """'csv' or 'jsonl', or None for a file the contract does not allow."""
        for suffix in SUPPORTED_SUFFIXES:
            if self.name.endswith(suffix):
                return suffix.lstrip(".").removesuffix(".gz")
        return None


def drop_prefix(source: str, dt: date) -> str:
    return f"{source}/dt={dt.isoformat()}"


class LandingZoneError(ValueError):
    """The landing zone's URI names no landing zone, or its folder is not there."""


class LandingZone:
    """Base class: subclasses list files and open them."""

    uri: str

    @staticmethod
    def from_uri(uri: str) -> LandingZone:
        """A folder (`~` expanded), `file:///path` or `s3://bucket/prefix`; anything else is refused."""
        parts = urlsplit(uri) if "://" in uri else None
        scheme = parts.scheme.lower() if parts else ""
        if scheme == "s3":
            if not parts.netloc:
                raise LandingZoneError(f"landing zone {uri!r}: an S3 URI names its bucket (s3://bucket/prefix)")
            return S3LandingZone(f"s3://{parts.netloc}{parts.path}")
        if scheme == "file":
            if parts.netloc not in ("", "localhost"):
                raise LandingZoneError(f"landing zone {uri!r}: a file URI names a folder here (file:///path)")
            return LocalLandingZone(Path(unquote(parts.path)))
        if scheme:
            raise LandingZoneError(f"landing zone {uri!r}: expected a folder, file:///path or s3://bucket/prefix")
        if not uri.strip():
            raise LandingZoneError("landing zone: no folder or URI given")
        return LocalLandingZone(Path(uri).expanduser())

    def check(self) -> None:
        """Raise LandingZoneError when the landing zone is not there at all (a mistyped folder would
        otherwise read as "nothing delivered yet"). An S3 prefix is not checked: it exists once a
        file is under it, and listing it is what reading a drop does."""

    def drop_files(self, source: str, dt: date) -> list[LandingFile]:
        """Data files of one drop, sorted by name, without the marker and hidden files."""
        raise NotImplementedError

    def is_complete(self, source: str, dt: date) -> bool:
        raise NotImplementedError

    def open(self, file: LandingFile) -> BinaryIO:
        raise NotImplementedError

    def sources_present(self) -> list[str]:
        raise NotImplementedError


class LocalLandingZone(LandingZone):
    def __init__(self, root: Path):
        self.root = root.resolve()
        self.uri = str(self.root)

    def check(self) -> None:
        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise LandingZoneError(f"landing zone {self.uri} {what}")

    def _drop_dir(self, source: str, dt: date) -> Path:
        return self.root / drop_prefix(source, dt)

    def drop_files(self, source: str, dt: date) -> list[LandingFile]:
        folder = self._drop_dir(source, dt)
        if not folder.is_dir():
            return []
        return [
            LandingFile(name=p.name, uri=str(p), size=p.stat().st_size)
            for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith((".", "_"))
        ]

    def is_complete(self, source: str, dt: date) -> bool:
        return (self._drop_dir(source, dt) / SUCCESS_MARKER).exists()

    def open(self, file: LandingFile) -> BinaryIO:
        return open(file.uri, "rb")

    def sources_present(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []


class _StreamingBodyReader(io.RawIOBase):
    """A raw stream over boto3's response body, which text and gzip readers cannot use directly
    (it closes itself once read to the end, and text wrappers then refuse to finish)."""

    def __init__(self, body):
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._body.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3LandingZone(LandingZone):
    """An S3 prefix, read with boto3. `AWS_ENDPOINT_URL` points it at any S3-compatible server."""

    def __init__(self, uri: str, client=None):
        parts = urlsplit(uri)
        self.uri = uri.rstrip("/")
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self._client = client

    @property
    def client(self):
        if self._client is None:
            import boto3

            self._client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL") or None)
        return self._client

    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _list(self, prefix: str, delimiter: str | None = None) -> list[dict]:
        paginator = self.client.get_paginator("list_objects_v2")
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        pages = list(paginator.paginate(**kwargs))
        if delimiter:
            return [cp for page in pages for cp in page.get("CommonPrefixes", [])]
        return [obj for page in pages for obj in page.get("Contents", [])]

    def drop_files(self, source: str, dt: date) -> list[LandingFile]:
        prefix = self._key(drop_prefix(source, dt)) + "/"
        files = []
        for obj in self._list(prefix):
            name = obj["Key"][len(prefix) :]
            if not name or "/" in name or name.startswith((".", "_")):
                continue
            files.append(LandingFile(name=name, uri=f"s3://{self.bucket}/{obj['Key']}", size=obj["Size"]))
        return sorted(files, key=lambda f: f.name)

    def is_complete(self, source: str, dt: date) -> bool:
        key = self._key(drop_prefix(source, dt), SUCCESS_MARKER)
        return bool(self._list(key))

    def open(self, file: LandingFile) -> BinaryIO:
        key = file.uri[len(f"s3://{self.bucket}/") :]
        body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_StreamingBodyReader(body), buffer_size=1 << 20)

    def sources_present(self) -> list[str]:
        base = self._key() + "/" if self.prefix else ""
        return sorted(cp["Prefix"][len(base) :].rstrip("/") for cp in self._list(base, delimiter="/"))
