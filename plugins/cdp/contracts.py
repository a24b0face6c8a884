"""The landing-zone contract, defined once: every source, its columns, types and rules.

The loader validates against these definitions, the raw tables are created from them,
and `cdp contract` prints them as documentation. Changing a source means changing it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ColumnType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    TIMESTAMP = "timestamp"
    JSON = "json"  # a nested object or array (JSONL sources only)


# Postgres type of each contract type in the raw tables.
SQL_TYPES = {
    ColumnType.STRING: "text",
    ColumnType.INTEGER: "bigint",
    ColumnType.DECIMAL: "numeric",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.DATE: "date",
    ColumnType.TIMESTAMP: "timestamptz",
    ColumnType.JSON: "jsonb",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = ColumnType.STRING
    required: bool = False
    allowed: tuple[str, ...] = ()
    namespace: str | None = None  # identity namespace the value belongs to, if any
    description: str = ""


@dataclass(frozen=True)
class Source:
    name: str
    file_format: str  # "csv" or "jsonl"
    columns: tuple[Column, ...]
    description: str
    key: tuple[str, ...] = ()  # the source's business key (unique per drop unless noted)
    key_repeats: bool = False  # True where the contract allows the key to come again (status updates)
    event_time: str | None = None  # the column that says when the row happened

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)


SUBJECT_TYPES = ("customer_id", "email", "phone")
PURPOSES = ("email_marketing", "sms_marketing", "personalization", "ad_targeting")

S, INT, DEC, B, DT, TS, J = (
    ColumnType.STRING,
    ColumnType.INTEGER,
    ColumnType.DECIMAL,
    ColumnType.BOOLEAN,
    ColumnType.DATE,
    ColumnType.TIMESTAMP,
    ColumnType.JSON,
)

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            name="crm_customers",
            file_format="csv",
            description="CRM customers changed on the day; the latest updated_at wins.",
            key=("customer_id",),
            event_time="updated_at",
            columns=(
                Column("customer_id", S, required=True, namespace="crm", description="CRM customer id"),
                Column("email", S, namespace="email"),
                Column("phone", S, namespace="phone"),
                Column("first_name"),
                Column("last_name"),
                Column("birth_date", DT),
                Column("gender", S, allowed=("F", "M", "X")),
                Column("address_line1"),
                Column("city"),
                Column("region"),
                Column("postal_code"),
                Column("country", description="ISO-3166 alpha-2; default region for the phone"),
                Column("created_at", TS),
                Column("updated_at", TS, required=True),
                Column("is_deleted", B),
            ),
        ),
        Source(
            name="loyalty_members",
            file_format="csv",
            description="Loyalty programme members changed on the day; the latest updated_at wins.",
            key=("loyalty_id",),
            event_time="updated_at",
            columns=(
                Column("loyalty_id", S, required=True, namespace="loyalty"),
                Column("customer_id", S, namespace="crm"),
                Column("email", S, namespace="email"),
                Column("phone", S, namespace="phone"),
                Column("first_name"),
                Column("last_name"),
                Column("country"),
                Column("tier", S, allowed=("bronze", "silver", "gold", "platinum")),
                Column("points_balance", INT),
                Column("enrolled_at", TS),
                Column("updated_at", TS, required=True),
            ),
        ),
        Source(
            name="pos_transactions",
            file_format="csv",
            description="In-store purchases from the tills; negative totals are returns.",
            key=("transaction_id",),
            event_time="transacted_at",
            columns=(
                Column("transaction_id", S, required=True),
                Column("store_id", S, required=True),
                Column("loyalty_id", S, namespace="loyalty"),
                Column("receipt_email", S, namespace="email"),
                Column("transacted_at", TS, required=True),
                Column("item_count", INT),
                Column("total_amount", DEC),
                Column("currency"),
            ),
        ),
        Source(
            name="ecommerce_orders",
            file_format="jsonl",
            description="Web-shop orders; the same order_id may come again with a newer status.",
            key=("order_id",),
            key_repeats=True,
            event_time="ordered_at",
            columns=(
                Column("order_id", S, required=True),
                Column("customer_id", S, namespace="crm"),
                Column("email", S, namespace="email"),
                Column("phone", S, namespace="phone"),
                Column("ordered_at", TS, required=True),
                Column("updated_at", TS),
                Column(
                    "status",
                    S,
                    required=True,
                    allowed=("placed", "shipped", "delivered", "cancelled", "returned"),
                ),
                Column("currency"),
                Column("total_amount", DEC),
                Column("ecid", S, namespace="ecid"),
                Column("shipping_address", J),
                Column("items", J),
            ),
        ),
        Source(
            name="web_events",
            file_format="jsonl",
            description="Web and app behaviour; event_id may repeat (at-least-once collection).",
            key=("event_id",),
            key_repeats=True,
            event_time="occurred_at",
            columns=(
                Column("event_id", S, required=True),
                Column(
                    "event_type",
                    S,
                    required=True,
                    allowed=(
                        "page_view",
                        "product_view",
                        "add_to_cart",
                        "checkout_start",
                        "search",
                        "login",
                        "newsletter_signup",
                    ),
                ),
                Column("occurred_at", TS, required=True),
                Column("ecid", S, required=True, namespace="ecid"),
                Column("customer_id", S, namespace="crm"),
                Column("email", S, namespace="email"),
                Column("properties", J),
            ),
        ),
        Source(
            name="consent_events",
            file_format="csv",
            description="Consent choices; per profile and purpose the latest wins, ties are denied.",
            event_time="collected_at",
            key_repeats=True,
            columns=(
                Column("subject_type", S, required=True, allowed=SUBJECT_TYPES),
                Column("subject_value", S, required=True),
                Column("purpose", S, required=True, allowed=PURPOSES),
                Column("status", S, required=True, allowed=("granted", "denied")),
                Column("collected_at", TS, required=True),
                Column("source"),
            ),
        ),
        Source(
            name="privacy_requests",
            file_format="csv",
            description="Data-subject requests (access, delete) from the privacy portal.",
            key=("request_id",),
            event_time="received_at",
            columns=(
                Column("request_id", S, required=True),
                Column("request_type", S, required=True, allowed=("access", "delete")),
                Column("subject_type", S, required=True, allowed=SUBJECT_TYPES),
                Column("subject_value", S, required=True),
                Column("received_at", TS),
            ),
        ),
    )
}

# Columns every raw table carries so that each row traces back to its file.
LINEAGE_COLUMNS = (
    ("_dt", "date not null"),
    ("_file", "text not null"),  # the file's name in its drop: with the source and _dt, its ingest.load_report row
    ("_line", "integer not null"),
    ("_load_id", "text not null"),
    ("_extra", "jsonb"),  # unknown columns, kept as data
    ("_absent", "jsonb"),  # contract columns the row did not deliver (absent from the file or object)
)


def raw_table_ddl(source: Source, schema: str = "raw") -> str:
    """CREATE TABLE for a source's raw table: contract columns typed, then the lineage columns."""
    columns = [f'"{c.name}" {SQL_TYPES[c.type]}' for c in source.columns]
    columns += [f"{name} {sql_type}" for name, sql_type in LINEAGE_COLUMNS]
    body = ",\n    ".join(columns)
    return f'create table if not exists {schema}."{source.name}" (\n    {body}\n)'


def describe(source: Source) -> str:
    """A Markdown table of a source's contract, for `cdp contract` and the docs."""
    lines = [
        f"### {source.name} ({source.file_format})",
        "",
        source.description,
        "",
        f"Key: {', '.join(source.key) or '(none)'}"
        + (" (may repeat across rows and drops)" if source.key_repeats else " (unique per drop)")
        + (f". Event time: {source.event_time}." if source.event_time else "."),
        "",
        "| column | type | required | allowed values | identity |",
        "|---|---|---|---|---|",
    ]
    for c in source.columns:
        allowed = ", ".join(c.allowed)
        lines.append(f"| {c.name} | {c.type.value} | {'yes' if c.required else ''} | {allowed} | {c.namespace or ''} |")
    return "\n".join(lines)
