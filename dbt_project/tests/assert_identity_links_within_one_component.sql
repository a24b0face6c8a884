-- The stitching is closed and exact where no guard acted: no link joins two candidate
-- components, a component's id is its smallest node, and a link joins two profiles only in a
-- component a guard cut. Fails with the offending links or nodes.
with

stitched as (

    select * from {{ ref('int_identity_components_stitched') }}

),

links as (

    select * from {{ ref('int_identity_links_paired') }}

),

judged as (

    select
        links.node_id_a,
        links.node_id_b,
        stitched_a.component_node_id = stitched_b.component_node_id as same_component,
        coalesce(stitched_a.profile_id = stitched_b.profile_id, false) as same_profile,
        stitched_a.component_guarded
    from links
    inner join stitched as stitched_a on stitched_a.node_id = links.node_id_a
    inner join stitched as stitched_b on stitched_b.node_id = links.node_id_b

),

components as (

    select component_node_id, min(node_id) as smallest_node_id
    from stitched
    group by component_node_id

)

select
    case
        when not same_component then 'link across candidate components'
        else 'link across profiles in a component no guard cut'
    end as problem,
    node_id_a,
    node_id_b
from judged
where not same_component
    or (not same_profile and not component_guarded)

union all

select 'component id is not its smallest node', component_node_id, smallest_node_id
from components
where component_node_id <> smallest_node_id
