{#- One row per key of a staging model's `source` CTE: the first row in `order_by`, which each
    model declares (the latest version of a record, or the first landing of an event). The
    order ends with where the row landed, so a rerun picks the same row.
    `<= 1` keeps the same rows as `= 1`, but the planner reads it as a third of the rows, not as
    0.5%: at 0.5% every reader of a staging view looks each row's identities up in
    prep.identifiers by index, one at a time, instead of hashing them. At 1,000,000 customers
    (back-to-back, twice each): the identity occurrences 55-61 s against 75-84 s, the rejected
    identities 28-29 s against 38-44 s, the consent events' staging read 9.5 s against 20.2 s. -#}
{% macro one_row_per_key(relation, key, order_by) -%}
select ranked.*
from (
    select
        *,
        row_number() over (partition by {{ key }} order by {{ order_by }}) as row_rank
    from {{ relation }}
) as ranked
where ranked.row_rank <= 1
{%- endmacro %}

{#- The latest version of each record (as `one_row_per_key`), where an `optional` column the row
    did not deliver (its file had no such column, its JSON object no such key: raw `_absent`)
    keeps the value of the latest version that did deliver it. A change row that leaves a column
    out does not clear it; an empty value does. `required` columns are always delivered. Only the
    keys that ever had such a row are aggregated a second time. -#}
{% macro latest_delivered(relation, key, order_by, required, optional) -%}
select
    latest.{{ key }},
    {%- for column in required %}
    latest.{{ column }},
    {%- endfor %}
    {%- for column in optional %}
    case
        when latest._absent is null or not latest._absent ? '{{ column }}' then latest.{{ column }}
        else delivered.{{ column }}
    end as {{ column }},
    {%- endfor %}
    latest._dt,
    latest._file,
    latest._line
from (
    {{ cdp.one_row_per_key(relation, key, order_by) | indent(4) }}
) as latest
left join (
    select
        {{ key }},
        {%- for column in optional %}
        (array_agg({{ column }} order by {{ order_by }}) filter (
            where _absent is null or not _absent ? '{{ column }}'
        ))[1] as {{ column }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ relation }}
    where {{ key }} in (select {{ key }} from {{ relation }} where _absent is not null)
    group by {{ key }}
) as delivered
    on latest._absent is not null and latest.{{ key }} = delivered.{{ key }}
{%- endmacro %}
