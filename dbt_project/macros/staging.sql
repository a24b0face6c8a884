{#- One row per key of a staging model's `source` CTE: the first row in `order_by`, which each
    model declares (the latest version of a record, or the first landing of an event). The
    order ends with where the row landed, so a rerun picks the same row. -#}
{% macro one_row_per_key(relation, key, order_by) -%}
select ranked.*
from (
    select
        *,
        row_number() over (partition by {{ key }} order by {{ order_by }}) as row_rank
    from {{ relation }}
) as ranked
where ranked.row_rank = 1
{%- endmacro %}
