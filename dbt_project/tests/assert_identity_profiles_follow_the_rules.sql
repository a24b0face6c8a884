-- The linking rules hold in every profile: at most one value of each unique namespace, at most
-- max_identities_per_profile identities, no hub. Fails with the offending profiles.
-- (Each part reads only what it checks, not one CTE of every identity with its namespace: the
-- size count needs no namespace, the hub check starts from the few hubs. At 1,000,000 customers
-- without parallel workers: 4.8-5.2 s against 8.7-10.4 s.)
select 'two values of a unique namespace' as problem, stitched.profile_id, nodes.namespace, count(*) as identities
from {{ ref('int_identity_components_stitched') }} as stitched
inner join {{ ref('int_identity_nodes_numbered') }} as nodes on nodes.node_id = stitched.node_id
where stitched.profile_id is not null
    and nodes.unique_mask > 0
group by stitched.profile_id, nodes.namespace
having count(*) > 1

union all

select 'more identities than the cap', profile_id, null, count(*)
from {{ ref('int_identity_components_stitched') }}
where profile_id is not null
group by profile_id
having count(*) > (
    select cast(value as integer)
    from {{ ref('stg_prep__identity_rules') }}
    where rule = 'max_identities_per_profile'
)

union all

select 'a hub is stitched', stitched.profile_id, nodes.namespace, 1
from {{ ref('int_identity_components_stitched') }} as stitched
inner join {{ ref('int_identity_nodes_numbered') }} as nodes on nodes.node_id = stitched.node_id
where stitched.profile_id is not null
    and nodes.is_hub
