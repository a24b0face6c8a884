{#- One node per normalized identity, numbered in anchor order: namespace priority
    (crm < loyalty < email < phone < ecid), then value byte-wise. The smallest node_id
    of a component is therefore its anchor. node_ids are dense and rebuilt each run;
    they are internal and never leave the identity schema. -#}
with

accepted as (

    select
        namespace,
        identity_value,
        min(seen_at) as first_seen_at,
        max(seen_at) as last_seen_at,
        count(*) as occurrence_count
    from {{ ref('int_identity_occurrences_unioned') }}
    where identity_value is not null
    group by namespace, identity_value

)

select
    row_number() over (
        order by {{ cdp.namespace_priority('namespace') }}, {{ cdp.bytewise('identity_value') }}
    ) as node_id,
    namespace,
    identity_value,
    first_seen_at,
    last_seen_at,
    occurrence_count
from accepted
