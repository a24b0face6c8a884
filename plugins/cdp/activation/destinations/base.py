"""What every destination module provides to the sync engine, and the errors its client raises.

A destination module owns its client, its normalization (`payload`), its limits
(`max_batch_size`, the modes it supports) and the mapping of its errors onto the classes
below. The engine owns everything else: planning, batching, retries, state and logging.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from cdp.activation.config import Activation

ALL_PURPOSES = ("email_marketing", "sms_marketing", "personalization", "ad_targeting")
_EMAILS = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")
_NUMBERS = re.compile(r"\+?\d[\d ().-]{5,}\d")


@dataclass(frozen=True)
class Item:
    """One record in a batch: who, the hash of what is sent, and what is sent."""

    profile_id: str
    record_hash: str
    payload: dict[str, Any]
    action: str = "add"  # add | update | remove, or keep (unchanged, sent again in a whole-set delivery)
    previous: dict[str, Any] | None = None  # an update's payload last delivered (what the destination holds now)


@dataclass(frozen=True)
class Batch:
    activation: str
    audience: str
    run_id: str
    dt: date
    key: str  # deterministic; the idempotency key, the same on every retry and rerun
    action: str  # add | update | remove (incremental), replace (mirror), full (file set)
    seq: int  # 1-based position in its session
    last: bool  # the session's final batch
    session_id: int  # for session protocols (Meta's usersreplace); new for each session restart
    items: tuple[Item, ...]
    total: int  # records in the whole session


@dataclass
class BatchResult:
    """What the destination said about an accepted request."""

    rejected: dict[str, str] = field(default_factory=dict)  # profile_id -> the destination's reason
    failed: dict[str, str] = field(default_factory=dict)  # profile_id -> transient item failure, sent again next run
    detail: dict[str, Any] = field(default_factory=dict)  # counts and receipts the destination returned


@dataclass(frozen=True)
class Instance:
    """A destination instance: an Airflow connection's fields, or a sandbox stand-in's."""

    connection_id: str
    url: str | None = None  # where the API or the files live
    login: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sandbox: bool = False


class DeliveryError(Exception):
    """A request the destination did not accept. `reason` never carries identifiers."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Retryable(DeliveryError):
    """Transient (5xx, timeout, connection reset): send the same batch again after a pause."""

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class Throttled(Retryable):
    """The destination asked us to slow down (429, vendor throttling codes)."""


class BatchRejected(DeliveryError):
    """The destination refused the batch for its content: retrying the same content cannot help."""


class DestinationUnusable(DeliveryError):
    """Credentials, permissions, a missing audience or a policy block: stop the run, keep the rest for later."""


class SessionLost(DeliveryError):
    """A session protocol lost its session (e.g. Meta's first batch not detected): restart it from batch 1."""


class Destination:
    type_name: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]
    purposes: ClassVar[tuple[str, ...]] = ALL_PURPOSES
    max_batch_size: ClassVar[int]
    pool_slots: ClassVar[int] = 1  # concurrent activation tasks one instance takes (the Airflow pool's size)
    atomic_modes: ClassVar[tuple[str, ...]] = ()  # modes whose run is one session, committed whole when complete

    def __init__(self, activation: Activation, instance: Instance):
        self.activation = activation
        self.instance = instance

    @classmethod
    def check(cls, activation: Activation) -> list[str]:
        """Configuration errors of an activation to this destination (empty when fine)."""
        return []

    @classmethod
    def payload(
        cls, activation: Activation, profile_id: str, row: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(what is sent for this profile, None) or (None, why it cannot be sent); `row` is attribute -> value."""
        raise NotImplementedError

    @classmethod
    @contextlib.contextmanager
    def sandbox(cls, activation: Activation) -> Iterator[Instance]:
        """A local stand-in of this destination, for when no connection is configured."""
        raise NotImplementedError
        yield  # pragma: no cover

    def send(self, batch: Batch) -> BatchResult:
        raise NotImplementedError

    def complete(self, batches: list[tuple[Batch, BatchResult]]) -> dict[str, Any]:
        """After the last batch of a session that is delivered whole (a file set's manifest)."""
        return {}

    def close(self) -> None:
        pass


def json_safe(value: Any) -> Any:
    """A warehouse value as JSON keeps it: numbers and text as they are, the rest as text."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)  # Decimal and the like, exactly


def scrub(text: str, limit: int = 300) -> str:
    """A destination's message made safe for logs and the sync log: addresses and numbers masked."""
    text = _NUMBERS.sub("<number>", _EMAILS.sub("<email>", str(text)))
    return text[:limit]


def retry_after_seconds(value: str | None) -> float | None:
    """The Retry-After header, in seconds or as an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(when.tzinfo)).total_seconds(), 0.0)


def http_call(session, method: str, url: str, timeout: float, **kwargs):
    """One HTTP request; no answer in time or no connection is a transient failure."""
    import requests

    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise Retryable(f"no answer within {timeout:g}s") from None
    except requests.ConnectionError as exc:
        raise Retryable(f"connection failed ({type(exc).__name__})") from None


def mapped(activation: Activation, profile_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """profile_id, then the identities, then the fields, under their output names, JSON-safe."""
    record = {"profile_id": profile_id}
    for mapping in (activation.identities, activation.fields):
        record.update({out: json_safe(row.get(attribute)) for out, attribute in mapping.items()})
    return record
