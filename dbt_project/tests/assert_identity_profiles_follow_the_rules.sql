-- The linking rules hold in every profile: at most one value of each unique namespace, at most
-- max_identities_per_profile identities, no hub. Fails with the offending profiles.
with

stitched as (

    select stitched.profile_id, nodes.namespace, nodes.unique_mask, nodes.is_hub
    from {{ ref('int_identity_components_stitched') }} as stitched
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes on nodes.node_id = stitched.node_id
    where stitched.profile_id is not null

),

cap as (

    select cast(value as integer) as max_identities
    from {{ ref('stg_prep__identity_rules') }}
    where rule = 'max_identities_per_profile'

)

select 'two values of a unique namespace' as problem, profile_id, namespace, count(*) as identities
from stitched
where unique_mask > 0
group by profile_id, namespace
having count(*) > 1

union all

select 'more identities than the cap', profile_id, null, count(*)
from stitched
group by profile_id
having count(*) > (select max_identities from cap)

union all

select 'a hub is stitched', profile_id, namespace, 1
from stitched
where is_hub
