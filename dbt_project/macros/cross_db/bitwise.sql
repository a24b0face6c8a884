{#- Bitwise AND of two integer expressions. -#}
{% macro bitand(left, right) -%}
    {{ return(adapter.dispatch('bitand', 'cdp')(left, right)) }}
{%- endmacro %}

{% macro default__bitand(left, right) -%}
    bitand({{ left }}, {{ right }})
{%- endmacro %}

{% macro postgres__bitand(left, right) -%}
    ({{ left }} & {{ right }})
{%- endmacro %}

{% macro bigquery__bitand(left, right) -%}
    ({{ left }} & {{ right }})
{%- endmacro %}
