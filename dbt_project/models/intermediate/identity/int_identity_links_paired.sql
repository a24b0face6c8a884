{#- Links between identities found on the same source record, hubs left out. A record with k
    linkable identities gives a star of k - 1 links from its strongest identity (namespace
    priority: a record has at most one identity per namespace) to each other one, which
    connects the same identities as all k(k-1)/2 pairs. One row per pair (node_id_a <
    node_id_b) with when records carried it (first_seen_at, last_seen_at: the order in which
    the unique-namespace guard replays links) and link_priority, the sum of the two
    namespaces' priorities (ties at one instant: the stronger link first). -#}
{%- set namespaces = cdp.identity_namespaces() -%}
with

linkable as (

    select node_id, namespace_priority
    from {{ ref('int_identity_nodes_numbered') }}
    where not is_hub

),

records as (

    select
        records.seen_at,
        {%- for namespace in namespaces %}
        {{ namespace }}.node_id as {{ namespace }}_node_id,
        {{ namespace }}.namespace_priority as {{ namespace }}_priority,
        {%- endfor %}
        {{ cdp.strongest_namespace_priority() | indent(8) }} as center_priority
    from {{ ref('int_identity_records_pivoted') }} as records
    {%- for namespace in namespaces %}
    left join linkable as {{ namespace }}
        on {{ namespace }}.node_id = records.{{ namespace }}_node_id
    {%- endfor %}

),

centered as (

    select
        records.*,
        case
            {%- for namespace in namespaces %}
            when records.{{ namespace }}_priority = records.center_priority then records.{{ namespace }}_node_id
            {%- endfor %}
        end as center_node_id
    from records
    where records.center_priority < 99

),

record_links as (

    {%- for namespace in namespaces %}
    select
        least(center_node_id, {{ namespace }}_node_id) as node_id_a,
        greatest(center_node_id, {{ namespace }}_node_id) as node_id_b,
        center_priority + {{ namespace }}_priority as link_priority,
        seen_at
    from centered
    where {{ namespace }}_node_id is not null
        and {{ namespace }}_node_id <> center_node_id
    {%- if not loop.last %}

    union all
    {%- endif %}
    {%- endfor %}

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
