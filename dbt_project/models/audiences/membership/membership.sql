{#- Membership periods (warehouse-outputs contract): one row per audience, profile and time the
    profile entered the audience, with when it left. A profile that leaves and comes back gets a
    new row; earlier rows never change. Derived from membership_changes, whose entries and exits
    alternate per audience and profile. -#}
with

changes as (

    select
        audience,
        profile_id,
        change,
        run_date,
        changed_at,
        row_number() over (
            partition by audience, profile_id
            order by run_date
        ) as change_number
    from {{ ref('membership_changes') }}

),

periods as (

    select
        audience,
        profile_id,
        -- entries are the odd change numbers; each exit closes the entry just before it
        cast((change_number + 1) / 2 as {{ dbt.type_int() }}) as period_number,
        change,
        run_date,
        changed_at
    from changes

)

select
    audience,
    profile_id,
    case when max(case when change = 'exited' then 1 else 0 end) = 1 then 'exited' else 'realized' end as status,
    max(case when change = 'entered' then changed_at end) as realized_at,
    max(case when change = 'exited' then changed_at end) as exited_at,
    max(case when change = 'entered' then run_date end) as realized_run_date,
    max(case when change = 'exited' then run_date end) as exited_run_date
from periods
group by audience, profile_id, period_number
