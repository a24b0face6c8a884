"""A stand-in for Meta's Custom Audiences API (Graph API `/{audience_id}/users` and `/usersreplace`).

It enforces what the reference documents: the access token (Bearer or `access_token`) and,
when the app secret is set, `appsecret_proof`; a supported API version (else 2635); an
existing audience (else 100/33); `payload.schema`/`payload.data` with multi-key rows, or the
single-key form (`"schema": "EMAIL_SHA256"` with `data` a list of values), at most 10,000 rows
per request; hashed keys as 64 lowercase hex characters, MADID lowercase and not
hashed; invalid rows counted in `num_invalid_entries` with a few `invalid_entry_samples`
(value -> reason); the replace session protocol (`session_id`, `batch_seq` from 1 without gaps,
`last_batch_flag`; a session whose first batch it never saw gets 2650/1870147); audiences
flagged with operation_status 471 refuse every edit (100/1713230); an audience keeps the data
source of its first upload, and an upload in the other form is refused with 2650 (a single-key
`"schema": "EMAIL_SHA256"` upload is FILE_IMPORTED.HASHES_OR_USER_IDS, a list schema is
FILE_IMPORTED.MULTI_HASHES; facebook-python-business-sdk#433); creating an audience needs
`subtype: CUSTOM` and a documented `customer_file_source`; a query string longer than ~65 KB
fails (RudderStack saw this with `payload` in the URL, 3p), so `payload` belongs in the body,
form-encoded or JSON, for DELETE as for POST ("same parameters").

Throttling is native when `call_budget` is set: edits of audience membership (`/users`,
`/usersreplace`) beyond `call_budget` per `budget_window_seconds` get 80003 ("too many calls
to this ad-account", as the reference lists for `/users`) with `X-Business-Use-Case-Usage`,
whose `estimated_time_to_regain_access` says when the window ends (minutes, as Meta; a
fraction of a minute, rounded up, so short test windows stay short); throttled calls do not
count. Other throttling (4, 17, 613) and server errors are scripted with `fail(...)` and
`error_body(...)`.

Membership is kept as Meta keeps it: a set of people, each the set of keys (`EMAIL:<hash>`,
`EXTERN_ID:<id>`, ...) it was matched by. A row added joins every person it shares an
identifier with (EXTERN_ID, EMAIL, PHONE or MADID; a row with none of them only matches the very
same row), so re-adding a changed row leaves the old identifiers matched; a row deleted removes
every person it shares an identifier with. People are named by their EXTERN_ID when they have
one, and every applied change is counted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from pathlib import Path
from urllib.parse import parse_qsl

from cdp.activation.destinations.meta_custom_audiences import KEYS, appsecret_proof
from cdp.activation.standins.server import Request, Response, StandIn

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
MAX_ROWS = 10_000
MIN_VERSION = 23
PATH = re.compile(r"^/v(?P<version>\d+)\.0/(?P<node>[^/]+)(?:/(?P<edge>[a-z_]+))?$")
SAMPLES = 10  # invalid_entry_samples returned per request
SINGLE_KEY = {"EMAIL_SHA256": "EMAIL", "PHONE_SHA256": "PHONE", "MOBILE_ADVERTISER_ID": "MADID"}
IDENTIFIERS = ("EXTERN_ID", "EMAIL", "PHONE", "MADID")  # keys that find a person on their own
FILE_SOURCES = ("USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED")
MULTI_HASHES, SINGLE_HASHES = "FILE_IMPORTED.MULTI_HASHES", "FILE_IMPORTED.HASHES_OR_USER_IDS"
MAX_QUERY_BYTES = 65_000  # RudderStack (3p): requests fail above ~65 KB of query string
BUSINESS_ID = "1000000000000001"  # the stand-in's one ad account's business, naming its usage entries


def error_body(code: int, message: str, subcode: int | None = None) -> dict:
    error = {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code, "fbtrace_id": "AstandinTrace"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def _error(code: int, message: str, subcode: int | None = None, status: int = 400) -> Response:
    return Response(status, error_body(code, message, subcode))


def tokens(row: dict) -> set[str]:
    """A row's keys as the audience keeps them: `KEY:value` for every value given."""
    return {f"{key}:{value}" for key, value in row.items() if value}


