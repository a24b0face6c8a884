"""Meta (Facebook) Custom Audiences: customer-list audiences over the Graph API.

- Incremental mode: `POST /{audience_id}/users` adds, `DELETE` removes; both are set operations.
  Meta has no update: a changed member is a `DELETE` of the row delivered before (the state
  keeps it), then a `POST` of the new one, so its old identifiers stop matching. Mirror mode:
  `POST /{audience_id}/usersreplace`, a session (`session_id`, `batch_seq` from 1,
  `last_batch_flag` on the last) that replaces the whole membership when its last batch arrives.
- Body: `{payload: {schema: [keys], data: [[...]]}, session?}` as JSON in the request body, for
  DELETE as for POST (the reference: removes take "the same parameters"), never in the query
  string, where requests fail past ~65 KB. Multi-key rows (EXTERN_ID, EMAIL, PHONE, FN, LN, ZIP,
  CT, ST, COUNTRY, ...), each value normalized as Meta specifies, then SHA-256 in lowercase hex; EXTERN_ID, MADID and
  LOOKALIKE_VALUE are not hashed. At most 10,000 rows per request.
- Errors: 4, 17, 32, 613, 80003, 80004 and any HTTP 429 are throttling (back off;
  `Retry-After` and `X-Business-Use-Case-Usage`'s `estimated_time_to_regain_access` honoured);
  1, 2, 341, 5xx and non-JSON answers (an HTML page, even with a 200) are transient; 803 (the
  audience's alias not visible yet, just after its creation) is retried within the engine's
  bounded attempts, then stops the run; 2650/1870147 (first batch not detected) restarts the
  replace session. Every other error (190 and 190/460 token, 200 and 294 permissions, 2635
  version, 100/33 no such audience or not its admin, 100/1713230 audience flagged, 100, 105 and
  194 parameters, 368 abusive, 2650) is about the request or the account, never about one
  person: it stops the run and the batch stays in the outbox for the next one. Meta judges
  records only through the answer's count of invalid rows and a few samples: the count is
  recorded, and rows a sample identifies are logged as rejected.

Connection: password = a system-user access token with `ads_management`; optional extras
`app_secret` (adds `appsecret_proof`), `api_version` (default v23.0), `url` (default
https://graph.facebook.com). Each activation names its audience in `options.audience_id`.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import unicodedata
from collections.abc import Iterator
from typing import Any, NoReturn

from cdp import settings
from cdp.activation.destinations.base import (
    Batch,
    BatchResult,
    Destination,
    DestinationUnusable,
    Instance,
    Item,
    Retryable,
    SessionLost,
    Throttled,
    http_call,
    retry_after_seconds,
    scrub,
)

GRAPH_URL = "https://graph.facebook.com"
API_VERSION = "v23.0"
KEYS = (
    "EXTERN_ID",
    "EMAIL",
    "PHONE",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "LN",
    "FN",
    "FI",
    "CT",
    "ST",
    "ZIP",
    "MADID",
    "COUNTRY",
    "LOOKALIKE_VALUE",
)
NOT_HASHED = ("EXTERN_ID", "MADID", "LOOKALIKE_VALUE")
THROTTLING = {4, 17, 32, 613, 80003, 80004}
TRANSIENT = {1, 2, 341}
FIRST_BATCH_NOT_DETECTED = (2650, 1870147)
NOT_YET_VISIBLE = 803  # "aliases ... do not exist: users" just after the audience is created

US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca", "colorado": "co",
    "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc", "florida": "fl", "georgia": "ga",
    "hawaii": "hi", "idaho": "id", "illinois": "il", "indiana": "in", "iowa": "ia", "kansas": "ks",
    "kentucky": "ky", "louisiana": "la", "maine": "me", "maryland": "md", "massachusetts": "ma",
    "michigan": "mi", "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm",
    "newyork": "ny", "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok",
    "oregon": "or", "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
}  # fmt: skip
US_ZIP = re.compile(r"^(\d{5})(?:-?\d{4})?$")


def _letters(value: str) -> str:
    """Lowercase letters only (any script, composed as UTF-8 expects): no spaces, digits or punctuation."""
    return "".join(c for c in unicodedata.normalize("NFC", value).lower() if c.isalpha())


def normalize(key: str, value: Any) -> str:
    """A value as Meta's matching expects it before hashing; "" when nothing usable remains."""
    if value is None:
        return ""
    text = str(value).strip()
    if key == "EMAIL":
        text = text.strip(" \t\r\n\0\x0b.").lower()  # the SDK also drops trailing dots and control characters
        return text if re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", text) else ""
    if key == "PHONE":
        return re.sub(r"\D", "", text).lstrip("0")  # country code included, no +, no leading zeros
    if key in ("FN", "LN", "CT"):
        return _letters(text)
    if key == "FI":
        return _letters(text)[:1]
    if key == "GEN":
        first = text[:1].lower()
        return first if first in ("m", "f") else ""
    if key == "DOBY":
        digits = re.sub(r"\D", "", text)
        return digits if len(digits) == 4 else ""
    if key in ("DOBM", "DOBD"):
        digits = re.sub(r"\D", "", text).lstrip("0")
        return digits.zfill(2) if digits and len(digits) <= 2 else ""
    if key == "ST":
        letters = _letters(text)
        return US_STATES.get(letters, letters)
    if key == "ZIP":
        compact = re.sub(r"\s", "", text).lower()
        us = US_ZIP.match(compact)
        return us.group(1) if us else compact
    if key == "COUNTRY":
        letters = _letters(text)
        return letters if len(letters) == 2 and letters.isascii() else ""
    if key == "MADID":
        return text.lower()
    return text  # EXTERN_ID, LOOKALIKE_VALUE: as they are


