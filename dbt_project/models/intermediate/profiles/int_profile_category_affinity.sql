{#- One row per profile and product category it bought or browsed in the 90 days ending with the
    run date. affinity_score = 3 x items bought online (orders neither cancelled nor returned)
    + 2 x add-to-cart events + 1 x product views; affinity_rank 1 is the profile's top category
    (ties: the more recent interaction, then the category name). Till receipts carry no
    categories. -#}
{{ config(pre_hook="{{ cdp.profile_records_join_hints() }}") }}
{%- set window_days = 90 -%}

with

bought as (

    select
        profile_records.profile_id,
        lower(trim({{ cdp.json_text('item.value', 'category') }})) as category,
        coalesce(cast({{ cdp.json_text('item.value', 'quantity') }} as {{ dbt.type_int() }}), 1) as items_bought,
        0 as cart_adds,
        0 as product_views,
        orders.ordered_at as interacted_at
    from {{ ref('stg_ecommerce__orders') }} as orders
    {{ cdp.profiles_json_array_elements('orders.items', 'item') }}
    {{ cdp.join_profile_records('ecommerce_orders', 'orders.order_id') }}
    where orders.status not in ('cancelled', 'returned')
        and {{ cdp.within_days_of_run_date('orders.ordered_at', window_days) }}

),

browsed as (

    select
        profile_records.profile_id,
        lower(trim({{ cdp.json_text('events.properties', 'category') }})) as category,
        0 as items_bought,
        case when events.event_type = 'add_to_cart' then 1 else 0 end as cart_adds,
        case when events.event_type = 'product_view' then 1 else 0 end as product_views,
        events.occurred_at as interacted_at
    from {{ ref('stg_web__events') }} as events
    {{ cdp.join_profile_records('web_events', 'events.event_id') }}
    where events.event_type in ('product_view', 'add_to_cart')
        and {{ cdp.within_days_of_run_date('events.occurred_at', window_days) }}

),

interactions as (

    select * from bought
    union all
    select * from browsed

),

per_category as (

    select
        profile_id,
        category,
        sum(items_bought) as items_bought,
        sum(cart_adds) as cart_adds,
        sum(product_views) as product_views,
        3 * sum(items_bought) + 2 * sum(cart_adds) + sum(product_views) as affinity_score,
        max(interacted_at) as last_interacted_at
    from interactions
    where category is not null and category <> ''
    group by profile_id, category

)

select
    *,
    row_number() over (
        partition by profile_id
        order by affinity_score desc, last_interacted_at desc, {{ cdp.bytewise('category') }}
    ) as affinity_rank
from per_category
