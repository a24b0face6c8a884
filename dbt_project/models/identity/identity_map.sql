{#- One row per stitched identity with its profile. Hubs and identities cut by the profile
    size cap are not stitched (they are in rejected_identities as graph_limit). profile_id is
    stable across runs (see int_identity_components_stitched and profile_merges). -#}
select
    nodes.namespace,
    nodes.identity_value,
    stitched.profile_id,
    nodes.first_seen_at,
    nodes.last_seen_at
from {{ ref('int_identity_nodes_numbered') }} as nodes
inner join {{ ref('int_identity_components_stitched') }} as stitched
    on stitched.node_id = nodes.node_id
where stitched.profile_id is not null
