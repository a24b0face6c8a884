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

records as (

    select * from {{ ref('int_identity_records_pivoted') }}

),

{#- every (identity, other identity) pair seen on one record, for the namespace pairs with a limit -#}
pairs as (

    {%- for namespace in cdp.identity_namespaces() %}
    {%- set outer_loop = loop %}
    {%- for other in cdp.identity_namespaces() if other != namespace %}
    select distinct
        '{{ namespace }}' as namespace,
        '{{ other }}' as other_namespace,
        {{ namespace }}_node_id as node_id,
        {{ other }}_node_id as other_node_id
    from records
    where {{ namespace }}_node_id is not null
        and {{ other }}_node_id is not null
        and exists (
            select 1
            from limits
            where
                limits.namespace = '{{ namespace }}'
                and limits.other_namespace = '{{ other }}'
        )
    {%- if not (outer_loop.last and loop.last) %}

    union all
    {%- endif %}
    {%- endfor %}
    {%- endfor %}

),

co_occurrences as (

    select
        node_id,
        namespace,
        other_namespace,
        count(*) as linked_count
    from pairs
    group by node_id, namespace, other_namespace

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
