"""Synthetic landing-zone drops: a fictional brand's customers, as its seven source systems deliver them.

Why: ingest, identity stitching, consent and activation need data that behaves like production -
the same person spelled differently in every system, placeholders, shared household emails, a
shared in-store kiosk, late and repeated events, order status updates, consent ties - at a size
that shows whether the platform scales. Everything is synthetic: names and streets come from
Faker pools, identifiers from seeded random generators.

How:
- A persona model (`_People`: one numpy array per attribute, index i is CRM customer C-{i+1}) is
  built from the seed. Each day first evolves it (changed contacts, new customers, deletions),
  then each source draws that day's rows from it with its own generator seeded by
  (seed, day, source). Same arguments give byte-identical files, and day d does not depend on
  how many days follow it.
- Faker is only used once to fill small per-country pools (names, streets, places, email
  domains); rows are drawn with numpy and written in chunks with the csv module and json, so
  1M customers is minutes, not hours.
- A few rows per drop are deliberately malformed; each one is listed in `GenerationStats.malformed`
  (file, line, column, defect) so loader tests can check that exactly those go to quarantine.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from cdp.contracts import PURPOSES, SOURCES

# --------------------------------------------------------------------------------------------
# The brand and its countries
# --------------------------------------------------------------------------------------------

BRAND = "atelierlumen"  # noemail@atelierlumen.com, https://www.atelierlumen.com/...
SITE = f"https://www.{BRAND}.com"

COUNTRIES = ("FR", "GB", "DE", "US", "ES", "IT")
COUNTRY_WEIGHTS = (0.26, 0.20, 0.18, 0.14, 0.12, 0.10)
LOCALES = ("fr_FR", "en_GB", "de_DE", "en_US", "es_ES", "it_IT")
TIMEZONES = ("Europe/Paris", "Europe/London", "Europe/Berlin", "America/New_York", "Europe/Madrid", "Europe/Rome")
STANDARD_OFFSET_HOURS = (1, 0, 1, -5, 1, 1)  # only if the tz database is missing
CURRENCIES = ("EUR", "GBP", "EUR", "USD", "EUR", "EUR")
PRICE_FACTOR = np.array([1.0, 0.86, 1.0, 1.08, 1.0, 1.0])  # catalogue prices are in EUR
CALLING_CODES = ("33", "44", "49", "1", "34", "39")
TRUNK_PREFIX = ("0", "0", "0", "", "", "")  # national format prefix before the significant number
STORES_PER_COUNTRY = (12, 10, 10, 8, 6, 6)  # S-001.. numbered in COUNTRIES order

# Phone numbering plans: (country, prefix, random digits, groups of the national significant number,
# weight within the country). Prefixes are ranges that `phonenumbers.is_valid_number` accepts, so the
# platform's E.164 normalization has real numbers to work on.
_FR_MOBILE = ("60", "61", "62", "64", "65", "66", "67", "68", "75", "76", "77", "78")
_US_AREAS = ("212", "213", "312", "415", "617", "646", "702", "305", "404", "206", "512", "303", "202", "718")
PHONE_PLANS: tuple[tuple[str, str, int, tuple[int, ...], float], ...] = (
    *[("FR", p, 7, (1, 2, 2, 2, 2), 0.85 / len(_FR_MOBILE)) for p in _FR_MOBILE],
    ("FR", "1", 8, (1, 2, 2, 2, 2), 0.15),  # Paris landline: 01 xx xx xx xx
    *[("GB", p, 8, (4, 6), 0.80 / 3) for p in ("74", "75", "78")],  # 07400 123456
    ("GB", "207", 7, (2, 4, 4), 0.10),  # London: 020 7946 0958
    ("GB", "161", 7, (3, 3, 4), 0.10),  # Manchester: 0161 496 0000
    *[("DE", p, 8, (3, 8), 0.85 / 6) for p in ("151", "160", "170", "171", "172", "176")],
    ("DE", "30", 8, (2, 8), 0.10),  # Berlin
    ("DE", "89", 8, (2, 8), 0.05),  # Munich
    *[("US", a, 7, (3, 3, 4), 1 / len(_US_AREAS)) for a in _US_AREAS],  # exchange starts with 2-9
    ("ES", "6", 8, (3, 2, 2, 2), 0.85),
    ("ES", "91", 7, (2, 3, 2, 2), 0.15),
    *[("IT", p, 8, (3, 3, 4), 0.85 / 8) for p in ("32", "33", "34", "35", "36", "37", "38", "39")],
    ("IT", "06", 8, (2, 4, 4), 0.15),  # Rome; the leading 0 is part of the Italian number
)
_PLAN_COUNTRY = np.array([COUNTRIES.index(p[0]) for p in PHONE_PLANS], dtype=np.int8)
_PLAN_LOW = np.array([2 * 10 ** (p[2] - 1) if p[0] == "US" else 0 for p in PHONE_PLANS], dtype=np.int64)
_PLAN_HIGH = np.array([10 ** p[2] for p in PHONE_PLANS], dtype=np.int64)

CATEGORIES = ("shoes", "dresses", "shirts", "knitwear", "trousers", "bags", "accessories", "beauty", "home")
SEARCH_TERMS = (
    "linen shirt", "white sneakers", "summer dress", "wool coat", "leather bag", "gift card", "scarf",
    "running shoes", "jeans", "cashmere", "candle", "perfume", "sale", "kids", "belt", "sandals",
)  # fmt: skip
PAGES = ("", "women", "men", "new-in", "sale", "stores", "help/delivery", "help/returns", "account", "lookbook")

EMAIL_PLACEHOLDERS = ("N/A", "null", "none", "test@test.com", f"noemail@{BRAND}.com", "NULL")
PHONE_PLACEHOLDERS = ("N/A", "null", "none", "0000000000")

# --------------------------------------------------------------------------------------------
# Rates (per customer unless said otherwise). Module constants so tests and benchmarks can read them.
# --------------------------------------------------------------------------------------------

LOYALTY_SHARE = 0.60  # customers who are loyalty members
LOYALTY_CRM_LINK_SHARE = 0.45  # loyalty rows that carry the CRM id (the rest must be stitched)
HOUSEHOLD_SHARE = 0.01  # customers who use the email of another (so ~2% are in a shared email)
SECOND_DEVICE_SHARE = 0.30
DAILY_CRM_CHANGE_SHARE = 0.01
DAILY_NEW_CUSTOMER_SHARE = 0.002
DAILY_DELETE_SHARE = 0.0002
DAILY_LOYALTY_CHANGE_SHARE = 0.01  # of members
POS_BUYER_SHARE = 0.05
POS_ANONYMOUS_RATIO = 0.35  # walk-ins nobody can identify, per identified transaction
CARD_SCAN_SHARE = 0.70  # loyalty members' transactions with the card scanned
RECEIPT_EMAIL_SHARE = 0.20
RETURN_SHARE = 0.03
# The tills' first extract also carries past receipts of card holders (46 to 120 days back): the
# history that recency and lapsed-customer audiences need from the first day.
POS_HISTORY_SHARE = 0.04  # of alive loyalty members
POS_HISTORY_RECEIPTS = (2, 8)  # receipts per such member, low inclusive, high exclusive
POS_HISTORY_DAYS = (46, 121)
ORDER_BUYER_SHARE = 0.02
GUEST_CHECKOUT_SHARE = 0.20  # known customers checking out without logging in
PROSPECT_ORDER_RATIO = 0.10  # orders by people the CRM does not know
WEB_ACTIVE_SHARE = 0.10
EXTRA_SESSIONS_MEAN = 1.2  # sessions per active customer = 1 + Poisson(this)
EVENTS_PER_SESSION = 15  # mean, customers' sessions
EVENTS_PER_ANONYMOUS_SESSION = 8
ANONYMOUS_SESSION_RATIO = 1.0  # sessions of visitors who are not customers, per customer session
LOGIN_SHARE = 0.45  # customer sessions with a login
LATE_SESSION_SHARE = 0.01  # app sessions flushed days later: occurred_at before dt
DUPLICATE_EVENT_SHARE = 0.005  # at-least-once collection
CONSENT_INITIAL_SHARE = 0.65
DAILY_CONSENT_CHANGE_SHARE = 0.003
PRIVACY_REQUEST_SHARE = 0.00005  # per day, at least 2

ROWS_PER_FILE = 500_000  # bigger drops are split into parts
CHUNK = 25_000  # rows built and written at a time
GZIP_LEVEL = 3  # speed over size: the landing zone is a staging area
BAD_TIMESTAMP = "2024-13-45T99:00"

SOURCE_CODES = {name: i + 1 for i, name in enumerate(SOURCES)}  # seeds each source's generator
SOURCE_CODES["pos_history"] = len(SOURCE_CODES) + 101  # the tills' past receipts, drawn apart


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MalformedRow:
    """One deliberately broken row: where it is and what the loader should say about it."""

    source: str
    dt: date
    file: str  # path relative to out_dir
    line: int  # 1-based physical line (the CSV header is line 1)
    column: str | None  # None for a JSONL line that is not JSON
    defect: str


@dataclass
class GenerationStats:
    rows_per_source: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 0))
    files: int = 0  # data files, without the _SUCCESS markers
    malformed_rows: int = 0
    rows_per_drop: dict[str, int] = field(default_factory=dict)  # "<source>/dt=<day>" -> rows
    malformed: list[MalformedRow] = field(default_factory=list)
    duplicate_rows: int = 0  # web_events lines repeating an event_id already written that day
    late_rows: int = 0  # web_events whose occurred_at lies before dt
    bytes_written: int = 0

    @property
    def total_rows(self) -> int:
        return sum(self.rows_per_source.values())

    def as_dict(self) -> dict:
        return {
            "rows_per_source": dict(self.rows_per_source),
            "total_rows": self.total_rows,
            "files": self.files,
            "malformed_rows": self.malformed_rows,
            "duplicate_rows": self.duplicate_rows,
            "late_rows": self.late_rows,
            "bytes_written": self.bytes_written,
        }


def scale_hint(customers: int) -> dict[str, int]:
    """Expected rows of the first day's drops per source (later days: CRM/loyalty/consent ~1%)."""
    sessions = customers * WEB_ACTIVE_SHARE * (1 + EXTRA_SESSIONS_MEAN)
    web = sessions * (EVENTS_PER_SESSION + ANONYMOUS_SESSION_RATIO * EVENTS_PER_ANONYMOUS_SESSION)
    consenters = customers * CONSENT_INITIAL_SHARE
    return {
        "crm_customers": customers,
        "loyalty_members": round(customers * LOYALTY_SHARE),
        "pos_transactions": round(
            customers * POS_BUYER_SHARE * 1.08 * (1 + POS_ANONYMOUS_RATIO)
            + customers * LOYALTY_SHARE * POS_HISTORY_SHARE * sum(POS_HISTORY_RECEIPTS) / 2
        ),
        "ecommerce_orders": round(customers * ORDER_BUYER_SHARE * (1 + PROSPECT_ORDER_RATIO)),
        "web_events": round(web * (1 + DUPLICATE_EVENT_SHARE)),
        "consent_events": round(consenters * (0.8 * 4 + 0.2 * 2.4 + 0.17)),
        "privacy_requests": max(2, round(customers * PRIVACY_REQUEST_SHARE)),
    }


