"""The contract as code: the loader and the documentation read the same definitions."""

from __future__ import annotations

from cdp.contracts import PURPOSES, SOURCES, ColumnType, describe, raw_table_ddl


def test_the_seven_sources_of_the_contract():
    assert sorted(SOURCES) == [
        "consent_events",
        "crm_customers",
        "ecommerce_orders",
        "loyalty_members",
        "pos_transactions",
        "privacy_requests",
        "web_events",
    ]
    assert {s.file_format for s in SOURCES.values()} == {"csv", "jsonl"}
    assert PURPOSES == ("email_marketing", "sms_marketing", "personalization", "ad_targeting")


def test_documentation_lists_every_column_with_its_type_and_rules():
    for source in SOURCES.values():
        text = describe(source)
        for column in source.columns:
            line = next(x for x in text.splitlines() if x.startswith(f"| {column.name} |"))
            assert f"| {column.type.value} |" in line
            assert ("| yes |" in line) == column.required
            for allowed in column.allowed:
                assert allowed in line


def test_raw_tables_carry_typed_columns_and_lineage():
    ddl = raw_table_ddl(SOURCES["pos_transactions"])
    assert '"total_amount" numeric' in ddl and '"transacted_at" timestamptz' in ddl
    for lineage in ("_dt date not null", "_file text not null", "_line integer not null", "_load_id", "_extra jsonb"):
        assert lineage in ddl
    assert SOURCES["ecommerce_orders"].column("items").type is ColumnType.JSON


def test_identity_columns_name_their_namespace():
    namespaces = {(s.name, c.name): c.namespace for s in SOURCES.values() for c in s.columns if c.namespace}
    assert namespaces[("crm_customers", "customer_id")] == "crm"
    assert namespaces[("pos_transactions", "receipt_email")] == "email"
    assert namespaces[("web_events", "ecid")] == "ecid"
    assert set(namespaces.values()) == {"crm", "loyalty", "email", "phone", "ecid"}
