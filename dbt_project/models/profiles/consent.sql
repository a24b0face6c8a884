{#- Every profile x purpose. A choice made for any identity of the profile applies
    to the whole profile: the latest collected_at wins; at the same collected_at,
    denied wins. No recorded choice means no consent: status denied with decided_at
    and source null. Choices whose subject is in no profile are not applied. -#}
with

profiles as (

    select profile_id from {{ ref('profiles') }}

),

purposes as (

    {{ cdp.consent_purposes_sql() | indent(4) }}

),

choices as (

    select
        identity_map.profile_id,
        events.purpose,
        events.status,
        events.collected_at,
        events.source,
        row_number() over (
            partition by identity_map.profile_id, events.purpose
            order by
                events.collected_at desc,
                case when events.status = 'denied' then 0 else 1 end,
                events.source,
                events.consent_event_id
        ) as choice_rank
    from {{ ref('stg_consent__events') }} as events
    inner join {{ ref('identity_map') }} as identity_map
        on identity_map.namespace = events.subject_namespace
        and identity_map.identity_value = events.subject_value

)

select
    profiles.profile_id,
    purposes.purpose,
    coalesce(choices.status, 'denied') as status,
    choices.collected_at as decided_at,
    choices.source
from profiles
cross join purposes
left join choices
    on choices.profile_id = profiles.profile_id
    and choices.purpose = purposes.purpose
    and choices.choice_rank = 1
