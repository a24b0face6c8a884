{#- Lower-case hex SHA-256 of a text expression (UTF-8 bytes). -#}
{% macro sha256_hex(expr) -%}
    {{ return(adapter.dispatch('sha256_hex', 'cdp')(expr)) }}
{%- endmacro %}

{% macro default__sha256_hex(expr) -%}
    lower(to_hex(sha256({{ expr }})))
{%- endmacro %}

{% macro postgres__sha256_hex(expr) -%}
    encode(sha256(convert_to({{ expr }}, 'UTF8')), 'hex')
{%- endmacro %}
