{#- Links the linking rules did not make: one row per link whose two identities are not in one
    profile (unique_namespace_conflict), or one of which the profile size cap cut (graph_limit).
    Only a component a guard cut can have them (int_identity_components_stitched). -#}
with

guarded as (

    select node_id, component_node_id, profile_id
    from {{ ref('int_identity_components_stitched') }}
    where component_guarded

)

select
    links.node_id_a,
    links.node_id_b,
    node_a.component_node_id,
    case
        when node_a.profile_id is null or node_b.profile_id is null then 'graph_limit'
        else 'unique_namespace_conflict'
    end as reason,
    links.last_seen_at
from guarded as node_a
inner join {{ ref('int_identity_links_paired') }} as links
    on links.node_id_a = node_a.node_id
inner join guarded as node_b
    on node_b.node_id = links.node_id_b
where node_a.profile_id is null
    or node_b.profile_id is null
    or node_a.profile_id <> node_b.profile_id
