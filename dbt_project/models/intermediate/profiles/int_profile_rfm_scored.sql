{#- Recency, frequency and monetary scores, 1 (lowest) to 5 (highest), of every profile with at
    least one order, relative to the other buyers on the run date. A buyer's percentile is its
    mid-rank: (buyers below it + half of the buyers with the same value) / buyers, and its score
    1 + floor(5 x percentile). Equal values share a score; a value shared by everybody (or a
    lone buyer) scores 3.
    recency:   whole days from the last purchase to the run date (fewer days, higher score);
    frequency: orders in any currency;
    monetary:  net revenue, among the buyers of the same main currency only (amounts in
               different currencies are never compared). -#}
{%- set scores = {
    'recency': {'value': 'days_since_last_purchase', 'descending': true, 'partition': none},
    'frequency': {'value': 'order_count', 'descending': false, 'partition': none},
    'monetary': {'value': 'lifetime_revenue', 'descending': false, 'partition': 'currency'},
} -%}

with

buyers as (

    select
        profile_id,
        currency,
        {{ cdp.days_before_run_date('last_purchase_at') }} as days_since_last_purchase,
        order_count,
        lifetime_revenue
    from {{ ref('int_profile_traits_aggregated') }}
    where order_count > 0

),

percentiles as (

    select
        profile_id
        {%- for name, score in scores.items() %}
        {%- set group = 'partition by ' ~ score.partition if score.partition else '' %},
        (
            rank() over ({{ group }} order by {{ score.value }}{{ ' desc' if score.descending }}) - 1
            + 0.5 * count(*) over (partition by {{ score.partition ~ ', ' if score.partition }}{{ score.value }})
        ) / count(*) over ({{ group }}) as {{ name }}_percentile
        {%- endfor %}
    from buyers

)

select
    profile_id
    {%- for name in scores %},
    least(5, 1 + cast(floor(5 * {{ name }}_percentile) as {{ dbt.type_int() }})) as rfm_{{ name }}_score
    {%- endfor %}
from percentiles
