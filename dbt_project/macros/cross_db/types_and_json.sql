{#- A UTC instant literal ('YYYY-MM-DD HH:MM:SS'), typed as the warehouse's
    timestamp-with-time-zone so comparisons never depend on the session time zone. -#}
{% macro utc_timestamp_literal(value) -%}
    {{ return(adapter.dispatch('utc_timestamp_literal', 'cdp')(value)) }}
{%- endmacro %}

{% macro default__utc_timestamp_literal(value) -%}
    cast('{{ value }}+00:00' as timestamp)
{%- endmacro %}

{% macro postgres__utc_timestamp_literal(value) -%}
    cast('{{ value }}+00:00' as timestamptz)
{%- endmacro %}

{#- Text value of a top-level key of a JSON object column. -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'cdp')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    json_extract_scalar({{ column }}, '$.{{ key }}')
{%- endmacro %}

{% macro postgres__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{#- Orders text by its bytes, so that "the smallest value" is the same on every
    database whatever its collation. -#}
{% macro bytewise(expr) -%}
    {{ return(adapter.dispatch('bytewise', 'cdp')(expr)) }}
{%- endmacro %}

{% macro default__bytewise(expr) -%}
    {{ expr }}
{%- endmacro %}

{% macro postgres__bytewise(expr) -%}
    ({{ expr }} collate "C")
{%- endmacro %}

{#- A timestamp-with-time-zone as UTC text, independent of the session time zone
    (for hashing and keys). -#}
{% macro utc_timestamp_text(expr) -%}
    {{ return(adapter.dispatch('utc_timestamp_text', 'cdp')(expr)) }}
{%- endmacro %}

{% macro default__utc_timestamp_text(expr) -%}
    cast({{ expr }} as {{ dbt.type_string() }})
{%- endmacro %}

{% macro postgres__utc_timestamp_text(expr) -%}
    to_char({{ expr }} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
{%- endmacro %}
