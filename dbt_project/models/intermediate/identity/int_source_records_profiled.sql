{#- The profile of each source record that carries at least one stitched identity: the profile
    of its strongest stitched identity (namespace priority, then node_id), the identity its
    links start from. A guard may have kept one of its identities out of that profile (a
    household email that went to the person who used it last): the record still belongs to
    the profile of its strongest identity. Records with no stitched identity (an anonymous
    till receipt, a kiosk session) have none. -#}
with

record_profiles as (

    select
        occurrence.source_name,
        occurrence.record_id,
        stitched.profile_id,
        row_number() over (
            partition by occurrence.source_name, occurrence.record_id
            order by nodes.namespace_priority, nodes.node_id
        ) as strength_rank
    from {{ ref('int_identity_occurrences_unioned') }} as occurrence
    inner join {{ ref('int_identity_components_stitched') }} as stitched
        on stitched.node_id = occurrence.node_id
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes
        on nodes.node_id = occurrence.node_id
    where stitched.profile_id is not null

)

select
    source_name,
    record_id,
    profile_id
from record_profiles
where strength_rank = 1