# --------------------------------------------------------------------------------------------
# Faker pools: built once per seed; rows only index into them
# --------------------------------------------------------------------------------------------

POOL_FIRST, POOL_LAST, POOL_STREET, POOL_PLACE, POOL_DOMAIN = 250, 500, 600, 250, 6


@dataclass(frozen=True)
class _Pools:
    first: np.ndarray  # [country, female, k] as written
    first_ascii: np.ndarray  # the same, folded to a-z for email local parts
    last: np.ndarray  # [country, k]
    last_ascii: np.ndarray
    street: np.ndarray  # [country, k]
    city: np.ndarray  # [country, k]; city, region and postal_code of one place share k
    region: np.ndarray
    postal_code: np.ndarray
    domain: np.ndarray  # [country, k] free email domains of the country


def _fold(name: str) -> str:
    """'Hélène Müller-Straße' -> 'helenemullerstrasse': a name as people put it in an email address."""
    name = name.lower().replace("ß", "ss").replace("æ", "ae").replace("œ", "oe").replace("ø", "o")
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(ch for ch in decomposed if "a" <= ch <= "z") or "user"


def _clean(text: str) -> str:
    return " ".join(text.split())  # Faker sometimes leaves trailing spaces or newlines


@lru_cache(maxsize=4)
def _pools(seed: int) -> _Pools:
    from faker import Faker  # heavy import, only needed here

    def table(values: list[list[str]]) -> np.ndarray:
        return np.array(values, dtype=str)

    first, last, street, city, region, postal, domain = [], [], [], [], [], [], []
    for country, locale in enumerate(LOCALES):
        fake = Faker(locale)
        fake.seed_instance(seed * 31 + country)
        first.append(
            [
                [_clean(fake.first_name_male()) for _ in range(POOL_FIRST)],
                [_clean(fake.first_name_female()) for _ in range(POOL_FIRST)],
            ]
        )
        last.append([_clean(fake.last_name()) for _ in range(POOL_LAST)])
        street.append([_clean(fake.street_address()) for _ in range(POOL_STREET)])
        city.append([_clean(fake.city()) for _ in range(POOL_PLACE)])
        unit = fake.state_abbr if locale == "en_US" else fake.administrative_unit
        region.append([_clean(unit()) for _ in range(POOL_PLACE)])
        postal.append([_clean(fake.postcode()) for _ in range(POOL_PLACE)])
        found: list[str] = []
        for _ in range(200):
            d = fake.free_email_domain()
            if d not in found:
                found.append(d)
            if len(found) == POOL_DOMAIN:
                break
        domain.append([found[i % len(found)] for i in range(POOL_DOMAIN)])
    first_t, last_t = table(first), table(last)
    return _Pools(
        first=first_t,
        first_ascii=table([[[_fold(n) for n in g] for g in c] for c in first]),
        last=last_t,
        last_ascii=table([[_fold(n) for n in c] for c in last]),
        street=table(street),
        city=table(city),
        region=table(region),
        postal_code=table(postal),
        domain=table(domain),
    )


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _rng(seed: int, day: int, what: str | int) -> np.random.Generator:
    """One independent generator per (seed, day, source): sources don't shift each other's draws."""
    code = SOURCE_CODES[what] if isinstance(what, str) else what
    return np.random.default_rng([seed & 0xFFFFFFFF, seed >> 32 & 0xFFFFFFFF, day, code])


def _codes(rng: np.random.Generator, n: int, probs: Sequence[float]) -> np.ndarray:
    p = np.asarray(probs, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int8)


def _customer_ids(people: np.ndarray) -> list[str]:
    return [f"C-{p + 1:07d}" for p in people.tolist()]


def _loyalty_ids(people: np.ndarray, salt: int) -> list[str]:
    # An affine permutation of 0..10^8-1 (the factor is coprime with 10): unique, and consecutive
    # customers get unrelated-looking card numbers.
    return [f"L-{(p * 54_435_761 + salt) % 100_000_000:08d}" for p in people.tolist()]


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a stable pseudo-random 64-bit value per key (uint64 arithmetic wraps)."""
    x = x.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


ECID_DEVICE0, ECID_DEVICE1, ECID_KIOSK, ECID_ANONYMOUS = 0, 1, 2, 3


def _ecids(keys: np.ndarray, kinds: np.ndarray, salt: int) -> list[str]:
    """38-digit first-party device ids (the shape of an Adobe ECID), stable per (person|visitor, device)."""
    k = keys.astype(np.uint64) * np.uint64(4) + kinds.astype(np.uint64) + np.uint64(salt)
    hi, lo = _mix64(k), _mix64(k ^ np.uint64(0x5DEECE66D))
    m = 10**19
    return [f"{a % m:019d}{b % m:019d}" for a, b in zip(hi.tolist(), lo.tolist(), strict=True)]


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    """Random (version 4, RFC 4122 variant) UUIDs from the generator: reproducible, unlike uuid.uuid4()."""
    h = rng.bytes(16 * n).hex()
    variant = "89ab89ab89ab89ab"  # indexed by the hex digit that is replaced
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{variant[int(h[i + 16], 16)]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


def _n_malformed(rows: int) -> int:
    """How many rows of a kind to break in a drop: a few, well under 0.1% of a big drop."""
    return 0 if rows < 10 else min(20, max(1, rows // 25_000))


def _pick(rng: np.random.Generator, n: int, k: int, exclude: np.ndarray | None = None) -> np.ndarray:
    candidates = np.arange(n) if exclude is None else np.setdiff1d(np.arange(n), exclude)
    k = min(k, candidates.size)
    return np.sort(rng.choice(candidates, size=k, replace=False)) if k else np.empty(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Days and timestamps
# --------------------------------------------------------------------------------------------

TS_Z, TS_OFFSET, TS_NAIVE, TS_SPACE = 0, 1, 2, 3  # "...Z", "...+02:00", "..." (UTC), "YYYY-MM-DD HH:MM:SS"


@dataclass(frozen=True)
class _Day:
    index: int
    dt: date
    start: int  # epoch seconds of 00:00 UTC
    offset_seconds: np.ndarray  # per country, UTC offset that day
    offset_text: tuple[str, ...]

    @property
    def stamp(self) -> str:
        return self.dt.strftime("%Y%m%d")

    def times(self, rng: np.random.Generator, n: int, first_hour: int = 5, last_hour: int = 22) -> np.ndarray:
        """Instants within the day, in daytime hours (05:00-22:00 UTC keeps every local rendering on dt)."""
        return self.start + rng.integers(first_hour * 3600, last_hour * 3600, size=n, dtype=np.int64)


def _make_day(index: int, dt: date) -> _Day:
    offsets = []
    noon = datetime(dt.year, dt.month, dt.day, 12, tzinfo=UTC)
    for tz, standard in zip(TIMEZONES, STANDARD_OFFSET_HOURS, strict=True):
        try:
            offset = noon.astimezone(ZoneInfo(tz)).utcoffset()
            offsets.append(int(offset.total_seconds()) if offset is not None else standard * 3600)
        except Exception:  # no tz database on this machine: standard time is close enough
            offsets.append(standard * 3600)
    texts = tuple(f"{'+' if o >= 0 else '-'}{abs(o) // 3600:02d}:{abs(o) % 3600 // 60:02d}" for o in offsets)
    start = int(datetime(dt.year, dt.month, dt.day, tzinfo=UTC).timestamp())
    return _Day(index, dt, start, np.array(offsets, dtype=np.int64), texts)


def _format_ts(
    day: _Day,
    secs: np.ndarray,
    country: np.ndarray,
    styles: np.ndarray,
    millis: np.ndarray | None = None,
) -> list[str]:
    """ISO-8601 renderings of instants: with Z, with the country's offset, or without offset (= UTC)."""
    local = secs + np.where(styles == TS_OFFSET, day.offset_seconds[country], 0)
    base = np.datetime_as_string(local.astype("datetime64[s]"), unit="s").tolist()
    texts = day.offset_text
    out = []
    ms_list = millis.tolist() if millis is not None else None
    for i, (b, st, c) in enumerate(zip(base, styles.tolist(), country.tolist(), strict=True)):
        if ms_list is not None:
            b = f"{b}.{ms_list[i]:03d}"
        if st == TS_Z:
            out.append(b + "Z")
        elif st == TS_OFFSET:
            out.append(b + texts[c])
        elif st == TS_SPACE:
            out.append(b.replace("T", " "))
        else:
            out.append(b)
    return out


# --------------------------------------------------------------------------------------------
# Identifier renderings: how people type their email and phone in each system
# --------------------------------------------------------------------------------------------

