{#- The profile of each source record that carries at least one stitched identity: the profile
    of its strongest stitched identity (namespace priority; a record has at most one identity
    per namespace), the identity its links start from. A guard may have kept one of its
    identities out of that profile (a household email that went to the person who used it
    last): the record still belongs to the profile of its strongest identity. Records with no
    stitched identity (an anonymous till receipt, a kiosk session) have none. -#}
{%- set namespaces = cdp.identity_namespaces() -%}
with

stitched as (

    select
        stitched.node_id,
        stitched.profile_id,
        nodes.namespace_priority
    from {{ ref('int_identity_components_stitched') }} as stitched
    inner join {{ ref('int_identity_nodes_numbered') }} as nodes
        on nodes.node_id = stitched.node_id
    where stitched.profile_id is not null

),

records as (

    select
        records.source_name,
        records.record_id,
        {%- for namespace in namespaces %}
        {{ namespace }}.profile_id as {{ namespace }}_profile_id,
        {{ namespace }}.namespace_priority as {{ namespace }}_priority,
        {%- endfor %}
        {{ cdp.strongest_namespace_priority() | indent(8) }} as strongest_priority
    from {{ ref('int_identity_records_pivoted') }} as records
    {%- for namespace in namespaces %}
    left join stitched as {{ namespace }}
        on {{ namespace }}.node_id = records.{{ namespace }}_node_id
    {%- endfor %}

)

select
    source_name,
    record_id,
    case
        {%- for namespace in namespaces %}
        when {{ namespace }}_priority = strongest_priority then {{ namespace }}_profile_id
        {%- endfor %}
    end as profile_id
from records
where strongest_priority < 99
