-- The stitching is closed: a link joins two identities of one profile unless it is recorded
-- as not made (stitch_rejected_links), and every link recorded as not made does cross two
-- profiles or touch an identity the cap cut. Fails with the offending links.
with

stitched as (

    select * from {{ ref('int_identity_components_stitched') }}

),

links as (

    select * from {{ ref('int_identity_links_paired') }}

),

rejected as (

    select * from {{ cdp.stitch_state(ref('int_identity_components_stitched'))['rejected_links'] }}

),

judged as (

    select
        links.node_id_a,
        links.node_id_b,
        stitched_a.component_node_id = stitched_b.component_node_id as same_component,
        coalesce(stitched_a.profile_id = stitched_b.profile_id, false) as same_profile,
        rejected.reason
    from links
    inner join stitched as stitched_a on stitched_a.node_id = links.node_id_a
    inner join stitched as stitched_b on stitched_b.node_id = links.node_id_b
    left join rejected
        on rejected.node_id_a = links.node_id_a
        and rejected.node_id_b = links.node_id_b

)

select
    case
        when not same_component then 'link across candidate components'
        when same_profile and reason is not null then 'link recorded as not made inside one profile'
        else 'link across profiles not recorded'
    end as problem,
    node_id_a,
    node_id_b
from judged
where not same_component
    or (same_profile and reason is not null)
    or (not same_profile and reason is null)

union all

select 'recorded link that does not exist', rejected.node_id_a, rejected.node_id_b
from rejected
left join links
    on links.node_id_a = rejected.node_id_a
    and links.node_id_b = rejected.node_id_b
where links.node_id_a is null
