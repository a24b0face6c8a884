"""Why a profile is or is not in an audience.

The audience's conditions are evaluated on the profile as the last build left it
(profiles.profiles), next to the values they read, the audience table's own answer, the consent
the audience's purpose needs (activation withholds members without it) and the profile's
membership periods. Personal data (email, phone, names, birth date, address) is never printed:
only whether it is set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime

from psycopg2 import sql

from cdp.audiences.catalog import Audience, Condition
from cdp.identity.normalize import normalize
from cdp.identity.rules import NAMESPACES, load_rules

PII_COLUMNS = frozenset(
    {"email", "phone", "first_name", "last_name", "birth_date", "address_line1", "city", "region", "postal_code"}
)


class ProfileNotFound(LookupError):
    """No profile has the given id or identity."""


@dataclass
class ConditionResult:
    condition: Condition
    holds: bool
    values: dict[str, object]  # the profile columns the condition reads


@dataclass
class Explanation:
    audience: Audience
    profile_id: str
    run_date: date | None  # the latest run date whose membership was recorded (membership_runs)
    identities: dict[str, int]  # namespace -> identities of the profile
    conditions: list[ConditionResult]
    is_member: bool  # in the audience table
    consent: tuple[str, datetime | None, str | None]  # status, decided_at, source
    periods: list[tuple[str, date, date | None]] = field(default_factory=list)  # status, realized, exited

    @property
    def qualifies(self) -> bool:
        return all(result.holds for result in self.conditions)

    def lines(self) -> list[str]:
        a = self.audience
        out = [
            f"Audience {a.name}: {a.description}",
            f"  owner {a.owner}, purpose {a.purpose}, refresh {a.refresh}; may use: {', '.join(a.uses)}",
            f"Profile {self.profile_id} (identities: "
            + (", ".join(f"{ns} {n}" for ns, n in self.identities.items()) or "none")
            + f"); membership recorded through run date {self.run_date or '-'}",
            "Conditions (all must hold):",
        ]
        for result in self.conditions:
            mark = "yes" if result.holds else "NO "
            values = ", ".join(f"{column}={_shown(column, value)}" for column, value in result.values.items())
            out.append(f"  [{mark}] {result.condition.name}: {result.condition.description}")
            out.append(f"        {result.condition.sql}  <-  {values}")
        verdict = "a member" if self.is_member else "not a member"
        out.append(f"Result: {verdict} of {a.name}")
        if self.qualifies != self.is_member:
            out.append("  (the audience table and the conditions disagree: the tables are from different builds)")
        status, decided_at, source = self.consent
        choice = f"{status} ({_when(decided_at)}, {source})" if decided_at else "none recorded"
        fate = "may send" if status == "granted" else "withholds"
        out.append(f"Consent {a.purpose}: {choice}: activation {fate} this profile")
        if self.periods:
            out.append("Membership periods (run dates):")
            out += [f"  {status}: entered {start}, left {end or '-'}" for status, start, end in self.periods]
        else:
            out.append("Membership periods: never a member")
        return out


def _shown(column: str, value) -> str:
    if value is None:
        return "null"
    if column in PII_COLUMNS:
        return "(set)"
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def _when(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


def find_profile(cur, profile_id: str | None = None, identity: str | None = None) -> str:
    """The profile of an id, or of an identity written `namespace:value` (the value as typed)."""
    if profile_id:
        cur.execute("select profile_id from profiles.profiles where profile_id = %s", (profile_id,))
        if cur.fetchone() is None:
            raise ProfileNotFound(f"no profile {profile_id}")
        return profile_id
    namespace, _, raw = (identity or "").partition(":")
    if namespace not in NAMESPACES or not raw:
        raise ValueError(f"an identity is namespace:value with a namespace among {', '.join(NAMESPACES)}")
    normalized = normalize(namespace, raw, "", load_rules())
    if normalized.identity_value is None:
        raise ProfileNotFound(f"that {namespace} identity is not valid ({normalized.reason})")
    cur.execute(
        "select profile_id from identity.identity_map where namespace = %s and identity_value = %s",
        (namespace, normalized.identity_value),
    )
    row = cur.fetchone()
    if row is None:
        raise ProfileNotFound(f"no profile holds that {namespace} identity")
    return row[0]


def explain(conn, audience: Audience, profile_id: str) -> Explanation:
    with conn.cursor() as cur:
        results = _evaluate(cur, audience, profile_id)
        cur.execute(
            sql.SQL("select exists (select 1 from audiences.{} where profile_id = %s)").format(
                sql.Identifier(audience.name)
            ),
            (profile_id,),
        )
        is_member = cur.fetchone()[0]
        cur.execute(
            "select status, decided_at, source from profiles.consent where profile_id = %s and purpose = %s",
            (profile_id, audience.purpose),
        )
        consent = cur.fetchone() or ("denied", None, None)
        cur.execute(
            "select namespace, count(*) from identity.identity_map where profile_id = %s group by namespace",
            (profile_id,),
        )
        counts = dict(cur.fetchall())
        cur.execute("select max(run_date) from audiences.membership_runs")
        run_date = cur.fetchone()[0]
        cur.execute(
            "select status, realized_run_date, exited_run_date from audiences.membership"
            " where audience = %s and profile_id = %s order by realized_run_date",
            (audience.name, profile_id),
        )
        periods = cur.fetchall()
    identities = {ns: counts[ns] for ns in NAMESPACES if ns in counts}
    return Explanation(audience, profile_id, run_date, identities, results, is_member, consent, periods)


def _evaluate(cur, audience: Audience, profile_id: str) -> list[ConditionResult]:
    """Each condition on the profile (null counts as false, as in the audience model) and the values it reads."""
    checks = [sql.SQL("coalesce(({}), false)").format(sql.SQL(c.sql)) for c in audience.conditions]
    columns = [sql.Identifier(column) for column in audience.uses]
    query = sql.SQL("select {} from profiles.profiles where profile_id = %s")
    cur.execute(query.format(sql.SQL(", ").join(checks + columns)), (profile_id,))
    row = cur.fetchone()
    if row is None:
        raise ProfileNotFound(f"no profile {profile_id}")
    values = dict(zip(audience.uses, row[len(checks) :], strict=True))
    return [
        ConditionResult(condition, bool(holds), {k: v for k, v in values.items() if _reads(condition.sql, k)})
        for condition, holds in zip(audience.conditions, row[: len(checks)], strict=True)
    ]


def _reads(condition_sql: str, column: str) -> bool:
    return re.search(rf"\b{re.escape(column)}\b", condition_sql, flags=re.IGNORECASE) is not None