def identity(keys: set[str]) -> str:
    """How a person is named: their (first) EXTERN_ID, else all their keys."""
    extern = sorted(k for k in keys if k.startswith("EXTERN_ID:"))
    return extern[0] if extern else "|".join(sorted(keys))


def _finds(keys: set[str]) -> set[str]:
    """What a set of keys matches a person by: its identifiers, else the whole set."""
    found = {k for k in keys if k.split(":", 1)[0] in IDENTIFIERS}
    return found or {"|".join(sorted(keys))}


def _held(keys: list[str] | dict) -> set[str]:
    """A person's keys; a sandbox state saved before people were key sets holds a row instead."""
    return tokens(keys) if isinstance(keys, dict) else set(keys)


class People:
    """An audience's people, with an index from what finds a person to their name (one pass per request)."""

    def __init__(self, members: dict[str, list[str]]):
        self.members = members
        self.index = {find: name for name, held in members.items() for find in _finds(_held(held))}

    def _matching(self, keys: set[str]) -> set[str]:
        return {self.index[find] for find in _finds(keys) if find in self.index}

    def _drop(self, name: str) -> set[str]:
        held = _held(self.members.pop(name))
        for find in _finds(held):
            self.index.pop(find, None)
        return held

    def join(self, row: dict) -> None:
        """Add a row: it merges with every person it shares an identifier with."""
        keys = tokens(row)
        for name in self._matching(keys):
            keys |= self._drop(name)
        name = identity(keys)
        self.members[name] = sorted(keys)
        self.index.update(dict.fromkeys(_finds(keys), name))

    def leave(self, row: dict) -> None:
        """Delete a row: every person it shares an identifier with leaves the audience."""
        for name in self._matching(tokens(row)):
            self._drop(name)


