"""Webhook: audience changes as signed, batched JSON to an HTTPS endpoint the brand runs.

Contract (the reference's recommended one, which the stand-in enforces):
- `POST <url>` with `{activation, audience, run_id, batch_seq, action: "add"|"remove", members: [...]}`;
  `add` adds a member or replaces its attributes (new and changed members), `remove` removes it.
  Each member is `{profile_id, <identities>, <fields>}`; at most 1,000 members per request.
- `Idempotency-Key`: stable for a batch across retries and reruns, so a receiver applies it once.
- `X-Signature-Timestamp` and `X-Signature-256: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`
  keyed with the shared secret (the connection's password).
- Answers: 2xx taken; 207 `{results: [{profile_id, status, error}]}` per member (2xx taken, 429/5xx
  sent again next run, other 4xx rejected); 429 and 5xx retried with backoff (`Retry-After`
  honoured); 408 retried; 401/403/404/410 stop the run (credentials or endpoint); other 4xx
  reject the batch.

Connection: an `http`/`https` connection whose host (or `extra.url`) is the endpoint and whose
password is the signing secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from cdp import settings
from cdp.activation.destinations.base import (
    Batch,
    BatchRejected,
    BatchResult,
    Destination,
    DestinationUnusable,
    Instance,
    Retryable,
    Throttled,
    http_call,
    mapped,
    retry_after_seconds,
    scrub,
)

STOP_STATUSES = (401, 403, 404, 405, 410)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _error_text(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return scrub(response.text[:200] or response.reason or "")
    if isinstance(body, dict):
        return scrub(body.get("error") or body.get("message") or json.dumps(body)[:200])
    return scrub(json.dumps(body)[:200])


class Webhook(Destination):
    type_name = "webhook"
    modes = ("incremental",)
    max_batch_size = 1000
    pool_slots = 2

    def __init__(self, activation, instance: Instance):
        super().__init__(activation, instance)
        if not instance.url or not instance.password:
            raise DestinationUnusable(f"connection {instance.connection_id} needs the endpoint URL and a password")
        import requests

        self.session = requests.Session()

    @classmethod
    def payload(cls, activation, profile_id: str, row: dict[str, Any]):
        member = mapped(activation, profile_id, row)
        if activation.identities and not any(member.get(out) for out in activation.identities):
            return None, "no identity to send"
        return member, None

    @classmethod
    @contextlib.contextmanager
    def sandbox(cls, activation) -> Iterator[Instance]:
        from cdp.activation.standins import WebhookStandIn

        secret = secrets.token_hex(16)
        state_file = settings.state_dir() / "sandbox" / f"{activation.connection_id}.json"
        with WebhookStandIn(secret, max_members=cls.max_batch_size, state_file=state_file) as standin:
            yield Instance(activation.connection_id, url=f"{standin.url}/hooks", password=secret, sandbox=True)

    def send(self, batch: Batch) -> BatchResult:
        body = {
            "activation": batch.activation,
            "audience": batch.audience,
            "run_id": batch.run_id,
            "batch_seq": batch.seq,
            "action": "remove" if batch.action == "remove" else "add",
            "members": [item.payload for item in batch.items],
        }
        raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": batch.key,
            "X-Signature-Timestamp": timestamp,
            "X-Signature-256": sign(self.instance.password, timestamp, raw),
        }
        timeout = self.activation.retry.timeout_seconds
        response = http_call(self.session, "POST", self.instance.url, timeout, data=raw, headers=headers)
        status = response.status_code
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        if status == 207:
            return self._per_member(batch, response, replayed)
        if 200 <= status < 300:
            return BatchResult(detail={"status": status, "replayed": replayed})
        reason = f"HTTP {status}: {_error_text(response)}"
        if status == 429:
            raise Throttled(reason, retry_after_seconds(response.headers.get("Retry-After")))
        if status == 408 or status >= 500:
            raise Retryable(reason, retry_after_seconds(response.headers.get("Retry-After")))
        if status in STOP_STATUSES:
            raise DestinationUnusable(reason)
        raise BatchRejected(reason)

    def _per_member(self, batch: Batch, response, replayed: bool) -> BatchResult:
        try:
            results = {r["profile_id"]: r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError):
            raise Retryable("HTTP 207 without per-member results") from None
        outcome = BatchResult(detail={"status": 207, "replayed": replayed})
        for item in batch.items:
            result = results.get(item.profile_id)
            if result is None:
                outcome.failed[item.profile_id] = "no result for this member in the 207 answer"
                continue
            status = int(result.get("status", 0))
            if 200 <= status < 300:
                continue
            reason = f"{status}: {scrub(result.get('error') or 'refused')}"
            if status == 429 or status >= 500:
                outcome.failed[item.profile_id] = reason
            else:
                outcome.rejected[item.profile_id] = reason
        return outcome

    def close(self) -> None:
        self.session.close()
