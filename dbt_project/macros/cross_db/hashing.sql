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

{#- A signed 64-bit integer hash of a text expression: compact, fast join keys. Stable for a given
    value on a given warehouse (Postgres' hashtextextended is the function its hash partitioning
    relies on). Not a cryptographic hash: collisions are possible in principle, so the models
    that use it test the key for uniqueness. -#}
{% macro hash_bigint(expr) -%}
    {{ return(adapter.dispatch('hash_bigint', 'cdp')(expr)) }}
{%- endmacro %}

{% macro default__hash_bigint(expr) -%}
    {{ exceptions.raise_compiler_error("hash_bigint: no 64-bit hash for adapter " ~ adapter.type()
        ~ " (Snowflake: hash(x); BigQuery: farm_fingerprint(x)); add " ~ adapter.type() ~ "__hash_bigint") }}
{%- endmacro %}

{% macro postgres__hash_bigint(expr) -%}
    hashtextextended({{ expr }}, 0)
{%- endmacro %}

{% macro snowflake__hash_bigint(expr) -%}
    hash({{ expr }})
{%- endmacro %}

{% macro bigquery__hash_bigint(expr) -%}
    farm_fingerprint({{ expr }})
{%- endmacro %}