EM_PLAIN, EM_TITLE, EM_UPPER, EM_PADDED, EM_PADDED_TITLE, EM_PLACEHOLDER, EM_EMPTY = range(7)
EMAIL_MIX_CRM = (0.80, 0.06, 0.02, 0.03, 0.02, 0.015, 0.055)
EMAIL_MIX_LOYALTY = (0.70, 0.10, 0.05, 0.05, 0.03, 0.02, 0.05)
EMAIL_MIX_ORDERS = (0.86, 0.05, 0.02, 0.04, 0.02, 0.01, 0.0)
EMAIL_MIX_RECEIPT = (0.80, 0.05, 0.05, 0.04, 0.02, 0.04, 0.0)
EMAIL_MIX_CLEAN = (0.86, 0.06, 0.03, 0.03, 0.02, 0.0, 0.0)  # consent, privacy, newsletter: no placeholders


def _title_domain(domain: str) -> str:
    name, _, tld = domain.rpartition(".")
    return f"{name.capitalize()}.{tld.upper()}"  # gmail.com -> Gmail.COM


def _render_emails(addresses: list[str], codes: np.ndarray, picks: np.ndarray) -> list[str]:
    out = []
    for a, c, p in zip(addresses, codes.tolist(), picks.tolist(), strict=True):
        if c == EM_PLAIN:
            out.append(a)
        elif c == EM_TITLE or c == EM_PADDED_TITLE:
            local, _, dom = a.partition("@")
            t = f"{local.title()}@{_title_domain(dom)}"  # Jane.Doe12@Gmail.COM
            out.append(f"  {t} " if c == EM_PADDED_TITLE else t)
        elif c == EM_UPPER:
            out.append(a.upper())
        elif c == EM_PADDED:
            out.append(f" {a}  " if p % 2 else f"  {a} ")
        elif c == EM_PLACEHOLDER:
            out.append(EMAIL_PLACEHOLDERS[p % len(EMAIL_PLACEHOLDERS)])
        else:
            out.append("")
    return out


(PH_E164, PH_INTL, PH_00, PH_00_SPACED, PH_NATIONAL, PH_COMPACT, PH_DOTTED, PH_PLACEHOLDER, PH_EMPTY) = range(9)
PHONE_MIX_CRM = (0.18, 0.17, 0.05, 0.03, 0.33, 0.10, 0.04, 0.015, 0.085)  # rows carry a country
PHONE_MIX_LOYALTY = (0.25, 0.10, 0.03, 0.02, 0.30, 0.15, 0.05, 0.02, 0.08)
PHONE_MIX_INTERNATIONAL = (0.45, 0.35, 0.12, 0.08, 0, 0, 0, 0, 0)  # no country column: keep the code


def _render_phone(nsn: str, plan: int, code: int, pick: int) -> str:
    country = _PLAN_COUNTRY[plan]
    cc, trunk, groups = CALLING_CODES[country], TRUNK_PREFIX[country], PHONE_PLANS[plan][3]
    parts, i = [], 0
    for g in groups:
        parts.append(nsn[i : i + g])
        i += g
    us = country == 3
    if code == PH_E164:
        return f"+{cc}{nsn}"
    if code == PH_INTL:
        if us and pick % 2:
            return f"+1 ({parts[0]}) {parts[1]}-{parts[2]}"  # +1 (555) 010-2233
        return f"+{cc} {' '.join(parts)}"
    if code == PH_00:
        return f"00{cc} {' '.join(parts)}"  # 0044 20 7946 0958
    if code == PH_00_SPACED:
        return f"00 {cc} {' '.join(parts)}"  # 00 44 20 7946 0958
    if code == PH_NATIONAL:
        if us:
            return f"({parts[0]}) {parts[1]}-{parts[2]}"
        return trunk + " ".join(parts)  # 020 7946 0958, 06 12 34 56 78
    if code == PH_COMPACT:
        return f"{parts[0]}-{parts[1]}-{parts[2]}" if us else trunk + nsn
    if code == PH_DOTTED:
        return trunk + ".".join(parts)  # 555.010.2233, 06.12.34.56.78
    if code == PH_PLACEHOLDER:
        return PHONE_PLACEHOLDERS[pick % len(PHONE_PLACEHOLDERS)]
    return ""


# --------------------------------------------------------------------------------------------
# The persona model
# --------------------------------------------------------------------------------------------

TIERS = ("bronze", "silver", "gold", "platinum")
GENDER_TEXT = np.array(["M", "F", "X", ""])


class _People:
    """Everyone the brand knows, as parallel arrays; index i is CRM customer C-{i+1}.

    Identifiers are derived, not stored as strings: an email from the owner's names, style,
    domain and version; a phone from its plan and digits. That keeps 1M people in a few MB
    and lets a change (new email, new phone) be one array write.
    """

    FIELDS = (
        "country", "female", "x_gender", "first", "last", "street", "place", "birth", "created",
        "email_owner", "email_style", "email_domain", "email_version", "phone_plan", "phone_digits",
        "loyal", "loyalty_linked", "tier", "points", "enrolled", "devices", "home_store", "deleted",
    )  # fmt: skip

    def __init__(self, pools: _Pools, seed: int, n: int, start: _Day):
        self.pools = pools
        self.salt = (seed * 2654435761) % (1 << 40)
        self.loyalty_salt = seed * 7919 % 100_000_000
        self.base = n
        self.today = start.start // 86_400  # days since 1970 of the first day
        rng = _rng(seed, 0, 100)
        self._stores(rng)
        created = start.start - rng.integers(86_400, 8 * 365 * 86_400, size=n, dtype=np.int64)
        for name, values in self._draw(rng, 0, n, created).items():
            setattr(self, name, values)
        self._households(rng)
        # Loyalty members enrolled some time between becoming a customer and the first day.
        m = self.loyal
        self.enrolled[m] = created[m] + (rng.random(m.sum()) * (start.start - created[m])).astype(np.int64)

    def __len__(self) -> int:
        return self.country.size

    def _stores(self, rng: np.random.Generator) -> None:
        self.store_country = np.repeat(np.arange(len(COUNTRIES)), STORES_PER_COUNTRY).astype(np.int8)
        self.store_place = rng.integers(0, POOL_PLACE, size=self.store_country.size)
        self.store_region = self.pools.region[self.store_country, self.store_place].tolist()
        self.stores_of = [np.flatnonzero(self.store_country == c) for c in range(len(COUNTRIES))]

    def _draw(self, rng: np.random.Generator, first_index: int, n: int, created: np.ndarray) -> dict:
        country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS).astype(np.int8)
        plan = np.zeros(n, dtype=np.int16)
        for c in range(len(COUNTRIES)):  # fixed order: deterministic
            rows = np.flatnonzero(country == c)
            plans = np.flatnonzero(_PLAN_COUNTRY == c)
            weights = np.array([PHONE_PLANS[p][4] for p in plans])
            plan[rows] = rng.choice(plans, size=rows.size, p=weights / weights.sum())
        loyal = rng.random(n) < LOYALTY_SHARE
        tier = rng.choice(4, size=n, p=(0.5, 0.3, 0.15, 0.05)).astype(np.int8)
        home_store = np.array([self.stores_of[c][0] for c in range(len(COUNTRIES))])[country]
        home_store = home_store + rng.integers(0, 1 << 16, size=n) % np.array(STORES_PER_COUNTRY)[country]
        return {
            "country": country,
            "female": rng.random(n) < 0.55,
            "x_gender": rng.random(n) < 0.01,
            "first": rng.integers(0, POOL_FIRST, size=n, dtype=np.int32),
            "last": rng.integers(0, POOL_LAST, size=n, dtype=np.int32),
            "street": rng.integers(0, POOL_STREET, size=n, dtype=np.int32),
            "place": rng.integers(0, POOL_PLACE, size=n, dtype=np.int32),
            "birth": (self.today - rng.integers(18 * 365, 85 * 365, size=n)).astype("datetime64[D]"),
            "created": created,
            "email_owner": np.arange(first_index, first_index + n, dtype=np.int64),
            "email_style": rng.integers(0, 5, size=n, dtype=np.int8),
            "email_domain": rng.integers(0, POOL_DOMAIN, size=n, dtype=np.int8),
            "email_version": np.zeros(n, dtype=np.int16),
            "phone_plan": plan,
            "phone_digits": rng.integers(_PLAN_LOW[plan], _PLAN_HIGH[plan]),
            "loyal": loyal,
            "loyalty_linked": rng.random(n) < LOYALTY_CRM_LINK_SHARE,
            "tier": tier,
            "points": (rng.gamma(1.5, 400, size=n) * (1 + tier)).astype(np.int64),
            "enrolled": created.copy(),
            "devices": np.where(rng.random(n) < SECOND_DEVICE_SHARE, 2, 1).astype(np.int8),
            "home_store": home_store.astype(np.int16),
            "deleted": np.zeros(n, dtype=bool),
        }

    def _households(self, rng: np.random.Generator) -> None:
        """Partners sharing one email: the secondary takes the primary's email, surname and address."""
        n = len(self)
        k = max(1, round(n * HOUSEHOLD_SHARE)) if n >= 4 else 0
        secondary = _pick(rng, n, k)
        primary = rng.choice(np.setdiff1d(np.arange(n), secondary), size=secondary.size)
        for name in ("country", "last", "street", "place", "home_store"):
            getattr(self, name)[secondary] = getattr(self, name)[primary]
        self.email_owner[secondary] = primary
        # Some also share one phone (the landline).
        shared_phone = secondary[rng.random(secondary.size) < 0.3]
        owners = self.email_owner[shared_phone]
        self.phone_plan[shared_phone] = self.phone_plan[owners]
        self.phone_digits[shared_phone] = self.phone_digits[owners]

    def add(self, rng: np.random.Generator, n: int, created: np.ndarray) -> np.ndarray:
        """New customers (ids continue after the last one); returns their indices."""
        first = len(self)
        new = self._draw(rng, first, n, created)
        for name in self.FIELDS:
            setattr(self, name, np.concatenate([getattr(self, name), new[name]]))
        return np.arange(first, first + n)

    def alive(self) -> np.ndarray:
        return np.flatnonzero(~self.deleted)

    # -- identifiers -------------------------------------------------------------------------

    def emails(self, idx: np.ndarray) -> list[str]:
        """Canonical (lower-case) email address of each person; household members share one."""
        o = self.email_owner[idx]
        c, g = self.country[o], self.female[o].astype(np.int8)
        first = self.pools.first_ascii[c, g, self.first[o]].tolist()
        last = self.pools.last_ascii[c, self.last[o]].tolist()
        domain = self.pools.domain[c, self.email_domain[o]].tolist()
        out = []
        for f, la, d, s, n, v in zip(
            first, last, domain, self.email_style[o].tolist(), (o + 1).tolist(),
            self.email_version[o].tolist(), strict=True,
        ):  # fmt: skip
            # The number makes every address unique (names hold no digits); a changed address
            # gets a version suffix and a new domain.
            num = f"{n}" if v == 0 else f"{n}_{v}"
            if s == 0:
                local = f"{f}.{la}{num}"
            elif s == 1:
                local = f"{f[0]}{la}{num}"
            elif s == 2:
                local = f"{f}_{la}{num}"
            elif s == 3:
                local = f"{la}.{f}{num}"
            else:
                local = f"{f}{num}"
            out.append(f"{local}@{d}")
        return out

    def phones(self, idx: np.ndarray, codes: np.ndarray, picks: np.ndarray) -> list[str]:
        plans = self.phone_plan[idx].tolist()
        digits = self.phone_digits[idx].tolist()
        out = []
        for plan, d, code, pick in zip(plans, digits, codes.tolist(), picks.tolist(), strict=True):
            _, prefix, width, _, _ = PHONE_PLANS[plan]
            out.append(_render_phone(f"{prefix}{d:0{width}d}", plan, code, pick))
        return out

    def loyalty_ids(self, idx: np.ndarray) -> list[str]:
        return _loyalty_ids(idx, self.loyalty_salt)


