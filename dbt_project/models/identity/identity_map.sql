{#- One row per normalized identity with its profile. The profile id is derived from
    the component's anchor (its smallest node: namespace priority, then value), so the
    same graph always gives the same ids. Stable ids across merges and splits (a
    persisted id map, identity.profile_merges) replace this derivation later. -#}
with

nodes as (

    select * from {{ ref('int_identity_nodes_numbered') }}

),

components as (

    select * from {{ ref('int_identity_components_stitched') }}

)

select
    nodes.namespace,
    nodes.identity_value,
    {{ cdp.profile_id_from_anchor('anchors.namespace', 'anchors.identity_value') }} as profile_id,
    nodes.first_seen_at,
    nodes.last_seen_at
from nodes
inner join components
    on components.node_id = nodes.node_id
inner join nodes as anchors
    on anchors.node_id = components.root_node_id
