{#- Every audience model, for the membership history. A new audience is added here as well as
    in models/audiences/: the membership models fail the build when the two lists differ. -#}
{% macro audience_names() -%}
    {{ return([
        'aud_recent_store_buyers_email',
        'aud_lapsed_high_value_email',
        'aud_loyal_store_shoppers_sms',
        'aud_online_browsers_no_purchase_ads',
        'aud_known_cart_abandoners_ads',
        'aud_store_shoppers_online_personalization',
    ]) }}
{%- endmacro %}

{#- audience, profile_id of every member of every audience (the select of a CTE). -#}
{% macro audience_members_union() -%}
    {%- if execute and model.resource_type == 'model' -%}
        {% do cdp.check_audience_registry() %}
    {%- endif -%}
    {%- for name in cdp.audience_names() %}
    select '{{ name }}' as audience, profile_id from {{ ref(name) }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The audience list above matches the audience models (models/audiences/aud_*). -#}
{% macro check_audience_registry() -%}
    {%- set models = [] -%}
    {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.package_name == 'cdp'
            and node.original_file_path.startswith('models/audiences/') and node.name.startswith('aud_') -%}
        {%- do models.append(node.name) -%}
    {%- endfor -%}
    {%- set listed = cdp.audience_names() -%}
    {%- set unlisted = models | reject('in', listed) | list -%}
    {%- set missing = listed | reject('in', models) | list -%}
    {%- if unlisted or missing -%}
        {{ exceptions.raise_compiler_error(
            "macros/audiences/audience_registry.sql does not match models/audiences: not listed "
            ~ (unlisted | join(', ') or 'none') ~ "; listed without a model " ~ (missing | join(', ') or 'none')) }}
    {%- endif -%}
{%- endmacro %}
