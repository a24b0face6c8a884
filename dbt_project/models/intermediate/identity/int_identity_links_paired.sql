{#- Links between identities found on the same source record, hubs left out. A record with k
    linkable identities gives a star of k - 1 links from its strongest identity (namespace
    priority, then node_id) to each other one, which connects the same identities as all
    k(k-1)/2 pairs. One row per pair (node_id_a < node_id_b) with when records carried it
    (first_seen_at, last_seen_at: the order in which the unique-namespace guard replays links)
    and link_priority, the sum of the two namespaces' priorities (ties at one instant: the
    stronger link first). -#}
with

nodes as (

    select node_id, namespace_priority
    from {{ ref('int_identity_nodes_numbered') }}
    where not is_hub

),

record_nodes as (

    select distinct
        occurrence.source_name,
        occurrence.record_id,
        occurrence.node_id,
        nodes.namespace_priority,
        occurrence.seen_at
    from {{ ref('int_identity_occurrences_unioned') }} as occurrence
    inner join nodes
        on nodes.node_id = occurrence.node_id

),

record_strongest as (

    select
        source_name,
        record_id,
        min(namespace_priority) as namespace_priority
    from record_nodes
    group by source_name, record_id

),

record_centers as (

    select
        record_nodes.source_name,
        record_nodes.record_id,
        min(record_nodes.node_id) as center_node_id,
        min(record_nodes.namespace_priority) as center_priority
    from record_nodes
    inner join record_strongest
        on record_strongest.source_name = record_nodes.source_name
        and record_strongest.record_id = record_nodes.record_id
        and record_strongest.namespace_priority = record_nodes.namespace_priority
    group by record_nodes.source_name, record_nodes.record_id

),

record_links as (

    select
        least(record_centers.center_node_id, record_nodes.node_id) as node_id_a,
        greatest(record_centers.center_node_id, record_nodes.node_id) as node_id_b,
        record_centers.center_priority + record_nodes.namespace_priority as link_priority,
        record_nodes.seen_at
    from record_nodes
    inner join record_centers
        on record_centers.source_name = record_nodes.source_name
        and record_centers.record_id = record_nodes.record_id
    where record_nodes.node_id <> record_centers.center_node_id

)

select
    node_id_a,
    node_id_b,
    link_priority,
    count(*) as record_count,
    min(seen_at) as first_seen_at,
    max(seen_at) as last_seen_at
from record_links
group by node_id_a, node_id_b, link_priority
