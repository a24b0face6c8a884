{#- Identity values that were seen but not stitched, or not linked, with the reason:
    - invalid_format, blocked_value (prep.identifiers), not_normalized (no prep row): the
      value as landed, on source records and on consent and privacy subjects;
    - graph_limit: a hub (seen with more identities of another namespace than the rules
      allow) or an identity cut by the profile size cap: not stitched at all;
    - unique_namespace_conflict: a link the unique-namespace guard did not make; the row names
      the link's weaker identity (the one kept out of the other identity's profile; it may be
      stitched into another profile) and the sources of the records whose links include it.
    Email and phone values are kept as the SHA-256 hex of the value (as landed for the first
    group, normalized for the others). -#}
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

not_stitched as (

    select nodes.node_id
    from {{ ref('int_identity_nodes_numbered') }} as nodes
    where nodes.is_hub

    union all

    select node_id
    from {{ ref('int_identity_components_stitched') }}
    where profile_id is null

),

graph_limit_rejections as (

    select
        occurrence.namespace,
        {{ cdp.rejected_identity_value('occurrence.namespace', 'occurrence.identity_value') }} as identity_value,
        'graph_limit' as reason,
        occurrence.source_name as source,
        occurrence.seen_at
    from not_stitched
    inner join {{ ref('int_identity_occurrences_unioned') }} as occurrence
        on occurrence.node_id = not_stitched.node_id

),

conflict_links as (

    select
        rejected.node_id_a,
        rejected.node_id_b,
        case when nodes_b.namespace_priority >= nodes_a.namespace_priority then nodes_b.node_id else nodes_a.node_id end
            as weaker_node_id,
        case when nodes_b.namespace_priority >= nodes_a.namespace_priority then nodes_a.node_id else nodes_b.node_id end
            as stronger_node_id,
        least(nodes_a.namespace_priority, nodes_b.namespace_priority) as stronger_priority
    from {{ ref('int_identity_links_rejected') }} as rejected
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes_a on nodes_a.node_id = rejected.node_id_a
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes_b on nodes_b.node_id = rejected.node_id_b
    where rejected.reason = 'unique_namespace_conflict'

),

{#- The occurrences of the links' weaker identities, read once. -#}
weaker_occurrences as (

    select source_name, record_id, node_id, seen_at
    from {{ ref('int_identity_occurrences_unioned') }}
    where node_id in (select conflict_links.weaker_node_id from conflict_links)

),

{#- The centre of each record carrying a weaker identity: its strongest linkable identity (the
    star's centre, see int_identity_links_paired). Only these records' identities are read, not
    every occurrence joined with every identity; an aggregate, not a correlated anti-join, so a
    low row estimate cannot turn it into a loop over every record. -#}
record_centres as (

    select
        occurrence.source_name,
        occurrence.record_id,
        (array_agg(nodes.node_id order by nodes.namespace_priority, nodes.node_id))[1] as centre_node_id
    from {{ ref('int_identity_occurrences_unioned') }} as occurrence
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes
        on nodes.node_id = occurrence.node_id
    where not nodes.is_hub
        and (occurrence.source_name, occurrence.record_id) in (
            select weaker_occurrences.source_name, weaker_occurrences.record_id from weaker_occurrences
        )
    group by occurrence.source_name, occurrence.record_id

),

{#- The records whose links include the rejected one: they carry the weaker identity and the
    stronger one is their centre. -#}
conflict_records as (

    select
        conflict_links.weaker_node_id,
        weaker.source_name,
        weaker.record_id,
        weaker.seen_at
    from conflict_links
    inner join weaker_occurrences as weaker
        on weaker.node_id = conflict_links.weaker_node_id
    inner join record_centres as centre
        on centre.source_name = weaker.source_name
        and centre.record_id = weaker.record_id
        and centre.centre_node_id = conflict_links.stronger_node_id

),

conflict_rejections as (

    select
        nodes.namespace,
        {{ cdp.rejected_identity_value('nodes.namespace', 'nodes.identity_value') }} as identity_value,
        'unique_namespace_conflict' as reason,
        conflict_records.source_name as source,
        conflict_records.seen_at
    from conflict_records
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes
        on nodes.node_id = conflict_records.weaker_node_id

),

rejections as (

    select * from record_rejections
    union all
    select * from consent_rejections
    union all
    select * from privacy_rejections
    union all
    select * from graph_limit_rejections
    union all
    select * from conflict_rejections

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