def _prospect_emails(pools: _Pools, rng: np.random.Generator, country: np.ndarray, salt: int) -> list[str]:
    """Addresses of people the CRM does not know (guest orders, newsletter sign-ups of visitors)."""
    n = country.size
    f = pools.first_ascii[country, rng.integers(0, 2, n), rng.integers(0, POOL_FIRST, n)].tolist()
    la = pools.last_ascii[country, rng.integers(0, POOL_LAST, n)].tolist()
    d = pools.domain[country, rng.integers(0, POOL_DOMAIN, n)].tolist()
    k = (rng.integers(0, 1 << 40, n) ^ salt).tolist()
    # "<first><last>.<number>": no customer address has this shape, so no accidental match.
    return [f"{a}{b}.{x % 100_000}@{c}" for a, b, c, x in zip(f, la, d, k, strict=True)]


# --------------------------------------------------------------------------------------------
# Daily evolution of the persona model
# --------------------------------------------------------------------------------------------


@dataclass
class _Changes:
    crm: np.ndarray  # people with a CRM row today (sorted)
    loyalty: np.ndarray  # members with a loyalty row today
    new: np.ndarray  # customers created today
    deleted_today: np.ndarray


def _evolve(people: _People, day: _Day, seed: int) -> _Changes:
    n0 = people.base
    if day.index == 0:
        # The first drop is the full extract; a few already-deleted accounts are still in it.
        rng = _rng(seed, 0, 101)
        gone = np.flatnonzero(rng.random(n0) < 0.0005)
        people.deleted[gone] = True
        return _Changes(np.arange(n0), np.flatnonzero(people.loyal), np.empty(0, np.int64), gone)

    rng = _rng(seed, day.index, 101)
    existing = people.alive()
    # New customers sign up during the day.
    n_new = max(1, round(n0 * DAILY_NEW_CUSTOMER_SHARE))
    new = people.add(rng, n_new, day.times(rng, n_new, 5, 20))
    joined = new[rng.random(n_new) < 0.3]  # joined the loyalty programme at sign-up
    people.loyal[new] = False
    people.loyal[joined] = True
    people.tier[joined] = 0
    people.points[joined] = 0
    people.enrolled[joined] = people.created[joined] + 600

    changed = _pick(rng, existing.size, max(1, round(n0 * DAILY_CRM_CHANGE_SHARE)))
    changed = existing[changed]
    kind = rng.choice(5, size=changed.size, p=(0.30, 0.25, 0.20, 0.10, 0.15))
    moved_email = changed[kind == 0]
    people.email_version[moved_email] += 1
    people.email_domain[moved_email] = (people.email_domain[moved_email] + 1) % POOL_DOMAIN
    people.email_owner[moved_email] = moved_email  # a household member who gets their own address
    new_phone = changed[kind == 1]
    plan = people.phone_plan[new_phone]
    people.phone_digits[new_phone] = rng.integers(_PLAN_LOW[plan], _PLAN_HIGH[plan])
    moved = changed[kind == 2]
    people.street[moved] = rng.integers(0, POOL_STREET, size=moved.size)
    people.place[moved] = rng.integers(0, POOL_PLACE, size=moved.size)
    renamed = changed[kind == 3]
    people.last[renamed] = rng.integers(0, POOL_LAST, size=renamed.size)
    # kind 4: the record was touched (opt-in flag, notes): same values, new updated_at.

    remaining = np.setdiff1d(existing, changed)
    deleted = remaining[_pick(rng, remaining.size, max(1, round(n0 * DAILY_DELETE_SHARE)))]
    people.deleted[deleted] = True

    # Loyalty: enrolments, tier and points moves, and the contact changes the CRM synced.
    members = np.flatnonzero(people.loyal[: new[0]] & ~people.deleted[: new[0]])
    moving = members[_pick(rng, members.size, max(1, round(members.size * DAILY_LOYALTY_CHANGE_SHARE)))]
    up = moving[rng.random(moving.size) < 0.2]
    people.tier[up] = np.minimum(people.tier[up] + 1, 3)
    people.points[moving] = np.maximum(0, people.points[moving] + rng.integers(-800, 2500, moving.size))
    outsiders = np.flatnonzero(~people.loyal[: new[0]] & ~people.deleted[: new[0]])
    enrolling = outsiders[_pick(rng, outsiders.size, max(1, round(n0 * 0.001)))]
    people.loyal[enrolling] = True
    people.tier[enrolling] = 0
    people.points[enrolling] = 0
    people.enrolled[enrolling] = day.times(rng, enrolling.size, 5, 12)
    synced = changed[(kind <= 1) & people.loyal[changed]]
    synced = synced[rng.random(synced.size) < 0.5]
    loyalty = np.unique(np.concatenate([joined, moving, enrolling, synced]))
    crm = np.unique(np.concatenate([changed, new, deleted]))
    return _Changes(crm, loyalty, new, deleted)


# --------------------------------------------------------------------------------------------
# Writing drops
# --------------------------------------------------------------------------------------------


class _Sink:
    """One data file: counts its lines so malformed rows can be reported by line number."""

    def __init__(self, drop: _Drop, name: str, header: Sequence[str] | None):
        self.drop, self.name = drop, name
        self.path = drop.dir / name
        self.rows = 0
        self._raw = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        binary = self._raw
        self._gz = None
        if name.endswith(".gz"):
            # mtime=0 and no file name in the header: the bytes depend on the content only.
            self._gz = binary = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw,
                                              compresslevel=GZIP_LEVEL, mtime=0)  # fmt: skip
        self._text = io.TextIOWrapper(binary, encoding="utf-8", newline="", write_through=False)
        self._csv = csv.writer(self._text) if header is not None else None  # RFC 4180, CRLF
        self._first_line = 1
        if self._csv is not None:
            self._csv.writerow(header)
            self._first_line = 2

    def write(self, rows: list, defects: Sequence[tuple[int, str | None, str]] = ()) -> None:
        """rows: CSV rows or JSON lines (without newline); defects: (index in rows, column, defect)."""
        for i, column, defect in defects:
            self.drop.malformed(self.name, self._first_line + self.rows + i, column, defect)
        if self._csv is not None:
            self._csv.writerows(rows)
        elif rows:
            self._text.write("\n".join(rows))
            self._text.write("\n")
        self.rows += len(rows)

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        if self._gz is not None:
            self._gz.close()
        self._raw.close()


class _Drop:
    """One source's folder for one day; ends with the empty _SUCCESS marker."""

    def __init__(self, stats: GenerationStats, root: Path, source: str, day: _Day):
        self.stats, self.root, self.source, self.day = stats, root, source, day
        self.prefix = f"{source}/dt={day.dt.isoformat()}"
        self.dir = root / self.prefix
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.iterdir():  # a re-generated drop replaces the previous one
            if old.is_file():
                old.unlink()
        self.rows = 0

    def stem(self, part: int | None = None) -> str:
        return f"{self.source}_{self.day.stamp}" + (f"_part{part:03d}" if part is not None else "")

    @contextmanager
    def open(self, name: str, header: Sequence[str] | None = None) -> Iterator[_Sink]:
        sink = _Sink(self, name, header)
        try:
            yield sink
        finally:
            sink.close()
        self.rows += sink.rows
        self.stats.files += 1
        self.stats.bytes_written += sink.path.stat().st_size

    def malformed(self, file: str, line: int, column: str | None, defect: str) -> None:
        self.stats.malformed.append(
            MalformedRow(self.source, self.day.dt, f"{self.prefix}/{file}", line, column, defect)
        )
        self.stats.malformed_rows += 1

    def write_table(
        self,
        n: int,
        make_rows: Callable[[int, int], tuple[list, list]],
        header: Sequence[str] | None = None,
        compressed: bool = False,
    ) -> None:
        """Rows 0..n-1 built chunk by chunk, split into parts of ROWS_PER_FILE."""
        if n == 0 and header is None:
            return  # an empty JSONL file is a whole-file defect; the drop just has no file
        ext = (".csv" if header is not None else ".jsonl") + (".gz" if compressed else "")
        parts = max(1, math.ceil(n / ROWS_PER_FILE))
        bounds = np.linspace(0, n, parts + 1).astype(np.int64).tolist()
        for k in range(parts):
            with self.open(self.stem(k + 1 if parts > 1 else None) + ext, header) as sink:
                for lo in range(bounds[k], bounds[k + 1], CHUNK):
                    hi = min(lo + CHUNK, bounds[k + 1])
                    rows, defects = make_rows(lo, hi)
                    sink.write(rows, [(i - lo, c, d) for i, c, d in defects])

    def finish(self) -> None:
        (self.dir / "_SUCCESS").write_bytes(b"")
        self.stats.rows_per_source[self.source] += self.rows
        self.stats.rows_per_drop[self.prefix] = self.rows


