{#- Identity values that were seen but not stitched, with the reason: rejected by
    normalization (invalid_format, blocked_value), or not_normalized when
    prep.identifiers had no row for the value. Includes consent and privacy subjects.
    Email and phone values are kept as the SHA-256 hex of the value as landed. -#}
with

record_rejections as (

    select
        namespace,
        rejected_value as identity_value,
        rejection_reason as reason,
        source_name as source,
        seen_at
    from {{ ref('int_identity_occurrences_unioned') }}
    where rejection_reason is not null

),

consent_rejections as (

    select
        subject_namespace as namespace,
        {{ cdp.rejected_identity_value('subject_namespace', 'subject_value_raw') }} as identity_value,
        subject_value_rejection as reason,
        'consent_events' as source,
        collected_at as seen_at
    from {{ ref('stg_consent__events') }}
    where subject_value_rejection is not null

),

privacy_rejections as (

    select
        subject_namespace as namespace,
        {{ cdp.rejected_identity_value('subject_namespace', 'subject_value_raw') }} as identity_value,
        subject_value_rejection as reason,
        'privacy_requests' as source,
        received_at as seen_at
    from {{ ref('stg_privacy__requests') }}
    where subject_value_rejection is not null

),

rejections as (

    select * from record_rejections
    union all
    select * from consent_rejections
    union all
    select * from privacy_rejections

)

select
    namespace,
    identity_value,
    reason,
    source,
    max(seen_at) as seen_at,
    min(seen_at) as first_seen_at,
    count(*) as occurrence_count
from rejections
group by namespace, identity_value, reason, source
