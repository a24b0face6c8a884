"""Why an identity is, or is not, in a profile: `cdp identity explain --namespace email --value x@y.z`.

Reads what the latest build left in the warehouse: the value as normalization reads it, the
identity's profile (its anchor, when it was minted, what merged into it), every link the identity
has with the source records and files that carry it, whether each link was made or why not, and
the identity's rejections and profile history. It prints to the terminal of the engineer who
asked, so identity values appear; nothing here is logged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime

from cdp.identity.normalize import normalize
from cdp.identity.rules import NAMESPACES, IdentityRules, load_rules

# The key column of each source's raw table (the record_id of int_identity_occurrences_unioned).
RECORD_KEYS = {
    "crm_customers": "customer_id",
    "loyalty_members": "loyalty_id",
    "pos_transactions": "transaction_id",
    "ecommerce_orders": "order_id",
    "web_events": "event_id",
}
PII_NAMESPACES = ("email", "phone")
MAX_RECORDS = 20


@dataclass
class Link:
    namespace: str
    value: str
    profile_id: str | None
    made: bool
    reason: str | None  # why a link was not made: unique_namespace_conflict, graph_limit
    record_count: int
    first_seen_at: datetime
    last_seen_at: datetime


@dataclass
class Record:
    source: str
    record_id: str
    seen_at: datetime
    landings: list[tuple[date, str, int]]  # (_dt, _file, _line) of every landed version


@dataclass
class Explanation:
    namespace: str
    value: str
    normalized: str | None
    normalization_reason: str | None
    found: bool = False  # seen on a current source record
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None
    hub_limits: list[tuple[str, int, int]] = field(default_factory=list)  # other namespace, seen with, limit
    profile_id: str | None = None
    cut_by_cap: bool = False
    component_guarded: bool = False
    profile: dict | None = None  # anchor, minted_on, split_from, identities per namespace, merged_from
    links: list[Link] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    record_count: int = 0
    rejections: list[tuple[str, str, datetime]] = field(default_factory=list)  # reason, source, seen_at
    history: list[tuple[str | None, date, date | None]] = field(default_factory=list)  # profile, from, to
    max_identities: int | None = None

    def lines(self) -> list[str]:
        out = [f"Identity {self.namespace} {self.value!r}"]
        if self.normalized is None:
            out.append(f"  normalization rejects it: {self.normalization_reason}")
        elif self.normalized != self.value:
            out.append(f"  normalized: {self.normalized!r}")
        if self.normalized is not None and not self.found:
            out.append("  not seen on any current source record (consent and privacy subjects never create identities)")
        if self.found:
            out.append(
                f"  seen {self.first_seen_at:%Y-%m-%d %H:%M} .. {self.last_seen_at:%Y-%m-%d %H:%M} UTC"
                f" on {self.record_count} record(s)"
            )
        for other, seen, limit in self.hub_limits:
            out.append(
                f"  HUB: seen with {seen} distinct {other} identities (limit {limit}): it links nothing (graph_limit)"
            )
        if self.cut_by_cap:
            out.append(
                f"  CUT: its profile would hold more than {self.max_identities} identities; lower-priority,"
                " less recently seen identities are cut first (graph_limit)"
            )
        if self.profile_id:
            p = self.profile or {}
            counts = ", ".join(f"{ns} {n}" for ns, n in p.get("identities", {}).items())
            out += [
                "",
                f"Profile {self.profile_id} ({counts})",
                f"  minted {p.get('minted_on')} for its anchor {p.get('anchor_namespace')} {p.get('anchor_value')!r}"
                + (f", split from {p['split_from']}" if p.get("split_from") else ""),
            ]
            for from_id, at in p.get("merged_from", []):
                out.append(f"  {from_id} merged into it on {at}")
            if self.component_guarded:
                out.append(
                    "  its linked identities hold conflicting values or too many identities: the guards"
                    " decided which links were made"
                )
        if self.links:
            out += ["", "Links (identities on the same source records):"]
            for link in self.links:
                state = "made" if link.made else f"NOT MADE ({link.reason})"
                where = "same profile" if link.made else f"profile {link.profile_id or '-'}"
                out.append(
                    f"  {state:<36} {link.namespace} {link.value!r} [{where}]; {link.record_count} record(s),"
                    f" last {link.last_seen_at:%Y-%m-%d %H:%M}"
                )
        if self.records:
            shown = len(self.records)
            out += ["", f"Source records ({shown} most recent of {self.record_count}):"]
            for r in self.records:
                files = "; ".join(f"{f} line {line} (dt={dt})" for dt, f, line in r.landings) or "-"
                out.append(f"  {r.source} {r.record_id} at {r.seen_at:%Y-%m-%d %H:%M}: {files}")
        if self.rejections:
            out += ["", "Rejections:"]
            out += [f"  {reason} from {source}, last {seen:%Y-%m-%d %H:%M}" for reason, source, seen in self.rejections]
        if self.history:
            out += ["", "Profile history:"]
            out += [
                f"  {profile or 'no profile (cut by the cap)'} from {start} to {end or 'now'}"
                for profile, start, end in self.history
            ]
        return out


def _table_exists(cur, name: str) -> bool:
    cur.execute("select to_regclass(%s) is not null", (name,))
    return cur.fetchone()[0]


def explain(conn, namespace: str, value: str, region: str = "", rules: IdentityRules | None = None) -> Explanation:
    if namespace not in NAMESPACES:
        raise ValueError(f"unknown namespace {namespace!r}; one of {', '.join(NAMESPACES)}")
    rules = rules or load_rules()
    normalized = normalize(namespace, value, region, rules)
    result = Explanation(namespace, value, normalized.identity_value, normalized.reason)
    with conn.cursor() as cur:
        if not _table_exists(cur, "identity.int_identity_components_stitched"):
            raise LookupError("the identity models have not been built in this warehouse yet: run `cdp run` first")
        result.rejections = _rejections(cur, namespace, value, normalized.identity_value)
        if normalized.identity_value is None:
            return result
        cur.execute(
            "select node_id, first_seen_at, last_seen_at, occurrence_count from identity.int_identity_nodes_numbered"
            " where namespace = %s and identity_value = %s",
            (namespace, normalized.identity_value),
        )
        node = cur.fetchone()
        if node is None:
            return result
        node_id, result.first_seen_at, result.last_seen_at, result.record_count = node
        result.found = True
        cur.execute(
            "select other_namespace, linked_count, max_linked from identity.int_identity_hubs_detected"
            " where node_id = %s order by 1",
            (node_id,),
        )
        result.hub_limits = cur.fetchall()
        cur.execute(
            "select profile_id, component_guarded from identity.int_identity_components_stitched where node_id = %s",
            (node_id,),
        )
        stitched = cur.fetchone()
        if stitched:
            result.profile_id, result.component_guarded = stitched
            result.cut_by_cap = result.profile_id is None
            cur.execute("select value from prep.identity_rules where rule = 'max_identities_per_profile'")
            result.max_identities = int(cur.fetchone()[0])
        if result.profile_id:
            result.profile = _profile(cur, result.profile_id)
        result.links = _links(cur, node_id)
        result.records = _records(cur, node_id)
        result.history = _history(cur, node_id)
    return result


def _profile(cur, profile_id: str) -> dict:
    cur.execute(
        "select anchor_namespace, anchor_value, minted_on, split_from_profile_id from identity.stitch_profile_ids"
        " where profile_id = %s",
        (profile_id,),
    )
    anchor_namespace, anchor_value, minted_on, split_from = cur.fetchone()
    cur.execute("select namespace, count(*) from identity.identity_map where profile_id = %s group by 1", (profile_id,))
    counts = dict(cur.fetchall())
    cur.execute(
        "select from_profile_id, at from identity.stitch_profile_merges where to_profile_id = %s order by at, 1",
        (profile_id,),
    )
    return {
        "anchor_namespace": anchor_namespace,
        "anchor_value": anchor_value,
        "minted_on": minted_on,
        "split_from": split_from,
        "identities": {ns: counts[ns] for ns in NAMESPACES if ns in counts},
        "merged_from": cur.fetchall(),
    }


def _links(cur, node_id: int) -> list[Link]:
    cur.execute(
        """
        select other.namespace, other.identity_value, other_stitched.profile_id,
               coalesce(own.profile_id = other_stitched.profile_id, false), rejected.reason,
               links.record_count, links.first_seen_at, links.last_seen_at
        from identity.int_identity_links_paired as links
        inner join identity.int_identity_nodes_numbered as other
            on other.node_id = case when links.node_id_a = %(node)s then links.node_id_b else links.node_id_a end
        left join identity.int_identity_components_stitched as other_stitched on other_stitched.node_id = other.node_id
        left join identity.int_identity_components_stitched as own on own.node_id = %(node)s
        left join identity.int_identity_links_rejected as rejected
            on rejected.node_id_a = links.node_id_a and rejected.node_id_b = links.node_id_b
        where links.node_id_a = %(node)s or links.node_id_b = %(node)s
        order by links.last_seen_at desc, other.namespace, other.identity_value
        """,
        {"node": node_id},
    )
    return [Link(*row) for row in cur.fetchall()]


def _history(cur, node_id: int) -> list[tuple[str | None, date, date | None]]:
    """The identity's profiles over the run dates (stitch_identity_history rows, merged where
    only its component changed)."""
    cur.execute(
        "select profile_id, valid_from, valid_to from identity.stitch_identity_history"
        " where node_id = %s order by valid_from",
        (node_id,),
    )
    periods: list[tuple[str | None, date, date | None]] = []
    for profile_id, start, end in cur.fetchall():
        if periods and periods[-1][0] == profile_id and periods[-1][2] == start:
            periods[-1] = (profile_id, periods[-1][1], end)
        else:
            periods.append((profile_id, start, end))
    return periods


def _records(cur, node_id: int) -> list[Record]:
    cur.execute(
        "select source_name, record_id, seen_at from identity.int_identity_occurrences_unioned"
        " where node_id = %s order by seen_at desc, source_name, record_id limit %s",
        (node_id, MAX_RECORDS),
    )
    records = [Record(source, record_id, seen_at, []) for source, record_id, seen_at in cur.fetchall()]
    for record in records:
        key = RECORD_KEYS[record.source]
        cur.execute(
            f'select _dt, _file, _line from raw."{record.source}" where "{key}" = %s order by _dt, _file, _line',
            (record.record_id,),
        )
        record.landings = cur.fetchall()
    return records


def _rejections(cur, namespace: str, raw: str, normalized: str | None) -> list[tuple[str, str, datetime]]:
    """rejected_identities rows for the value: as landed, or normalized (SHA-256 for email and phone)."""
    candidates = {raw, raw.strip()} | ({normalized} if normalized else set())
    if namespace in PII_NAMESPACES:  # kept as the SHA-256 hex of the value
        candidates = {hashlib.sha256(v.encode("utf-8")).hexdigest() for v in candidates}
    if not _table_exists(cur, "identity.rejected_identities"):
        return []
    cur.execute(
        "select reason, source, seen_at from identity.rejected_identities"
        " where namespace = %s and identity_value = any(%s) order by seen_at desc, reason, source",
        (namespace, list(candidates)),
    )
    return cur.fetchall()
