{#- The profile of each source record that carries at least one accepted identity.
    All identities of a record are linked, so a record has exactly one profile
    (tested). Records with no accepted identity (an anonymous till receipt) have none. -#}
select distinct
    occurrence.source_name,
    occurrence.record_id,
    identity_map.profile_id
from {{ ref('int_identity_occurrences_unioned') }} as occurrence
inner join {{ ref('identity_map') }} as identity_map
    on identity_map.namespace = occurrence.namespace
    and identity_map.identity_value = occurrence.identity_value
