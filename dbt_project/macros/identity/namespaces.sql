{#- The identity namespaces the landing contract knows. Their priority, which ones are unique
    per profile and the hub limits are rules (config/identity_rules.yml, read through
    stg_prep__identity_rules), not code. -#}
{% macro identity_namespaces() -%}
    {{ return(['crm', 'loyalty', 'email', 'phone', 'ecid']) }}
{%- endmacro %}

{#- Namespaces whose values are personal data: stored hashed where they are kept
    outside the identity graph (rejections). -#}
{% macro pii_namespaces() -%}
    {{ return(['email', 'phone']) }}
{%- endmacro %}

{#- The stable node id of an identity: a 64-bit hash of namespace and normalized value, the
    same in every run (so the stitching state of one run can be compared with the next). -#}
{% macro identity_node_id(namespace_column, value_column) -%}
    {{ cdp.hash_bigint(dbt.concat([namespace_column, "':'", value_column])) }}
{%- endmacro %}

{#- The id a new profile is minted with: 'P' and 16 hex digits of the md5 of its anchor identity
    ('namespace:value', or 'namespace:value#run_date' when that id was minted before for an
    earlier profile: the anchor left it in a merge or a split). Deterministic, so a rerun of the
    same inputs mints the same ids. -#}
{% macro profile_id_from_anchor(namespace_column, value_column, salt_sql=none) -%}
    {%- set key = [namespace_column, "':'", value_column] + (["'#'", salt_sql] if salt_sql else []) -%}
    {{ dbt.concat(["'P'", "substring(" ~ dbt.hash(dbt.concat(key)) ~ ", 1, 16)"]) }}
{%- endmacro %}

{#- Namespace of a consent or privacy subject_type. -#}
{% macro subject_namespace(subject_type_column) -%}
    case {{ subject_type_column }}
        when 'customer_id' then 'crm'
        when 'email' then 'email'
        when 'phone' then 'phone'
    end
{%- endmacro %}

{#- How a rejected value is kept: SHA-256 hex of the value for PII namespaces, the value
    itself otherwise. -#}
{% macro rejected_identity_value(namespace_column, raw_column) -%}
    case
        when {{ namespace_column }} in ('{{ cdp.pii_namespaces() | join("', '") }}')
            then {{ cdp.sha256_hex(raw_column) }}
        else {{ raw_column }}
    end
{%- endmacro %}

{#- The strongest (lowest) namespace priority among a pivoted record's identities, each joined
    under its namespace's name; 99 when the record has none. -#}
{% macro strongest_namespace_priority() -%}
least(
    {%- for namespace in cdp.identity_namespaces() %}
    coalesce({{ namespace }}.namespace_priority, 99){{ ',' if not loop.last }}
    {%- endfor %}
)
{%- endmacro %}