def _apply_csv_defects(rows: list, bad: dict[int, tuple[int, str, str, str]], lo: int, hi: int) -> list:
    """Replace one value in each broken row; returns (index, column, defect) for the sink."""
    found = []
    for i, (col_index, column, value, defect) in ((i, bad[i]) for i in bad if lo <= i < hi):
        row = list(rows[i - lo])
        row[col_index] = value
        rows[i - lo] = row
        found.append((i, column, defect))
    return found


# --------------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------------


def _write_crm(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator) -> None:
    """Day 1: everyone (the full extract); later days: changed, new and deleted customers."""
    cols = SOURCES["crm_customers"].column_names
    idx = changes.crm
    n = idx.size
    email_codes, phone_codes = _codes(rng, n, EMAIL_MIX_CRM), _codes(rng, n, PHONE_MIX_CRM)
    picks = rng.integers(0, 1 << 20, size=n)
    gender = np.where(people.x_gender[idx], 2, people.female[idx].astype(np.int8))
    gender = np.where(rng.random(n) < 0.04, 3, gender)  # not captured
    no_birth = rng.random(n) < 0.06
    shout = rng.random(n) < 0.03  # DUPONT: surnames typed in capitals
    updated = day.times(rng, n)
    created = np.where(np.isin(idx, changes.new), np.minimum(people.created[idx], updated - 60), people.created[idx])
    created_style = _codes(rng, n, (0.5, 0.1, 0.1, 0.3))  # SQL exports often "YYYY-MM-DD HH:MM:SS"
    updated_style = _codes(rng, n, (0.65, 0.25, 0.1, 0.0))
    deleted = np.isin(idx, changes.deleted_today)
    bad = {int(i): (cols.index("updated_at"), "updated_at", BAD_TIMESTAMP, "bad timestamp")
           for i in _pick(rng, n, _n_malformed(n))}  # fmt: skip
    pools = people.pools

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        p = idx[lo:hi]
        c = people.country[p]
        last = pools.last[c, people.last[p]]
        last = np.where(shout[lo:hi], np.char.upper(last), last)
        birth = np.where(no_birth[lo:hi], "", np.datetime_as_string(people.birth[p], unit="D"))
        place = people.place[p]
        rows = list(
            zip(
                _customer_ids(p),
                _render_emails(people.emails(p), email_codes[lo:hi], picks[lo:hi]),
                people.phones(p, phone_codes[lo:hi], picks[lo:hi]),
                pools.first[c, people.female[p].astype(np.int8), people.first[p]].tolist(),
                last.tolist(),
                birth.tolist(),
                GENDER_TEXT[gender[lo:hi]].tolist(),
                pools.street[c, people.street[p]].tolist(),
                pools.city[c, place].tolist(),
                pools.region[c, place].tolist(),
                pools.postal_code[c, place].tolist(),
                np.array(COUNTRIES)[c].tolist(),
                _format_ts(day, created[lo:hi], c, created_style[lo:hi]),
                _format_ts(day, updated[lo:hi], c, updated_style[lo:hi]),
                np.where(deleted[lo:hi], "true", "false").tolist(),
                strict=True,
            )
        )
        return rows, _apply_csv_defects(rows, bad, lo, hi)

    drop.write_table(n, make_rows, header=cols)


def _write_loyalty(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator) -> None:
    """Day 1: every member; later days: enrolments, tier/points moves, synced contact changes."""
    cols = SOURCES["loyalty_members"].column_names
    idx = changes.loyalty
    n = idx.size
    email_codes, phone_codes = _codes(rng, n, EMAIL_MIX_LOYALTY), _codes(rng, n, PHONE_MIX_LOYALTY)
    picks = rng.integers(0, 1 << 20, size=n)
    updated = day.times(rng, n)
    enrolled = np.minimum(people.enrolled[idx], updated - 60)
    styles = _codes(rng, n, (0.55, 0.35, 0.1, 0.0))
    bad = {int(i): (cols.index("tier"), "tier", "diamond", "value not allowed")
           for i in _pick(rng, n, _n_malformed(n))}  # fmt: skip
    # From the second day the loyalty system exports its columns in another order (matched by name).
    order = list(range(len(cols))) if day.index == 0 else rng.permutation(len(cols)).tolist()
    header = [cols[i] for i in order]
    pools = people.pools

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        p = idx[lo:hi]
        c = people.country[p]
        linked = people.loyalty_linked[p]
        rows = list(
            zip(
                people.loyalty_ids(p),
                [cid if ok else "" for cid, ok in zip(_customer_ids(p), linked.tolist(), strict=True)],
                _render_emails(people.emails(p), email_codes[lo:hi], picks[lo:hi]),
                people.phones(p, phone_codes[lo:hi], picks[lo:hi]),
                pools.first[c, people.female[p].astype(np.int8), people.first[p]].tolist(),
                pools.last[c, people.last[p]].tolist(),
                np.array(COUNTRIES)[c].tolist(),
                np.array(TIERS)[people.tier[p]].tolist(),
                [str(x) for x in people.points[p].tolist()],
                _format_ts(day, enrolled[lo:hi], c, styles[lo:hi]),
                _format_ts(day, updated[lo:hi], c, styles[lo:hi]),
                strict=True,
            )
        )
        defects = _apply_csv_defects(rows, bad, lo, hi)
        if day.index:
            rows[:] = [[r[i] for i in order] for r in rows]
        return rows, defects

    drop.write_table(n, make_rows, header=header)


def _write_pos(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator) -> None:
    """Till receipts in time order: identified by a scanned card or an e-receipt email, or not at all."""
    cols = list(SOURCES["pos_transactions"].column_names)
    # The till system sends an extra column the contract does not know: it must land in the overflow.
    header = cols[:2] + ["store_region"] + cols[2:]
    alive = people.alive()
    buyers = alive[rng.random(alive.size) < POS_BUYER_SHARE]
    buyers = np.concatenate([buyers, buyers[rng.random(buyers.size) < 0.08]])  # a second visit
    n_anon = round(buyers.size * POS_ANONYMOUS_RATIO)
    person = np.concatenate([buyers, np.full(n_anon, -1)])
    n = person.size
    known = person >= 0
    p_safe = np.where(known, person, 0)
    store = people.home_store[p_safe].astype(np.int64)
    elsewhere = rng.random(n) < 0.15  # shopping away from the usual store, or a walk-in
    elsewhere |= ~known
    anon_country = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    country = np.where(known, people.country[p_safe], anon_country)
    stores_per = np.array(STORES_PER_COUNTRY)
    first_store = np.concatenate([[0], np.cumsum(stores_per)[:-1]])
    store = np.where(elsewhere, first_store[country] + rng.integers(0, 1 << 16, n) % stores_per[country], store)
    country = people.store_country[store]
    # Tills run 09:00-18:00 local time; kept as instants within dt.
    at = day.start + rng.integers(9 * 3600, 18 * 3600, size=n) - day.offset_seconds[country]
    order = np.argsort(at, kind="stable")
    person, store, country, at, known, p_safe = (a[order] for a in (person, store, country, at, known, p_safe))
    scanned = known & people.loyal[p_safe] & (rng.random(n) < CARD_SCAN_SHARE)
    receipt = known & (rng.random(n) < RECEIPT_EMAIL_SHARE)
    email_codes, picks = _codes(rng, n, EMAIL_MIX_RECEIPT), rng.integers(0, 1 << 20, size=n)
    items = rng.geometric(0.45, size=n)
    amount = np.round(items * np.exp(rng.normal(3.3, 0.6, size=n)) * PRICE_FACTOR[country], 2)
    returned = rng.random(n) < RETURN_SHARE
    if n >= 10:
        returned[rng.integers(0, n)] = True  # every till day sees at least one return
    amount = np.where(returned, -amount, amount)
    styles = _codes(rng, n, (0.4, 0.5, 0.1, 0.0))
    k = _n_malformed(n)
    bad_ids = _pick(rng, n, k)
    bad_amounts = _pick(rng, n, k, exclude=bad_ids)
    bad = {int(i): (cols.index("transaction_id"), "transaction_id", "", "missing required value")
           for i in bad_ids}  # fmt: skip
    for j, i in enumerate(bad_amounts.tolist()):
        text = f"{abs(amount[i]):.2f}".replace(".", ",") if j % 2 == 0 else "abc"
        bad[i] = (cols.index("total_amount"), "total_amount", text, "not a decimal")

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        s = store[lo:hi]
        loyalty = people.loyalty_ids(p_safe[lo:hi])
        emails = _render_emails(people.emails(p_safe[lo:hi]), email_codes[lo:hi], picks[lo:hi])
        rows = list(
            zip(
                [f"T-{day.stamp}-{i + 1:07d}" for i in range(lo, hi)],
                [f"S-{x + 1:03d}" for x in s.tolist()],
                [loyalty[j] if ok else "" for j, ok in enumerate(scanned[lo:hi].tolist())],
                [emails[j] if ok else "" for j, ok in enumerate(receipt[lo:hi].tolist())],
                _format_ts(day, at[lo:hi], country[lo:hi], styles[lo:hi]),
                [str(x) for x in items[lo:hi].tolist()],
                [f"{x:.2f}" for x in amount[lo:hi].tolist()],
                np.array(CURRENCIES)[country[lo:hi]].tolist(),
                strict=True,
            )
        )
        defects = _apply_csv_defects(rows, bad, lo, hi)
        regions = [people.store_region[x] for x in s.tolist()]
        rows[:] = [(*r[:2], reg, *r[2:]) for r, reg in zip(rows, regions, strict=True)]
        return rows, defects

    drop.write_table(n, make_rows, header=header, compressed=day.index % 2 == 1)


