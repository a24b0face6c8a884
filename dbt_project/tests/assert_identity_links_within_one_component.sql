-- The stitched components are closed: no link joins two components, and every root
-- is a node that is its own root. Fails with the offending links or nodes.
with

components as (

    select * from {{ ref('int_identity_components_stitched') }}

),

links as (

    select * from {{ ref('int_identity_links_paired') }}

),

links_across_components as (

    select
        'link across components' as problem,
        links.node_id_a as node_id,
        links.node_id_b as other_node_id
    from links
    inner join components as component_a on component_a.node_id = links.node_id_a
    inner join components as component_b on component_b.node_id = links.node_id_b
    where component_a.root_node_id <> component_b.root_node_id

),

roots_not_roots as (

    select
        'root is not its own root' as problem,
        components.node_id,
        components.root_node_id as other_node_id
    from components
    left join components as roots on roots.node_id = components.root_node_id
    where roots.node_id is null or roots.root_node_id <> roots.node_id

)

select * from links_across_components
union all
select * from roots_not_roots
