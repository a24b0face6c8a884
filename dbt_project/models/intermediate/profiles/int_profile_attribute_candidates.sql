{#- Every source record stitched into a profile, with the value of each profile attribute it
    carries when that value is valid (null otherwise): the candidates the merge policy chooses
    from. Which source carries what: macros/profiles/profile_attributes.sql. Receipts and web
    events keep only their latest record per distinct set of values. -#}
{{ config(pre_hook="{{ cdp.profile_records_join_hints() }}") }}
{%- set policy = cdp.profile_merge_policy() -%}
{%- set columns = cdp.profile_attribute_columns() -%}

with

{% for spec in cdp.profile_attribute_sources() %}
{{ spec.source }} as (

    select
        profile_records.profile_id,
        '{{ spec.source }}' as source_name,
        records.{{ spec.record_id }} as record_id,
        {{ spec.updated_at }} as source_updated_at,
        records.source_dt
        {%- for column in columns %},
        {% if column.name in spec['values'] -%}
            {{ cdp.valid_profile_value(column.check, spec['values'][column.name], policy.placeholders) }}
        {%- else -%}
            cast(null as {{ column.type }})
        {%- endif %} as {{ column.name }}
        {%- endfor %}
    from {{ ref(spec.model) }} as records
    {{ cdp.join_profile_records(spec.source, 'records.' ~ spec.record_id) }}
    {%- if spec.where %}
    where {{ spec.where }}
    {%- endif %}

),
{%- if spec.latest_per_value %}

{{ spec.source }}_latest as (

    select * from (
        select
            *,
            row_number() over (
                partition by profile_id
                    {%- for column in columns if column.name in spec['values'] %}, {{ column.name }}{% endfor %}
                order by source_updated_at desc, {{ cdp.bytewise('record_id') }}
            ) as value_rank
        from {{ spec.source }}
    ) as ranked
    where value_rank = 1

),
{%- endif %}
{% endfor %}
unioned as (
    {%- for spec in cdp.profile_attribute_sources() %}

    select
        profile_id,
        source_name,
        record_id,
        source_updated_at,
        source_dt
        {%- for column in columns %},
        {{ column.name }}
        {%- endfor %}
    from {{ spec.source }}{{ '_latest' if spec.latest_per_value }}
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

)

select * from unioned
