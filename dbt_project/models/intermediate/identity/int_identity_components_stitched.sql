{#- The identity graph for the connected_components materialization: one row per
    node (linked_node_id = node_id, so isolated identities get a component) and one
    per link. The materialization turns it into node_id -> root_node_id. -#}
{{ config(materialized='connected_components') }}

select
    node_id,
    node_id as linked_node_id
from {{ ref('int_identity_nodes_numbered') }}

union all

select
    node_id_a as node_id,
    node_id_b as linked_node_id
from {{ ref('int_identity_links_paired') }}
