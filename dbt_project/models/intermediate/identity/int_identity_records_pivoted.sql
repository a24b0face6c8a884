{#- One row per source record carrying at least one accepted identity, with the node of each
    namespace on it (a record has at most one identity per namespace: each source names one
    column per namespace). Hubs, links and record profiles are computed from this one row per
    record instead of joining the occurrences with themselves. -#}
select
    source_name,
    record_id,
    max(seen_at) as seen_at,
    {%- for namespace in cdp.identity_namespaces() %}
    max(case when namespace = '{{ namespace }}' then node_id end) as {{ namespace }}_node_id{{ ',' if not loop.last }}
    {%- endfor %}
from {{ ref('int_identity_occurrences_unioned') }}
where node_id is not null
group by source_name, record_id
