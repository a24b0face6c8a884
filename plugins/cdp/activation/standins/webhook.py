"""A webhook receiver that enforces the contract our webhook destination documents.

- `POST` a JSON body `{activation, audience, run_id, batch_seq, action: add|remove, members: [...]}`,
  each member with a `profile_id`; at most `max_members` members (else 413).
- `X-Signature-Timestamp` (unix seconds, within `tolerance_seconds`) and `X-Signature-256:
  sha256=<hex HMAC-SHA256 of "<timestamp>." + body, keyed with the shared secret>` (else 401).
- `Idempotency-Key` (else 400): a key seen before with the same body gets the stored answer
  again, with `Idempotent-Replayed: true`, and changes nothing; with another body, 422.
- 200 when every member was taken; 207 with `results: [{profile_id, status, error?}]` in
  request order when some were not (422 for an invalid email or a refused profile, 503 for a
  member the receiver could not take right now).

It keeps each activation's members and, per run, profile and action, how many times a change
was applied, so tests can assert the final membership and that nothing was applied twice.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path

from cdp.activation.destinations.webhook import sign
from cdp.activation.standins.server import Request, Response, StandIn

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_KEYS = 20_000  # idempotency keys remembered


class WebhookStandIn(StandIn):
    def __init__(
        self,
        secret: str,
        max_members: int = 1000,
        tolerance_seconds: float = 300,
        state_file: Path | None = None,
    ):
        self.secret = secret
        self.max_members = max_members
        self.tolerance_seconds = tolerance_seconds
        self.refuse: dict[str, tuple[int, str]] = {}  # profile_id -> (item status, error) it will not take
        super().__init__(state_file)

    def initial_state(self) -> dict:
        return {"members": {}, "applied": {}, "keys": {}}

    def members(self, activation: str) -> dict[str, dict]:
        return self.snapshot()["members"].get(activation, {})

    def applied(self, activation: str) -> dict[str, int]:
        """'run_id|action|profile_id' -> how many times that change took effect."""
        return self.snapshot()["applied"].get(activation, {})

    def handle(self, request: Request, state: dict) -> Response:
        if request.method != "POST":
            return Response(405, {"error": "use POST"})
        timestamp = request.headers.get("x-signature-timestamp", "")
        given = request.headers.get("x-signature-256", "")
        if not hmac.compare_digest(given, sign(self.secret, timestamp, request.body)):
            return Response(401, {"error": "invalid signature"})
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > self.tolerance_seconds:
            return Response(401, {"error": "signature timestamp outside the tolerance"})
        key = request.headers.get("idempotency-key")
        if not key:
            return Response(400, {"error": "Idempotency-Key header is required"})
        digest = hashlib.sha256(request.body).hexdigest()
        seen = state["keys"].get(key)
        if seen:
            if seen["digest"] != digest:
                return Response(422, {"error": "Idempotency-Key reused with a different body"})
            return Response(seen["status"], seen["body"], {"Idempotent-Replayed": "true"})
        body = request.json()
        error = self._invalid(body)
        if error:
            return Response(413 if error.startswith("at most") else 400, {"error": error})
        response = self._apply(body, state)
        if len(state["keys"]) >= MAX_KEYS:
            state["keys"].pop(next(iter(state["keys"])))
        state["keys"][key] = {"digest": digest, "status": response.status, "body": response.body}
        return response

    def _invalid(self, body) -> str | None:
        if not isinstance(body, dict):
            return "body must be a JSON object"
        missing = [k for k in ("activation", "run_id", "batch_seq", "action", "members") if k not in body]
        if missing:
            return f"missing {', '.join(missing)}"
        if body["action"] not in ("add", "remove"):
            return "action must be add or remove"
        members = body["members"]
        if not isinstance(members, list) or not all(isinstance(m, dict) and m.get("profile_id") for m in members):
            return "members must be objects with a profile_id"
        if len(members) > self.max_members:
            return f"at most {self.max_members} members per request"
        return None

    def _apply(self, body: dict, state: dict) -> Response:
        activation, action = body["activation"], body["action"]
        members = state["members"].setdefault(activation, {})
        applied = state["applied"].setdefault(activation, {})
        results, partial = [], False
        for member in body["members"]:
            profile_id = member["profile_id"]
            status, error = self.refuse.get(profile_id, (200, None))
            if status == 200 and action == "add" and member.get("email") and not EMAIL.match(member["email"]):
                status, error = 422, "invalid email"
            if status != 200:
                partial = True
                results.append({"profile_id": profile_id, "status": status, "error": error})
                continue
            if action == "add":
                members[profile_id] = member
            else:
                members.pop(profile_id, None)
            change = f"{body['run_id']}|{action}|{profile_id}"
            applied[change] = applied.get(change, 0) + 1
            results.append({"profile_id": profile_id, "status": 200})
        if partial:
            return Response(207, {"results": results})
        return Response(200, {"received": len(results)})
