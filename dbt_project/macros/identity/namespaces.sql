{#- Identity namespaces in anchor priority: the smallest identity of a component by
    (priority, value) is its anchor and names its profile. Person-level ids first,
    device/cookie ids last (lower cardinality, higher priority). -#}
{% macro identity_namespaces() -%}
    {{ return(['crm', 'loyalty', 'email', 'phone', 'ecid']) }}
{%- endmacro %}

{% macro namespace_priority(namespace_column) -%}
    case {{ namespace_column }}
    {%- for namespace in cdp.identity_namespaces() %}
        when '{{ namespace }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}

{#- Namespaces whose values are personal data: stored hashed where they are kept
    outside the identity graph (rejections). -#}
{% macro pii_namespaces() -%}
    {{ return(['email', 'phone']) }}
{%- endmacro %}

{#- Profile id of a component, derived from its anchor identity. Deterministic for
    the same anchor; stable ids across merges (a persisted id map) come later. -#}
{% macro profile_id_from_anchor(namespace_column, value_column) -%}
    {{ dbt.concat(["'P'", "substring(" ~ dbt.hash(dbt.concat([namespace_column, "':'", value_column])) ~ ", 1, 16)"]) }}
{%- endmacro %}

{#- Namespace of a consent or privacy subject_type. -#}
{% macro subject_namespace(subject_type_column) -%}
    case {{ subject_type_column }}
        when 'customer_id' then 'crm'
        when 'email' then 'email'
        when 'phone' then 'phone'
    end
{%- endmacro %}

{#- How a rejected value is kept: SHA-256 hex of the value as landed for PII
    namespaces, the value itself otherwise. -#}
{% macro rejected_identity_value(namespace_column, raw_column) -%}
    case
        when {{ namespace_column }} in ('{{ cdp.pii_namespaces() | join("', '") }}')
            then {{ cdp.sha256_hex(raw_column) }}
        else {{ raw_column }}
    end
{%- endmacro %}
