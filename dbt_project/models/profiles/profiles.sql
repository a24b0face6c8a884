{#- One row per person: merged attributes (merge policy), computed traits, RFM scores, and
    day counts relative to the run date for audience conditions. -#}
with

attributes as (

    select * from {{ ref('int_profile_attributes_merged') }}

),

traits as (

    select * from {{ ref('int_profile_traits_aggregated') }}

),

rfm as (

    select * from {{ ref('int_profile_rfm_scored') }}

)

select
    attributes.profile_id,
    {%- for column in cdp.profile_attribute_columns() %}
    attributes.{{ column.name }},
    {%- endfor %}
    traits.currency,
    traits.store_revenue,
    traits.online_revenue,
    traits.lifetime_revenue,
    traits.store_order_count,
    traits.online_order_count,
    traits.order_count,
    traits.other_currency_order_count,
    traits.average_order_value,
    traits.return_count,
    traits.returned_amount,
    traits.first_purchase_at,
    traits.last_purchase_at,
    traits.last_store_purchase_at,
    traits.last_online_purchase_at,
    traits.preferred_store_id,
    traits.top_category,
    traits.last_web_activity_at,
    traits.last_cart_activity_at,
    rfm.rfm_recency_score,
    rfm.rfm_frequency_score,
    rfm.rfm_monetary_score,
    {%- for event in ['purchase', 'store_purchase', 'online_purchase', 'web_activity', 'cart_activity'] %}
    {{ cdp.days_before_run_date('traits.last_' ~ event ~ '_at') }} as days_since_last_{{ event }},
    {%- endfor %}
    traits.updated_at
from attributes
inner join traits
    on traits.profile_id = attributes.profile_id
left join rfm
    on rfm.profile_id = attributes.profile_id
