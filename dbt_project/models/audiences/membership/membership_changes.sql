{#- The day's entries and exits, one row per audience, profile and run date on which the
    profile entered or left the audience: the run's members compared with the members after
    the latest earlier run (its entries minus its exits). changed_at is the end of the run date
    (midnight UTC after it), never the clock. Activation reads the rows of its run date.
    Incremental and never rebuilt by --full-refresh: with membership_runs it is the history.
    A run replaces its own date's rows while it is the latest recorded date; a backfill of an
    earlier date adds nothing. -#}
{{ config(
    materialized='incremental',
    full_refresh=false,
    on_schema_change='append_new_columns',
    pre_hook="{{ cdp.delete_current_membership_run(this, ref('membership_runs')) }}",
) }}

with

today as (

    select audience, profile_id from {{ ref('audience_members') }}

),

{% if is_incremental() %}
changes_before as (

    select
        audience,
        profile_id,
        change,
        row_number() over (
            partition by audience, profile_id
            order by run_date desc
        ) as recency_rank
    from {{ this }}
    where run_date < {{ cdp.run_date_literal() }}

),

members_before as (

    select audience, profile_id
    from changes_before
    where recency_rank = 1 and change = 'entered'

),
{% else %}
members_before as (

    select audience, profile_id from today
    where 1 = 0

),
{% endif %}
changes as (

    select today.audience, today.profile_id, 'entered' as change
    from today
    left join members_before as before
        on before.audience = today.audience and before.profile_id = today.profile_id
    where before.profile_id is null

    union all

    select before.audience, before.profile_id, 'exited' as change
    from members_before as before
    left join today
        on today.audience = before.audience and today.profile_id = before.profile_id
    where today.profile_id is null

)

select
    audience,
    profile_id,
    change,
    {{ cdp.run_date_literal() }} as run_date,
    {{ cdp.run_day_start(1) }} as changed_at
from changes
{%- if is_incremental() %}
where {{ cdp.membership_run_is_latest(ref('membership_runs')) }}
{%- endif %}
