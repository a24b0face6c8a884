{#- While the run is the latest recorded one, the open membership periods are exactly today's
    audience members: a profile missing from either side is returned. -#}
{{ config(tags=['audiences']) }}

with

current_run as (

    select 1 as is_latest
    where {{ cdp.membership_run_is_latest(ref('membership_runs')) }}

),

open_periods as (

    select audience, profile_id from {{ ref('membership') }}
    where status = 'realized'

),

members as (

    select audience, profile_id from {{ ref('audience_members') }}

),

differences as (

    select 'member without an open period' as problem, members.audience, members.profile_id
    from members
    left join open_periods
        on open_periods.audience = members.audience and open_periods.profile_id = members.profile_id
    where open_periods.profile_id is null

    union all

    select 'open period of a non-member' as problem, open_periods.audience, open_periods.profile_id
    from open_periods
    left join members
        on members.audience = open_periods.audience and members.profile_id = open_periods.profile_id
    where members.profile_id is null

)

select differences.*
from differences
cross join current_run
