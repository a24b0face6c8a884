{#- One row per run date and audience whose membership was recorded, with its member count.
    Incremental and never rebuilt by --full-refresh: it is the history. A run replaces its own
    date's rows while no later date is recorded (a rerun of the same data writes the same rows);
    a backfill of an earlier date records nothing: history is never rewritten. -#}
{{ config(
    materialized='incremental',
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook="{{ cdp.delete_current_membership_run(this, this) }}",
) }}

with

audiences as (

    {%- for name in cdp.audience_names() %}
    select '{{ name }}' as audience
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

members as (

    select * from {{ ref('audience_members') }}

)

select
    {{ cdp.run_date_literal() }} as run_date,
    audiences.audience,
    count(members.profile_id) as member_count
from audiences
left join members
    on members.audience = audiences.audience
{%- if is_incremental() %}
where {{ cdp.membership_run_is_latest(this) }}
{%- endif %}
group by audiences.audience
