{#- The identity graph stitched into profiles by the identity_stitch materialization
    (macros/materializations/identity_stitch.sql, algorithm in macros/identity/stitch.sql):
    connected components of the links, split by the unique-namespace guard and the profile
    size cap, with profile ids kept stable across runs. Hubs are not stitched. -#}
{{ config(
    materialized='identity_stitch',
    links_model='int_identity_links_paired',
    rules_model='stg_prep__identity_rules',
) }}
-- depends_on: {{ ref('int_identity_links_paired') }}
-- depends_on: {{ ref('stg_prep__identity_rules') }}

select
    node_id,
    namespace,
    identity_value,
    namespace_priority,
    unique_mask,
    last_seen_at
from {{ ref('int_identity_nodes_numbered') }}
where not is_hub