class MetaStandIn(StandIn):
    def __init__(
        self,
        access_token: str,
        app_secret: str | None = None,
        session_ttl_seconds: float = 90 * 60,
        state_file: Path | None = None,
        call_budget: int | None = None,
        budget_window_seconds: float = 60.0,
    ):
        self.access_token = access_token
        self.app_secret = app_secret
        self.session_ttl_seconds = session_ttl_seconds
        self.invalid_extern_ids: set[str] = set()  # rows Meta would find invalid, for partial-failure tests
        self.call_budget = call_budget  # membership edits allowed per window (None: never throttles)
        self.budget_window_seconds = budget_window_seconds
        self.throttled: list[tuple[float, float]] = []  # each call refused with 80003: (when, seconds to regain)
        self._window: tuple[float, int] = (0.0, 0)  # (when the current window started, calls counted in it)
        super().__init__(state_file)

    def initial_state(self) -> dict:
        return {"audiences": {}}

    def create_audience(self, audience_id: str, name: str = "", data_source: str | None = None) -> None:
        with self.transaction() as state:
            audience = state["audiences"].setdefault(audience_id, _new_audience(name))
            if data_source:
                audience["data_source"] = data_source

    def flag(self, audience_id: str, operation_status: int = 471) -> None:
        with self.transaction() as state:
            state["audiences"][audience_id]["operation_status"] = operation_status

    def members(self, audience_id: str) -> dict[str, list[str]]:
        """person -> the keys (`KEY:value`, hashed values as received) they are matched by."""
        return self.snapshot()["audiences"].get(audience_id, {}).get("members", {})

    def matched(self, audience_id: str) -> set[str]:
        """Every key (`KEY:value`) the audience matches people by."""
        return {key for keys in self.members(audience_id).values() for key in keys}

    def applied(self, audience_id: str) -> dict[str, list[str]]:
        """identity -> the changes that took effect for it, in order (add, remove, replace_add, replace_remove)."""
        return self.snapshot()["audiences"].get(audience_id, {}).get("history", {})

    # -- the API -----------------------------------------------------------------------------------

    def handle(self, request: Request, state: dict) -> Response:
        match = PATH.match(request.path)
        if not match:
            return _error(100, "Unknown path components", status=404)
        if len(request.raw_query.encode()) > MAX_QUERY_BYTES:
            return Response(414, b"<html><body>Request-URI Too Long</body></html>", content_type="text/html")
        if int(match["version"]) < MIN_VERSION:
            return _error(2635, f"You are calling a deprecated version of the Ads API. Use v{MIN_VERSION}.0 or newer.")
        params = self._params(request)
        if params is None:
            return _error(100, "Could not parse the request body")
        token = params.get("access_token") or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(token.encode(), self.access_token.encode()):
            return _error(190, "Invalid OAuth access token - Cannot parse access token")
        if self.app_secret and params.get("appsecret_proof") != appsecret_proof(self.app_secret, token):
            return _error(100, "Invalid appsecret_proof provided in the API argument")
        node, edge = match["node"], match["edge"]
        if node.startswith("act_") and edge == "customaudiences" and request.method == "POST":
            return self._create(node, params, state)
        audience = state["audiences"].get(node)
        if audience is None:
            return _error(
                100,
                f"Unsupported post request. Object with ID '{node}' does not exist, cannot be loaded due to "
                "missing permissions, or does not support this operation",
                subcode=33,
            )
        if edge == "sessions" and request.method == "GET":
            hidden = ("batches", "last_seq", "last_at")
            sessions = [{k: v for k, v in s.items() if k not in hidden} for s in audience["sessions"].values()]
            return Response(200, {"data": sessions})
        if edge is None and request.method == "GET":
            return Response(200, {"id": node, "name": audience["name"], "approximate_count": len(audience["members"])})
        edits = edge == "users" and request.method in ("POST", "DELETE")
        edits = edits or (edge == "usersreplace" and request.method == "POST")
        if not edits:
            return _error(100, "Unsupported request - method type or edge not supported", status=400)
        throttled = self._spend_call()
        if throttled:
            return throttled
        if edge == "users":
            response = self._users(node, audience, params, add=request.method == "POST")
        else:
            response = self._replace(node, audience, params)
        response.headers.update(self._usage_header(0.0))
        return response

    # -- native throttling -------------------------------------------------------------------------

    def _spend_call(self) -> Response | None:
        """Count a membership edit against the window's budget; over it, 80003 and when access returns."""
        if self.call_budget is None:
            return None
        now = time.monotonic()
        with self._lock:
            started, calls = self._window
            if now - started >= self.budget_window_seconds:
                started, calls = now, 0
            if calls >= self.call_budget:
                regain = started + self.budget_window_seconds - now
                self.throttled.append((now, regain))
                body = error_body(
                    80003,
                    "There have been too many calls to this ad-account. Wait a bit and try again. For more info, "
                    "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting"
                    "#custom-audience",
                    2446289,
                )
                self._window = (started, calls)
                return Response(400, body, self._usage_header(regain))
            self._window = (started, calls + 1)
        return None

    def _usage_header(self, regain_seconds: float) -> dict[str, str]:
        """`X-Business-Use-Case-Usage`: the share of the budget used and the minutes until access returns."""
        if self.call_budget is None:
            return {}
        used = min(100, round(100 * self._window[1] / max(self.call_budget, 1)))
        minutes = math.ceil(max(regain_seconds, 0.0) / 60 * 1000) / 1000  # rounded up: waiting it is enough
        usage = {
            "type": "custom_audience",
            "call_count": 100 if regain_seconds > 0 else used,
            "total_cputime": 1,
            "total_time": 1,
            "estimated_time_to_regain_access": minutes,
        }
        return {"X-Business-Use-Case-Usage": json.dumps({BUSINESS_ID: [usage]})}

    @staticmethod
    def _params(request: Request) -> dict | None:
        params = dict(request.query)
        if request.body:
            content_type = request.headers.get("content-type", "")
            if content_type.startswith("application/json"):
                body = request.json()
                if not isinstance(body, dict):
                    return None
                params.update(body)
            else:
                params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        for name in ("payload", "session"):  # form-encoded requests carry these as JSON text
            if isinstance(params.get(name), str):
                try:
                    params[name] = json.loads(params[name])
                except ValueError:
                    return None
        return params

    def _create(self, account: str, params: dict, state: dict) -> Response:
        if params.get("subtype") != "CUSTOM" or not params.get("name"):
            return _error(100, "Invalid parameter: name and subtype CUSTOM are required")
        if params.get("customer_file_source") not in FILE_SOURCES:
            return _error(100, f"Invalid parameter: customer_file_source must be one of {', '.join(FILE_SOURCES)}")
        audience_id = str(int(hashlib.sha256(f"{account}/{params['name']}".encode()).hexdigest()[:15], 16))
        state["audiences"].setdefault(audience_id, _new_audience(params["name"]))
        return Response(200, {"id": audience_id})

    def _rows(self, payload, audience: dict) -> tuple[list[dict], int, dict[str, str]] | Response:
        """(valid rows as key -> value, number of invalid rows, samples) or an error answer."""
        if not isinstance(payload, dict) or "schema" not in payload or "data" not in payload:
            return _error(100, "The parameter payload is required, with schema and data")
        schema = payload["schema"]
        single = isinstance(schema, str)  # the single-key form: "EMAIL_SHA256" and a list of values
        schema = [schema] if single else schema
        if not isinstance(schema, list) or not schema or not all(isinstance(k, str) for k in schema):
            return _error(100, "Invalid parameter: payload.schema must be a key or a list of keys")
        schema = [SINGLE_KEY.get(k, k) for k in schema]
        if any(k not in KEYS for k in schema):
            return _error(100, "Invalid parameter: payload.schema has an unsupported key")
        source = SINGLE_HASHES if single else MULTI_HASHES
        created_from = audience.get("data_source", source)  # an audience keeps its first upload's source
        if created_from != source:
            return _error(
                2650,
                f"Failed to update the custom audience: This audience was created from data source {created_from}, "
                f"which does not support data source {source}.",
            )
        data = payload["data"]
        if not isinstance(data, list):
            return _error(100, "Invalid parameter: payload.data must be a list")
        if len(data) > MAX_ROWS:
            return _error(100, f"Invalid parameter: at most {MAX_ROWS} rows per request")
        rows, invalid, samples = [], 0, {}
        for raw in data:
            reason = None
            raw = [raw] if single and isinstance(raw, str) else raw
            if not isinstance(raw, list) or len(raw) != len(schema) or not all(isinstance(v, str) for v in raw):
                reason, value = "row does not match the schema", json.dumps(raw)[:80]
            else:
                row = dict(zip(schema, raw, strict=True))
                reason, value = _invalid_value(row)
                if reason is None and row.get("EXTERN_ID") in self.invalid_extern_ids:
                    reason, value = "invalid data", row["EXTERN_ID"]
            if reason:
                invalid += 1
                if len(samples) < SAMPLES:
                    samples[value] = reason
            else:
                rows.append(row)
        audience["data_source"] = created_from
        return rows, invalid, samples

    def _flagged(self, audience: dict) -> Response | None:
        if audience.get("operation_status") == 471:
            return _error(
                100,
                "This audience was flagged (operation_status 471): membership edits are blocked",
                subcode=1713230,
            )
        return None

    def _users(self, audience_id: str, audience: dict, params: dict, add: bool) -> Response:
        blocked = self._flagged(audience)
        if blocked:
            return blocked
        parsed = self._rows(params.get("payload"), audience)
        if isinstance(parsed, Response):
            return parsed
        rows, invalid, samples = parsed
        people = People(audience["members"])
        for row in rows:
            if add:
                people.join(row)
            else:
                people.leave(row)
            audience["history"].setdefault(identity(tokens(row)), []).append("add" if add else "remove")
        session = params.get("session") or {}
        return Response(200, _receipt(audience_id, session.get("session_id", 0), len(rows) + invalid, invalid, samples))

    def _replace(self, audience_id: str, audience: dict, params: dict) -> Response:
        blocked = self._flagged(audience)
        if blocked:
            return blocked
        session = params.get("session")
        if not isinstance(session, dict) or not isinstance(session.get("session_id"), int):
            return _error(100, "The parameter session with session_id, batch_seq and last_batch_flag is required")
        seq, last = session.get("batch_seq"), bool(session.get("last_batch_flag"))
        if not isinstance(seq, int) or seq < 1:
            return _error(100, "Invalid parameter: batch_seq must be a positive integer")
        parsed = self._rows(params.get("payload"), audience)
        if isinstance(parsed, Response):
            return parsed
        rows, invalid, samples = parsed
        sid, now = str(session["session_id"]), time.time()
        current = audience["sessions"].get(sid)
        if current and now - current["last_at"] > self.session_ttl_seconds:
            current = None  # Meta forgets sessions left idle too long
        if current is None:
            if seq != 1:
                return _error(2650, "Failed to update the custom audience: first batch_seq was not detected", 1870147)
            current = audience["sessions"][sid] = {
                "session_id": session["session_id"],
                "start_time": int(now),
                "end_time": 0,
                "num_received": 0,
                "num_matched": 0,
                "num_invalid_entries": 0,
                "progress": 0,
                "stage": "uploading",
                "batches": {},
                "last_seq": 0,
                "last_at": now,
            }
        receipt = _receipt(audience_id, session["session_id"], len(rows) + invalid, invalid, samples)
        if current["stage"] == "completed":
            if seq <= current["last_seq"]:  # a retried batch whose answer was lost: already applied
                return Response(200, receipt)
            return _error(2650, "Failed to update the custom audience: this replace session has ended")
        if seq > current["last_seq"] + 1:
            return _error(2650, f"Failed to update the custom audience: batch_seq {seq} skips a batch")
        # Re-sending a batch_seq replaces that batch: the documented way to retry inside a session.
        current["batches"][str(seq)] = {"rows": rows, "invalid": invalid, "received": len(rows) + invalid}
        current["last_at"] = now
        current["last_seq"] = max(current["last_seq"], seq)
        batches = current["batches"].values()
        current["num_received"] = sum(b["received"] for b in batches)
        current["num_invalid_entries"] = sum(b["invalid"] for b in batches)
        if last:
            replaced: dict[str, list[str]] = {}
            people = People(replaced)
            for row in (row for batch in batches for row in batch["rows"]):
                people.join(row)
            for name in set(audience["members"]) - set(replaced):
                audience["history"].setdefault(name, []).append("replace_remove")
            for name in set(replaced) - set(audience["members"]):
                audience["history"].setdefault(name, []).append("replace_add")
            audience["members"] = replaced
            current.update(stage="completed", progress=100, end_time=int(now), num_matched=len(replaced), batches={})
        return Response(200, receipt)


def _new_audience(name: str) -> dict:
    return {"name": name, "members": {}, "history": {}, "sessions": {}, "operation_status": 200}


def _invalid_value(row: dict) -> tuple[str | None, str]:
    if not any(row.values()):
        return "no identifier in the row", ""
    for key, value in row.items():
        if not value or key in ("EXTERN_ID", "LOOKALIKE_VALUE"):
            continue
        if key == "MADID":
            if value != value.lower():
                return "MADID must be lowercase", value
        elif not SHA256_HEX.match(value):
            return f"{key} is not a SHA-256 hash in lowercase hex", value
    return None, ""


def _receipt(audience_id: str, session_id: int, received: int, invalid: int, samples: dict) -> dict:
    return {
        "audience_id": audience_id,
        "session_id": session_id,
        "num_received": received,
        "num_invalid_entries": invalid,
        "invalid_entry_samples": samples,
    }
