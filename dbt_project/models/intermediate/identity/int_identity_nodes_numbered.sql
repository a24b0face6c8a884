{#- One node per normalized identity, keyed by its stable node_id (a 64-bit hash of namespace
    and value, the same in every run), with the rules that apply to it: its namespace's
    priority (1 = strongest), its unique_mask (a bit of its own when its namespace is unique
    per profile, else 0) and whether it is a hub (int_identity_hubs_detected). node_ids are
    internal and never leave the identity schema. -#}
with

namespace_rules as (

    {{ cdp.identity_namespace_rules_sql() | indent(4) }}

),

accepted as (

    select
        node_id,
        namespace,
        identity_value,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        count(*) as occurrence_count
    from {{ ref('int_identity_occurrences_unioned') }}
    where node_id is not null
    group by node_id, namespace, identity_value

),

hubs as (

    select distinct node_id from {{ ref('int_identity_hubs_detected') }}

)

select
    accepted.node_id,
    accepted.namespace,
    accepted.identity_value,
    namespace_rules.namespace_priority,
    namespace_rules.unique_mask,
    hubs.node_id is not null as is_hub,
    accepted.first_seen_at,
    accepted.last_seen_at,
    accepted.occurrence_count
from accepted
inner join namespace_rules
    on namespace_rules.namespace = accepted.namespace
left join hubs
    on hubs.node_id = accepted.node_id
