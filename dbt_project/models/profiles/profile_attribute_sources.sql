{#- Lineage of the merged attributes: for every profile and merge-policy attribute that has a
    value, the record it was taken from, that record's own update time, and the rule applied. -#}
{%- set policy = cdp.profile_merge_policy() -%}

with

merged as (

    select * from {{ ref('int_profile_attributes_merged') }}

)
{%- for attribute in policy.attributes %}

select
    profile_id,
    '{{ attribute.name }}' as attribute,
    '{{ attribute.rule }}' as rule,
    {{ attribute.name }}__source as source_name,
    {{ attribute.name }}__record_id as record_id,
    {{ attribute.name }}__updated_at as source_updated_at
from merged
where {{ attribute.name }}__source is not null
{%- if not loop.last %}

union all
{%- endif %}
{%- endfor %}
