{#- One row per profile: each attribute of the merge policy (var merge_policy of
    dbt_project.yml) taken from its winning candidate record, with the winner's source,
    record and update time.
    most_recent:      latest source_updated_at, then the source listed first, then record id.
    source_priority:  the source listed first, then the latest source_updated_at, then record id.
    A record competes for an attribute only when it has a valid value in one of the attribute's
    columns, and then gives all of them (an address comes from one record). -#}
{%- set policy = cdp.profile_merge_policy() -%}

with

candidates as (

    select * from {{ ref('int_profile_attribute_candidates') }}

),

profiles as (

    select distinct profile_id from {{ ref('identity_map') }}

),
{% for attribute in policy.attributes %}
{%- set source_rank = cdp.profile_source_rank('source_name', attribute.sources) %}
ranked_{{ attribute.name }} as (

    select
        profile_id,
        source_name,
        record_id,
        source_updated_at,
        {{ attribute.columns | join(',\n        ') }},
        row_number() over (
            partition by profile_id
            order by
                {%- if attribute.rule == 'source_priority' %}
                {{ source_rank | indent(16) }},
                {%- endif %}
                source_updated_at desc nulls last,
                {{ source_rank | indent(16) }},
                {{ cdp.bytewise('record_id') }}
        ) as winner_rank
    from candidates
    where source_name in ({{ cdp.sql_string_list(attribute.sources) }})
        and ({{ attribute.columns | join(' is not null or ') }} is not null)

),
{% endfor %}
merged as (

    select
        profiles.profile_id
        {%- for attribute in policy.attributes %}
        {%- for column in attribute.columns %},
        ranked_{{ attribute.name }}.{{ column }}
        {%- endfor %},
        ranked_{{ attribute.name }}.source_name as {{ attribute.name }}__source,
        ranked_{{ attribute.name }}.record_id as {{ attribute.name }}__record_id,
        ranked_{{ attribute.name }}.source_updated_at as {{ attribute.name }}__updated_at
        {%- endfor %}
    from profiles
    {%- for attribute in policy.attributes %}
    left join ranked_{{ attribute.name }}
        on ranked_{{ attribute.name }}.profile_id = profiles.profile_id
        and ranked_{{ attribute.name }}.winner_rank = 1
    {%- endfor %}

)

select * from merged
