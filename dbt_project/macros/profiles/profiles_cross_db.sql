{#- Dialect-specific SQL used by the profiles and audiences models. -#}

{#- True when a text expression matches a POSIX regular expression. -#}
{% macro profiles_matches_pattern(expr, pattern) -%}
    {{ return(adapter.dispatch('profiles_matches_pattern', 'cdp')(expr, pattern)) }}
{%- endmacro %}

{% macro default__profiles_matches_pattern(expr, pattern) -%}
    regexp_like({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro postgres__profiles_matches_pattern(expr, pattern) -%}
    ({{ expr }} ~ '{{ pattern }}')
{%- endmacro %}

{#- The UTC calendar date of a timestamp-with-time-zone, whatever the session time zone. -#}
{% macro profiles_utc_date(expr) -%}
    {{ return(adapter.dispatch('profiles_utc_date', 'cdp')(expr)) }}
{%- endmacro %}

{% macro default__profiles_utc_date(expr) -%}
    cast({{ expr }} as date)
{%- endmacro %}

{% macro postgres__profiles_utc_date(expr) -%}
    cast(({{ expr }} at time zone 'UTC') as date)
{%- endmacro %}

{#- Whole days from the UTC date of `expr` to the run date (0 = on the run date); null when
    `expr` is null. -#}
{% macro days_before_run_date(expr) -%}
    {{ dbt.datediff(cdp.profiles_utc_date(expr), cdp.run_date_literal(), 'day') }}
{%- endmacro %}

{#- A join that gives one row per element of the JSON array `column`, the element as `alias`.value. -#}
{% macro profiles_json_array_elements(column, alias) -%}
    {{ return(adapter.dispatch('profiles_json_array_elements', 'cdp')(column, alias)) }}
{%- endmacro %}

{% macro default__profiles_json_array_elements(column, alias) -%}
    {{ exceptions.raise_compiler_error("profiles_json_array_elements is not implemented for " ~ target.type) }}
{%- endmacro %}

{% macro postgres__profiles_json_array_elements(column, alias) -%}
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof({{ column }}) = 'array' then {{ column }} else '[]'::jsonb end
    ) as {{ alias }}(value)
{%- endmacro %}
