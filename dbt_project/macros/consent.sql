{#- The consent purposes of the landing-zone contract. -#}
{% macro consent_purposes() -%}
    {{ return(['email_marketing', 'sms_marketing', 'personalization', 'ad_targeting']) }}
{%- endmacro %}

{% macro consent_purposes_sql() -%}
    {%- for purpose in cdp.consent_purposes() %}
    select '{{ purpose }}' as purpose
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}