@dataclass
class _Catalog:
    sku: list[str]
    category: list[str]
    price: np.ndarray  # EUR

    @staticmethod
    def build(seed: int) -> _Catalog:
        rng = _rng(seed, 0, 102)
        n = 400
        cat = rng.integers(0, len(CATEGORIES), size=n)
        sku = [f"{CATEGORIES[c][:3].upper()}-{i + 1:05d}" for i, c in enumerate(cat.tolist())]
        price = np.round(np.exp(rng.normal(3.6, 0.7, size=n))) - 0.01  # 39.99-like prices
        return _Catalog(sku, [CATEGORIES[c] for c in cat.tolist()], np.maximum(price, 4.99))


_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass
class _OpenOrder:
    record: dict
    status: str
    since: int  # day index of the last status


class _OrderBook:
    """Orders placed on earlier days that can still change status (placed -> shipped -> delivered...)."""

    def __init__(self) -> None:
        self.open: list[_OpenOrder] = []


def _write_pos_history(people: _People, day: _Day, drop: _Drop, rng: np.random.Generator) -> None:
    """The first extract's past receipts: card holders' purchases 46 to 120 days before dt (late data)."""
    members = people.alive()[people.loyal[people.alive()]]
    members = members[rng.random(members.size) < POS_HISTORY_SHARE]
    receipts = rng.integers(*POS_HISTORY_RECEIPTS, size=members.size)
    person = np.repeat(members, receipts)
    n = person.size
    if n == 0:
        return
    days_back = rng.integers(*POS_HISTORY_DAYS, size=n)
    at = day.start - days_back * 86400 + rng.integers(9 * 3600, 18 * 3600, size=n)
    order = np.argsort(at, kind="stable")
    person, at = person[order], at[order]
    country = people.country[person]
    items = rng.geometric(0.35, size=n)
    amount = np.round(items * np.exp(rng.normal(3.6, 0.5, size=n)) * PRICE_FACTOR[country], 2)
    store = people.home_store[person]
    stamps = np.datetime_as_string(at.astype("datetime64[s]"), unit="s")
    rows = list(
        zip(
            [f"T-H{day.stamp}-{i + 1:07d}" for i in range(n)],
            [f"S-{x + 1:03d}" for x in store.tolist()],
            people.loyalty_ids(person),
            [""] * n,
            [f"{t}Z" for t in stamps.tolist()],
            [str(x) for x in items.tolist()],
            [f"{x:.2f}" for x in amount.tolist()],
            np.array(CURRENCIES)[country].tolist(),
            strict=True,
        )
    )
    with drop.open(f"{drop.stem()}_history.csv", list(SOURCES["pos_transactions"].column_names)) as sink:
        sink.write(rows)


def _write_orders(
    people: _People,
    day: _Day,
    drop: _Drop,
    changes: _Changes,
    rng: np.random.Generator,
    catalog: _Catalog,
    book: _OrderBook,
) -> None:
    """Today's orders (customers, guest checkouts, prospects) plus status updates of earlier ones."""
    pools = people.pools
    alive = people.alive()
    buyers = alive[rng.random(alive.size) < ORDER_BUYER_SHARE]
    n_prospects = round(buyers.size * PROSPECT_ORDER_RATIO)
    # Order numbers follow the order time; buyers come in random order.
    person = rng.permutation(np.concatenate([buyers, np.full(n_prospects, -1)]))
    n = person.size
    known = person >= 0
    p_safe = np.where(known, person, 0)
    country = np.where(known, people.country[p_safe], rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS))
    guest = ~known | (rng.random(n) < GUEST_CHECKOUT_SHARE)
    emails = people.emails(p_safe)
    prospect = _prospect_emails(pools, rng, country, people.salt)
    emails = _render_emails(
        [e if k else q for e, q, k in zip(emails, prospect, known.tolist(), strict=True)],
        _codes(rng, n, EMAIL_MIX_ORDERS),
        rng.integers(0, 1 << 20, size=n),
    )
    has_phone = known & (rng.random(n) < 0.6)
    phones = people.phones(p_safe, _codes(rng, n, PHONE_MIX_INTERNATIONAL), rng.integers(0, 1 << 20, size=n))
    device = np.where(people.devices[p_safe] == 2, rng.integers(0, 2, n), 0)
    ecid_kind = np.where(known, device, ECID_ANONYMOUS)
    ecid_key = np.where(known, p_safe, rng.integers(0, max(1, 3 * people.base), n))
    ecids = _ecids(ecid_key, ecid_kind, people.salt)
    has_ecid = rng.random(n) < np.where(known, 0.7, 0.6)
    ordered = np.sort(day.times(rng, n))
    styles = _codes(rng, n, (0.7, 0.25, 0.05, 0.0))
    ordered_text = _format_ts(day, ordered, country, styles)
    gift = rng.random(n) < 0.08  # shipped to someone else's address
    street = np.where(known & ~gift, people.street[p_safe], rng.integers(0, POOL_STREET, n))
    place = np.where(known & ~gift, people.place[p_safe], rng.integers(0, POOL_PLACE, n))
    n_items = rng.choice([1, 2, 3, 4], size=n, p=(0.5, 0.28, 0.15, 0.07))
    item_sku = rng.integers(0, len(catalog.sku), size=int(n_items.sum()))
    item_qty = rng.choice([1, 2, 3], size=item_sku.size, p=(0.85, 0.12, 0.03))
    first_item = np.concatenate([[0], np.cumsum(n_items)[:-1]])
    cids = _customer_ids(p_safe)

    new_records = []
    for i in range(n):
        c = int(country[i])
        factor = PRICE_FACTOR[c]
        items, total = [], 0.0
        for j in range(first_item[i], first_item[i] + n_items[i]):
            s = int(item_sku[j])
            unit = round(float(catalog.price[s]) * factor, 2)
            qty = int(item_qty[j])
            total += unit * qty
            items.append({"sku": catalog.sku[s], "category": catalog.category[s], "quantity": qty, "unit_price": unit})
        record = {
            "order_id": f"O-{day.stamp}-{i + 1:06d}",
            "customer_id": None if guest[i] else cids[i],
            "email": emails[i],
            "phone": phones[i] if has_phone[i] else None,
            "ordered_at": ordered_text[i],
            "updated_at": ordered_text[i],
            "status": "placed",
            "currency": CURRENCIES[c],
            "total_amount": round(total, 2),
            "ecid": ecids[i] if has_ecid[i] else None,
            "shipping_address": {
                "line1": str(pools.street[c, street[i]]),
                "city": str(pools.city[c, place[i]]),
                "region": str(pools.region[c, place[i]]),
                "postal_code": str(pools.postal_code[c, place[i]]),
                "country": COUNTRIES[c],
            },
            "items": items,
        }
        new_records.append((int(ordered[i]), record))

    # Earlier orders move on: (next status, probability) by current status and days since.
    updates = []
    still_open = []
    for order in book.open:
        r = rng.random()
        age = day.index - order.since
        nxt = None
        if order.status == "placed":
            nxt = "shipped" if r < 0.85 else "cancelled" if r < 0.90 else None
        elif order.status == "shipped":
            nxt = "delivered" if r < 0.8 else None
        elif order.status == "delivered":
            nxt = "returned" if r < 0.05 else None
        if nxt is None:
            if order.status != "delivered" or age < 3:
                still_open.append(order)
            continue
        at = int(day.times(rng, 1)[0])
        c = COUNTRIES.index(order.record["shipping_address"]["country"])
        record = dict(order.record, status=nxt)
        record["updated_at"] = _format_ts(day, np.array([at]), np.array([c]), np.array([TS_Z]))[0]
        updates.append((at, record))
        if nxt in ("shipped", "delivered"):
            still_open.append(_OpenOrder(record, nxt, day.index))
    book.open = still_open + [_OpenOrder(r, "placed", day.index) for _, r in new_records]

    rows = sorted(new_records + updates, key=lambda x: (x[0], x[1]["order_id"]))
    lines = []
    bad_new = set(_pick(rng, n, _n_malformed(len(rows))).tolist())
    defects = []
    for _, record in rows:
        order_no = int(record["order_id"].rsplit("-", 1)[1]) - 1
        if record["status"] == "placed" and record["order_id"].startswith(f"O-{day.stamp}") and order_no in bad_new:
            defects.append((len(lines), "ordered_at", "bad timestamp"))
            record = dict(record, ordered_at=BAD_TIMESTAMP)
        lines.append(_dumps(record))

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        return lines[lo:hi], [d for d in defects if lo <= d[0] < hi]

    drop.write_table(len(lines), make_rows)


EVENT_TYPES = SOURCES["web_events"].column("event_type").allowed
EV_PAGE, EV_PRODUCT, EV_CART, EV_CHECKOUT, EV_SEARCH, EV_LOGIN, EV_NEWSLETTER = (
    EVENT_TYPES.index(t)
    for t in ("page_view", "product_view", "add_to_cart", "checkout_start", "search", "login", "newsletter_signup")
)
# Drawn event types by code; logins are placed in the session, not drawn.
_EVENT_SHARES = {EV_PAGE: 0.45, EV_PRODUCT: 0.30, EV_CART: 0.09, EV_CHECKOUT: 0.04, EV_SEARCH: 0.11,
                 EV_NEWSLETTER: 0.01}  # fmt: skip
EVENT_MIX = tuple(_EVENT_SHARES.get(i, 0.0) for i in range(len(EVENT_TYPES)))