def hashed(key: str, value: Any) -> str:
    """What goes in a data row: normalized, then SHA-256 lowercase hex (except the keys Meta takes plain)."""
    normalized = normalize(key, value)
    if not normalized or key in NOT_HASHED:
        return normalized
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def matchable(values: dict[str, str]) -> bool:
    """Whether a row can find a person: an email, phone or device id, or a full name with a place or birth year."""
    if any(values.get(key) for key in ("EMAIL", "PHONE", "MADID")):
        return True
    return bool(values.get("FN") and values.get("LN") and any(values.get(k) for k in ("ZIP", "CT", "DOBY")))


def appsecret_proof(app_secret: str, token: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def _regain_seconds(response) -> float | None:
    """`estimated_time_to_regain_access` (minutes) from the business use case usage header."""
    try:
        usage = json.loads(response.headers.get("X-Business-Use-Case-Usage") or "{}")
    except ValueError:
        return None
    minutes = [
        entry.get("estimated_time_to_regain_access", 0)
        for entries in usage.values()
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60.0 if minutes else None


def _raise(response, error: dict | None) -> NoReturn:
    """A Graph API error answer as the engine's error: throttled, transient, a lost session, or a stop."""
    status = response.status_code
    retry_after = retry_after_seconds(response.headers.get("Retry-After"))
    wait = max((w for w in (retry_after, _regain_seconds(response)) if w is not None), default=None)
    if error is None:
        reason = f"HTTP {status} without a Graph API error body"
        if status == 429:
            raise Throttled(reason, wait)
        raise Retryable(reason, retry_after)
    code, subcode = error.get("code"), error.get("error_subcode")
    reason = f"Meta error {code}" + (f"/{subcode}" if subcode else "") + f": {scrub(error.get('message', ''))}"
    if code in THROTTLING or status == 429:
        raise Throttled(reason, wait)
    if code in TRANSIENT or status >= 500:
        raise Retryable(reason, retry_after)
    if code == NOT_YET_VISIBLE:
        raise Retryable(f"{reason} (an audience created moments ago is not visible yet)", retry_after)
    if (code, subcode) == FIRST_BATCH_NOT_DETECTED:
        raise SessionLost(reason)
    raise DestinationUnusable(reason)


class MetaCustomAudiences(Destination):
    type_name = "meta_custom_audiences"
    modes = ("incremental", "mirror")
    atomic_modes = ("mirror",)
    purposes = ("ad_targeting",)
    max_batch_size = 10_000
    pool_slots = 1

    def __init__(self, activation, instance: Instance):
        super().__init__(activation, instance)
        if not instance.password:
            raise DestinationUnusable(f"connection {instance.connection_id} has no access token (password)")
        self.audience_id = str(activation.options.get("audience_id") or "")
        if not self.audience_id and instance.sandbox:
            self.audience_id = sandbox_audience_id(activation.name)
        if not self.audience_id:
            raise DestinationUnusable(f"activation {activation.name}: set options.audience_id (the Custom Audience)")
        version = instance.extra.get("api_version", API_VERSION)
        self.base = f"{(instance.url or GRAPH_URL).rstrip('/')}/{version}/{self.audience_id}"
        import requests

        self.session = requests.Session()

    @classmethod
    def check(cls, activation) -> list[str]:
        errors = []
        unknown = [k for k in activation.identities if k not in KEYS]
        if unknown:
            errors.append(f"identities {', '.join(unknown)} are not Meta schema keys ({', '.join(KEYS)})")
        if not activation.identities:
            errors.append("identities (Meta schema key: profile attribute) are required")
        if activation.fields:
            errors.append("Meta takes identities only: move fields to identities or drop them")
        return errors

    @classmethod
    def payload(cls, activation, profile_id: str, row: dict[str, Any]):
        values = {key: hashed(key, row.get(attribute)) for key, attribute in activation.identities.items()}
        if not matchable(values):
            return None, "no identifier Meta can match"
        return values, None

    @classmethod
    @contextlib.contextmanager
    def sandbox(cls, activation) -> Iterator[Instance]:
        from cdp.activation.standins import MetaStandIn

        token = secrets.token_urlsafe(24)
        state_file = settings.state_dir() / "sandbox" / f"{activation.connection_id}.json"
        with MetaStandIn(token, state_file=state_file) as standin:
            audience_id = str(activation.options.get("audience_id") or sandbox_audience_id(activation.name))
            standin.create_audience(audience_id, activation.name)
            yield Instance(activation.connection_id, url=standin.url, password=token, sandbox=True)

    def send(self, batch: Batch) -> BatchResult:
        if batch.action == "replace":
            session = {
                "session_id": batch.session_id,
                "batch_seq": batch.seq,
                "last_batch_flag": batch.last,
                "estimated_num_total": batch.total,
            }
            return self._receipt(batch, self._request("POST", "usersreplace", batch.items, session))
        if batch.action == "remove":
            return self._receipt(batch, self._request("DELETE", "users", batch.items))
        before = [Item(i.profile_id, "", i.previous, "remove") for i in batch.items if i.previous]
        if batch.action == "update" and before:
            # Meta has no update: the row delivered before is deleted, so its old identifiers stop matching,
            # then the new row is added. Both are set operations: retrying the pair does no harm.
            self._request("DELETE", "users", before)
        result = self._receipt(batch, self._request("POST", "users", batch.items))
        if batch.action == "update":
            result.detail["previous_rows_deleted"] = len(before)
        return result

    def _request(self, method: str, edge: str, items: tuple[Item, ...] | list[Item], session=None) -> dict:
        """One Graph API call with the items' rows: the answer's JSON, or its error mapped to the engine's."""
        present = {key for item in items for key in item.payload}
        schema = [key for key in KEYS if key in present]
        body: dict[str, Any] = {
            "payload": {"schema": schema, "data": [[item.payload.get(k, "") for k in schema] for item in items]}
        }
        if session is not None:
            body["session"] = session
        token = self.instance.password
        app_secret = self.instance.extra.get("app_secret")
        if app_secret:
            body["appsecret_proof"] = appsecret_proof(app_secret, token)
        response = http_call(
            self.session,
            method,
            f"{self.base}/{edge}",
            self.activation.retry.timeout_seconds,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            answer = response.json()
        except ValueError:  # an HTML error page, a truncated body
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        if response.status_code == 200 and error is None:
            if not isinstance(answer, dict):
                raise Retryable("HTTP 200 without a JSON body")
            return answer
        _raise(response, error if isinstance(error, dict) else None)

    def _receipt(self, batch: Batch, receipt: dict) -> BatchResult:
        invalid = int(receipt.get("num_invalid_entries") or 0)
        result = BatchResult(detail={"num_received": receipt.get("num_received"), "num_invalid_entries": invalid})
        samples = receipt.get("invalid_entry_samples") or {}
        if invalid and isinstance(samples, dict):
            # Samples name an offending value: the rows holding it are the ones Meta refused.
            for item in batch.items:
                values = set(item.payload.values()) - {""}
                for value, why in samples.items():
                    if value in values:
                        result.rejected[item.profile_id] = f"Meta invalid entry: {scrub(why)}"
                        break
        result.detail["invalid_identified"] = len(result.rejected)
        return result

    def close(self) -> None:
        self.session.close()


def sandbox_audience_id(activation_name: str) -> str:
    """A stable numeric id for the sandbox audience of an activation."""
    return str(int(hashlib.sha256(activation_name.encode()).hexdigest()[:14], 16))
