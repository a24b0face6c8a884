{#- Normalized identities come from prep.identifiers (computed in Python before dbt
    runs: phonenumbers for phones). Staging joins each identity column to it:

        from some_source as s
        {{ cdp.join_identifier('email_ids', "'email'", 's.email') }}

    and selects {{ cdp.identifier_columns('email_ids', 'email', 's.email') }}, which gives
        email            the normalized identity, null when missing or rejected
        email_raw        the value as landed
        email_rejection  why a present value has no identity: prep's reason
                         (invalid_format, blocked_value) or not_normalized when prep
                         has no row for it; null when accepted or absent.
    A value that is null or blank is absent: neither an identity nor a rejection. -#}

{% macro join_identifier(alias, namespace_sql, raw_sql, region_sql="''") -%}
left join {{ ref('stg_prep__identifiers') }} as {{ alias }}
    on {{ alias }}.namespace = {{ namespace_sql }}
    and {{ alias }}.raw_value = {{ raw_sql }}
    and {{ alias }}.default_region = {{ region_sql }}
{%- endmacro %}

{% macro identifier_columns(alias, name, raw_sql) -%}
case when {{ cdp.is_present(raw_sql) }} then {{ alias }}.identity_value end as {{ name }},
{{ raw_sql }} as {{ name }}_raw,
case
    when {{ cdp.is_present(raw_sql) }} and {{ alias }}.identity_value is null
        then coalesce({{ alias }}.reason, 'not_normalized')
end as {{ name }}_rejection
{%- endmacro %}

{% macro is_present(raw_sql) -%}
    coalesce(trim({{ raw_sql }}) <> '', false)
{%- endmacro %}
