{#- The condition `expr in subquery` (a parenthesized select). Postgres plans `in (select ...)`
    as a join, which scans a big table for a few keys; against an array of the keys, the table's
    index finds them. -#}
{% macro in_subquery(expr, subquery) -%}
    {{ return(adapter.dispatch('in_subquery', 'cdp')(expr, subquery)) }}
{%- endmacro %}

{% macro default__in_subquery(expr, subquery) -%}
    {{ expr }} in {{ subquery }}
{%- endmacro %}

{% macro postgres__in_subquery(expr, subquery) -%}
    {{ expr }} = any(array{{ subquery }})
{%- endmacro %}
