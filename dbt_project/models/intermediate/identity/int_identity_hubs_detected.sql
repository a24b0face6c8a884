{#- Hubs: identities seen on source records together with more distinct identities of another
    namespace than the rules allow (link_limits in config/identity_rules.yml), e.g. a store
    kiosk's ecid seen with the CRM ids of many customers. A hub links nothing (it is left out
    of the links and of the identity map) and is reported in rejected_identities as
    graph_limit. One row per hub and namespace over its limit. Counting co-occurrence on
    records, not links, makes a hub a property of the data, whichever identity a record's
    links start from. -#}
with

limits as (

    {{ cdp.identity_link_limits_sql() | indent(4) }}

),

record_identities as (

    select distinct
        source_name,
        record_id,
        namespace,
        node_id
    from {{ ref('int_identity_occurrences_unioned') }}
    where node_id is not null

),

co_occurrences as (

    select
        identity.node_id,
        identity.namespace,
        other.namespace as other_namespace,
        count(distinct other.node_id) as linked_count
    from record_identities as identity
    inner join limits
        on limits.namespace = identity.namespace
    inner join record_identities as other
        on other.source_name = identity.source_name
        and other.record_id = identity.record_id
        and other.namespace = limits.other_namespace
    group by identity.node_id, identity.namespace, other.namespace

)

select
    co_occurrences.node_id,
    co_occurrences.namespace,
    co_occurrences.other_namespace,
    co_occurrences.linked_count,
    limits.max_linked
from co_occurrences
inner join limits
    on limits.namespace = co_occurrences.namespace
    and limits.other_namespace = co_occurrences.other_namespace
where co_occurrences.linked_count > limits.max_linked
