{#- Links between identities found on the same source record. A record with k
    identities gives a star of k - 1 links (each identity to the record's smallest
    node), which connects the same identities as all k(k-1)/2 pairs.
    Linking rules (unique namespaces, hub limits) will filter links here. -#}
with

record_nodes as (

    select distinct
        occurrence.source_name,
        occurrence.record_id,
        node.node_id,
        occurrence.seen_at
    from {{ ref('int_identity_occurrences_unioned') }} as occurrence
    inner join {{ ref('int_identity_nodes_numbered') }} as node
        on node.namespace = occurrence.namespace
        and node.identity_value = occurrence.identity_value

),

record_anchors as (

    select
        source_name,
        record_id,
        min(node_id) as anchor_node_id
    from record_nodes
    group by source_name, record_id

),

record_links as (

    select
        record_anchors.anchor_node_id as node_id_a,
        record_nodes.node_id as node_id_b,
        record_nodes.source_name,
        record_nodes.seen_at
    from record_nodes
    inner join record_anchors
        on record_anchors.source_name = record_nodes.source_name
        and record_anchors.record_id = record_nodes.record_id
    where record_nodes.node_id <> record_anchors.anchor_node_id

)

select
    node_id_a,
    node_id_b,
    count(*) as record_count,
    min(seen_at) as first_seen_at,
    max(seen_at) as last_seen_at
from record_links
group by node_id_a, node_id_b
