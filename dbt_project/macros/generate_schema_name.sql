{#- A model's custom schema is used verbatim (staging, identity, profiles, audiences),
    not prefixed with the target schema: the warehouse-outputs contract names these
    schemas. Models without a custom schema land in the target schema. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