def _write_web(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator,
               catalog: _Catalog) -> None:  # fmt: skip
    """Sessions of customers (on one of their devices or the store kiosk) and of anonymous visitors.

    A session's events share its ecid; `customer_id` appears from its login event on. Late app
    sessions carry occurred_at days before dt; a few events are sent twice (into the next file).
    """
    stats = drop.stats
    alive = people.alive()
    active = alive[rng.random(alive.size) < WEB_ACTIVE_SHARE]
    per = 1 + rng.poisson(EXTRA_SESSIONS_MEAN, size=active.size)
    cust = np.repeat(active, per)
    device = np.where((people.devices[cust] == 2) & (rng.random(cust.size) < 0.4), ECID_DEVICE1, ECID_DEVICE0)
    # The store kiosk: one device on which many customers log in - a hub the stitching must not merge.
    n_kiosk = min(alive.size, max(6, active.size // 500))
    kiosk = alive[_pick(rng, alive.size, n_kiosk)]
    n_anon = round(cust.size * ANONYMOUS_SESSION_RATIO)
    person = np.concatenate([cust, kiosk, np.full(n_anon, -1)])
    kind = np.concatenate([device, np.full(kiosk.size, ECID_KIOSK), np.full(n_anon, ECID_ANONYMOUS)])
    key = np.concatenate([cust, np.zeros(kiosk.size, np.int64), rng.integers(0, 3 * people.base, n_anon)])
    S = person.size
    known = person >= 0
    p_safe = np.where(known, person, 0)
    length = np.where(
        kind == ECID_ANONYMOUS,
        rng.geometric(1 / EVENTS_PER_ANONYMOUS_SESSION, S),
        np.where(kind == ECID_KIOSK, 1 + rng.geometric(0.25, S), rng.geometric(1 / EVENTS_PER_SESSION, S)),
    ).astype(np.int64)
    login_at = np.where(rng.random(S) < LOGIN_SHARE, rng.integers(0, 3, S) % length, 1 << 30)
    login_at = np.where(kind == ECID_KIOSK, np.minimum(1, length - 1), np.where(known, login_at, 1 << 30))
    country = np.where(known, people.country[p_safe], rng.choice(len(COUNTRIES), size=S, p=COUNTRY_WEIGHTS))
    start = day.times(rng, S, 5, 21)
    late = (rng.random(S) < LATE_SESSION_SHARE) & (kind != ECID_KIOSK)
    shift = np.where(late, rng.integers(1, 4, S) * 86_400, 0)
    styles = _codes(rng, S, (0.7, 0.2, 0.1, 0.0))  # web SDK sends Z, the app its local offset

    # Events: positions within sessions, times with gaps of ~40 s.
    E = int(length.sum())
    sess = np.repeat(np.arange(S), length)
    first = np.concatenate([[0], np.cumsum(length)[:-1]])
    pos = np.arange(E) - first[sess]
    gaps = rng.exponential(40, E).astype(np.int64) + 1
    gaps[pos == 0] = 0
    elapsed = np.cumsum(gaps)
    elapsed -= elapsed[first][sess]
    arrival = np.minimum(start[sess] + elapsed, day.start + 86_399)
    occurred = arrival - shift[sess]
    millis = rng.integers(0, 1000, E)
    etype = _codes(rng, E, EVENT_MIX)
    etype[pos == 0] = EV_PAGE
    etype[pos == login_at[sess]] = EV_LOGIN
    logged_in = pos >= login_at[sess]
    sku = rng.integers(0, len(catalog.sku), E)
    query = rng.integers(0, len(SEARCH_TERMS), E)
    page = rng.integers(0, len(PAGES), E)

    # Session-level strings, formatted once.
    sess_ecid = _ecids(np.where(known & (kind != ECID_KIOSK), p_safe, key), kind, people.salt)
    sess_cid = _customer_ids(p_safe)
    newsletter_sessions = np.unique(sess[etype == EV_NEWSLETTER])
    sess_email: dict[int, str] = {}
    if newsletter_sessions.size:
        ns = newsletter_sessions
        addr = people.emails(p_safe[ns])
        visitor = _prospect_emails(people.pools, rng, country[ns], people.salt)
        addr = [a if known[s] else v for a, v, s in zip(addr, visitor, ns.tolist(), strict=True)]
        rendered = _render_emails(addr, _codes(rng, ns.size, EMAIL_MIX_CLEAN), rng.integers(0, 9, ns.size))
        sess_email = dict(zip(ns.tolist(), rendered, strict=True))
    site = [f"{SITE}/{c.lower()}" for c in COUNTRIES]

    # File order is arrival order (late sessions arrive today); parts like hourly collector files.
    order = np.argsort(arrival, kind="stable")
    parts = max(2, math.ceil(E / ROWS_PER_FILE))
    bounds = np.linspace(0, E, parts + 1).astype(np.int64).tolist()
    duplicate = rng.random(E) < DUPLICATE_EVENT_SHARE
    broken = _pick(rng, E, _n_malformed(E), exclude=np.flatnonzero(duplicate))
    duplicate[broken] = False
    broken_set = set(broken.tolist())
    stats.late_rows += int(late[sess].sum())

    def event_lines(lo: int, hi: int) -> list[str]:
        ev = order[lo:hi]
        s_list = sess[ev].tolist()
        stamps = _format_ts(day, occurred[ev], country[sess[ev]], styles[sess[ev]], millis[ev])
        ids = _uuids(rng, hi - lo)
        lines = []
        for j, (s, t, ty, li, k, q, pg) in enumerate(
            zip(s_list, stamps, etype[ev].tolist(), logged_in[ev].tolist(), sku[ev].tolist(),
                query[ev].tolist(), page[ev].tolist(), strict=True)
        ):  # fmt: skip
            base = site[country[s]]
            if ty == EV_PRODUCT or ty == EV_CART:
                props = {"url": f"{base}/p/{catalog.sku[k]}", "sku": catalog.sku[k], "category": catalog.category[k]}
            elif ty == EV_SEARCH:
                term = SEARCH_TERMS[q]
                props = {"url": f"{base}/search?q={term.replace(' ', '+')}", "query": term}
            elif ty == EV_LOGIN:
                props = {"url": f"{base}/account/login"}
            elif ty == EV_CHECKOUT:
                props = {"url": f"{base}/checkout"}
            elif ty == EV_NEWSLETTER:
                props = {"url": f"{base}/newsletter"}
            else:
                props = {"url": f"{base}/{PAGES[pg]}"}
            event = {
                "event_id": ids[j],
                "event_type": EVENT_TYPES[ty],
                "occurred_at": t,
                "ecid": sess_ecid[s],
                "customer_id": sess_cid[s] if li else None,
                "email": sess_email.get(s) if ty == EV_NEWSLETTER else None,
                "properties": props,
            }
            lines.append(_dumps(event))
        return lines

    carried: list[str] = []  # duplicates re-sent in the next file
    for k in range(parts):
        with drop.open(f"{drop.stem(k + 1)}.jsonl.gz") as sink:
            if carried:
                sink.write(carried)
                stats.duplicate_rows += len(carried)
                carried = []
            for lo in range(bounds[k], bounds[k + 1], CHUNK):
                hi = min(lo + CHUNK, bounds[k + 1])
                lines = event_lines(lo, hi)
                defects = []
                for i in range(lo, hi):
                    if duplicate[i]:
                        carried.append(lines[i - lo])
                    if i in broken_set:
                        line = lines[i - lo]
                        lines[i - lo] = line[: len(line) // 2]  # cut off mid-record: not JSON
                        defects.append((i - lo, None, "invalid JSON"))
                sink.write(lines, defects)
            if k == parts - 1 and carried:  # the last file's repeats close the last file
                sink.write(carried)
                stats.duplicate_rows += len(carried)
                carried = []


CONSENT_SOURCES = ("preference_center", "unsubscribe_link", "store", "call_center")
SRC_PREFERENCE_CENTER, SRC_UNSUBSCRIBE, SRC_STORE, SRC_CALL_CENTER = range(4)
EMAIL_MKT, SMS_MKT, PERSONALIZATION, AD_TARGETING = (
    PURPOSES.index(p) for p in ("email_marketing", "sms_marketing", "personalization", "ad_targeting")
)
GRANT_RATE = np.array([{EMAIL_MKT: 0.55, SMS_MKT: 0.30, PERSONALIZATION: 0.60, AD_TARGETING: 0.40}[i]
                       for i in range(len(PURPOSES))])  # fmt: skip
SUBJECT_TEXT = ("customer_id", "email", "phone")
SUBJ_CUSTOMER, SUBJ_EMAIL, SUBJ_PHONE = range(3)


class _ConsentRows:
    """Consent choices collected as arrays: (person, subject type, purpose, granted, instant, source)."""

    NAMES = ("person", "subject", "purpose", "granted", "at", "source")

    def __init__(self) -> None:
        self.parts: list[list[np.ndarray]] = []

    def add(self, person, subject, purpose, granted, at, source) -> None:
        n = np.size(person)
        values = (person, subject, purpose, granted, at, source)
        self.parts.append([np.broadcast_to(np.asarray(v), (n,)).astype(np.int64) for v in values])

    def add_ties(self, rng: np.random.Generator, person, subject, purpose, granted, at) -> None:
        """Both choices of a contradiction at one instant: half on the same identity, half on another one."""
        n = np.size(person)
        granted = np.asarray(granted, dtype=np.int64)
        same = np.arange(n) < (n + 1) // 2
        other = np.where(same, subject, (np.asarray(subject) + 1 + rng.integers(0, 2, n)) % 3)
        self.add(person, subject, purpose, granted, at, SRC_PREFERENCE_CENTER)
        self.add(person, other, purpose, 1 - granted, at, np.where(same, SRC_CALL_CENTER, SRC_STORE))

    def arrays(self) -> list[np.ndarray]:
        return [np.concatenate([p[i] for p in self.parts]) for i in range(len(self.NAMES))]


def _initial_consents(people: _People, day: _Day, rng: np.random.Generator, rows: _ConsentRows) -> None:
    """First day: the preference history of most customers, each on one of their identities."""
    alive = people.alive()
    who = alive[rng.random(alive.size) < CONSENT_INITIAL_SHARE]
    m = who.size
    subject = rng.choice(3, size=m, p=(0.5, 0.35, 0.15))
    source = rng.choice([SRC_PREFERENCE_CENTER, SRC_STORE, SRC_CALL_CENTER], size=m, p=(0.6, 0.25, 0.15))
    at = day.times(rng, m)
    # Most answered all four purposes at once; the others only some.
    answered = np.where((rng.random(m) < 0.8)[:, None], True, rng.random((m, 4)) < 0.6)
    answered[np.arange(m), rng.integers(0, 4, m)] = True
    granted = rng.random((m, 4)) < GRANT_RATE
    r, p = np.nonzero(answered)
    ties = _pick(rng, m, max(2, m // 2000))
    tie_purpose = np.array([rng.choice(np.flatnonzero(answered[t])) for t in ties.tolist()], dtype=np.int64)
    not_tied = np.ones(r.size, dtype=bool)
    for t, tp in zip(ties.tolist(), tie_purpose.tolist(), strict=True):
        not_tied &= ~((r == t) & (p == tp))
    rows.add(who[r][not_tied], subject[r][not_tied], p[not_tied], granted[r, p][not_tied], at[r][not_tied],
             source[r][not_tied])  # fmt: skip
    rows.add_ties(rng, who[ties], subject[ties], tie_purpose, granted[ties, tie_purpose], at[ties])
    # Later that day some unsubscribe from a campaign email: another identity, a later instant.
    unsub = np.flatnonzero(rng.random(m) < 0.12)
    rows.add(who[unsub], SUBJ_EMAIL, EMAIL_MKT, 0, at[unsub] + rng.integers(600, 3 * 3600, unsub.size),
             SRC_UNSUBSCRIBE)  # fmt: skip
    # Some agree to texts at the till, on their phone number, before or after the web form.
    store = np.flatnonzero(rng.random(m) < 0.05)
    rows.add(who[store], SUBJ_PHONE, SMS_MKT, 1, day.times(rng, store.size), SRC_STORE)


def _daily_consents(people: _People, day: _Day, rng: np.random.Generator, rows: _ConsentRows,
                    changes: _Changes) -> None:  # fmt: skip
    """Later days: a few changes of mind, at least one unsubscribe, and the new customers' choices."""
    alive = people.alive()
    k = min(alive.size, max(3, round(people.base * DAILY_CONSENT_CHANGE_SHARE)))
    who = alive[_pick(rng, alive.size, k)]
    what = rng.choice(4, size=k, p=(0.4, 0.4, 0.1, 0.1))
    what[0] = 0
    at = day.times(rng, k)
    # Paper forms from the stores are keyed in days later: collected before dt.
    at = np.where((what == 2) & (rng.random(k) < 0.5), at - rng.integers(1, 4, k) * 86_400, at)
    unsub = what == 0
    rows.add(who[unsub], SUBJ_EMAIL, EMAIL_MKT, 0, at[unsub], SRC_UNSUBSCRIBE)
    pref = np.flatnonzero(what == 1)
    n_ties = min(pref.size, max(1, k // 50))
    for i in pref[n_ties:].tolist():
        purposes = np.flatnonzero(rng.random(4) < 0.5)
        if purposes.size == 0:
            purposes = rng.integers(0, 4, 1)
        rows.add(np.full(purposes.size, who[i]), rng.integers(0, 2), purposes, rng.random(purposes.size) < 0.5,
                 at[i], SRC_PREFERENCE_CENTER)  # fmt: skip
    tied = pref[:n_ties]
    rows.add_ties(rng, who[tied], rng.integers(0, 2, tied.size), rng.integers(0, 4, tied.size),
                  rng.integers(0, 2, tied.size), at[tied])  # fmt: skip
    store = what == 2
    rows.add(who[store], SUBJ_PHONE, SMS_MKT, rng.random(int(store.sum())) < 0.7, at[store], SRC_STORE)
    call = what == 3
    rows.add(who[call], SUBJ_PHONE, AD_TARGETING, 0, at[call], SRC_CALL_CENTER)
    fresh = changes.new[rng.random(changes.new.size) < CONSENT_INITIAL_SHARE]
    f_at = np.maximum(day.times(rng, fresh.size), people.created[fresh] + 120)
    g = rng.random((fresh.size, 4)) < GRANT_RATE
    r, p = np.nonzero(np.ones_like(g))
    rows.add(fresh[r], SUBJ_CUSTOMER, p, g[r, p], f_at[r], SRC_PREFERENCE_CENTER)


def _subject_values(people: _People, person, subject, email_codes, phone_codes, picks) -> list[str]:
    """The identity a choice or request was made for, as typed: a CRM id, an email, a phone with its code."""
    out = _customer_ids(person)
    em = np.flatnonzero(subject == SUBJ_EMAIL)
    for i, v in zip(em.tolist(), _render_emails(people.emails(person[em]), email_codes[em], picks[em]), strict=True):
        out[i] = v
    ph = np.flatnonzero(subject == SUBJ_PHONE)
    for i, v in zip(ph.tolist(), people.phones(person[ph], phone_codes[ph], picks[ph]), strict=True):
        out[i] = v
    return out


def _write_consent(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator) -> None:
    """Choices per (identity, purpose), shuffled: the file order says nothing about which is latest."""
    rows = _ConsentRows()
    if day.index == 0:
        _initial_consents(people, day, rng, rows)
    else:
        _daily_consents(people, day, rng, rows, changes)
    # Systems append in their own order: the file is not sorted by time (the latest wins regardless).
    shuffle = rng.permutation(sum(p[0].size for p in rows.parts))
    person, subject, purpose, granted, at, source = (a[shuffle] for a in rows.arrays())
    n = person.size
    email_codes, phone_codes = _codes(rng, n, EMAIL_MIX_CLEAN), _codes(rng, n, PHONE_MIX_INTERNATIONAL)
    picks = rng.integers(0, 1 << 20, n)
    styles = _codes(rng, n, (0.6, 0.3, 0.1, 0.0))

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        sl = slice(lo, hi)
        rows = zip(
            np.array(SUBJECT_TEXT)[subject[sl]].tolist(),
            _subject_values(people, person[sl], subject[sl], email_codes[sl], phone_codes[sl], picks[sl]),
            np.array(PURPOSES)[purpose[sl]].tolist(),
            np.where(granted[sl] == 1, "granted", "denied").tolist(),
            _format_ts(day, at[sl], people.country[person[sl]], styles[sl]),
            np.array(CONSENT_SOURCES)[source[sl]].tolist(),
            strict=True,
        )
        return list(rows), []

    drop.write_table(n, make_rows, header=SOURCES["consent_events"].column_names)


def _write_privacy(people: _People, day: _Day, drop: _Drop, changes: _Changes, rng: np.random.Generator) -> None:
    """A few access and delete requests a day, about existing customers, on any of their identities."""
    alive = people.alive()
    n = min(alive.size, max(2, round(people.base * PRIVACY_REQUEST_SHARE)))
    person = alive[_pick(rng, alive.size, n)]
    person = person[rng.permutation(n)]
    kind = np.where(rng.random(n) < 0.6, "access", "delete")
    kind[:2] = ["access", "delete"][: min(n, 2)]  # both kinds every day
    subject = rng.choice(3, size=n, p=(0.4, 0.4, 0.2))
    at = np.sort(day.times(rng, n))
    styles = _codes(rng, n, (0.8, 0.2, 0.0, 0.0))
    email_codes, phone_codes = _codes(rng, n, EMAIL_MIX_CLEAN), _codes(rng, n, PHONE_MIX_INTERNATIONAL)
    picks = rng.integers(0, 1 << 20, n)

    def make_rows(lo: int, hi: int) -> tuple[list, list]:
        sl = slice(lo, hi)
        rows = zip(
            [f"PR-{day.stamp}-{i + 1:05d}" for i in range(lo, hi)],
            kind[sl].tolist(),
            np.array(SUBJECT_TEXT)[subject[sl]].tolist(),
            _subject_values(people, person[sl], subject[sl], email_codes[sl], phone_codes[sl], picks[sl]),
            _format_ts(day, at[sl], people.country[person[sl]], styles[sl]),
            strict=True,
        )
        return list(rows), []

    drop.write_table(n, make_rows, header=SOURCES["privacy_requests"].column_names)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def generate_landing_zone(out_dir: Path, customers: int, days: int, start: date, seed: int = 42) -> GenerationStats:
    """Write `days` daily drops of all seven sources for `customers` people into `out_dir`.

    Layout: out_dir/<source>/dt=<YYYY-MM-DD>/<source>_<YYYYMMDD>[_partNNN].<csv|jsonl>[.gz] and an
    empty _SUCCESS per drop (written last). A drop folder that already exists is emptied first.
    """
    if customers < 1 or days < 1:
        raise ValueError("customers and days must be at least 1")
    if seed < 0:
        raise ValueError("seed must be non-negative")
    out_dir = Path(out_dir)
    stats = GenerationStats()
    first = _make_day(0, start)
    people = _People(_pools(seed), seed, customers, first)
    catalog = _Catalog.build(seed)
    book = _OrderBook()
    for index in range(days):
        day = first if index == 0 else _make_day(index, start + timedelta(days=index))
        changes = _evolve(people, day, seed)
        for source in SOURCES:
            drop = _Drop(stats, out_dir, source, day)
            rng = _rng(seed, index, source)
            if source == "crm_customers":
                _write_crm(people, day, drop, changes, rng)
            elif source == "loyalty_members":
                _write_loyalty(people, day, drop, changes, rng)
            elif source == "pos_transactions":
                _write_pos(people, day, drop, changes, rng)
                if index == 0:
                    _write_pos_history(people, day, drop, _rng(seed, index, "pos_history"))
            elif source == "ecommerce_orders":
                _write_orders(people, day, drop, changes, rng, catalog, book)
            elif source == "web_events":
                _write_web(people, day, drop, changes, rng, catalog)
            elif source == "consent_events":
                _write_consent(people, day, drop, changes, rng)
            elif source == "privacy_requests":
                _write_privacy(people, day, drop, changes, rng)
            drop.finish()
    return stats
