{#- Computed traits per profile, as of the end of the run date.
    Currency: amounts are never added across currencies. Revenue, average order value and
    returned amount are in the profile's main currency (`currency`: the one most of its
    purchases use; ties alphabetical); purchases in other currencies still count as orders and
    are counted in other_currency_order_count (their amounts: profile_revenue_by_currency).
    Revenue is net of returns; order counts include orders later returned and exclude till
    returns and cancelled orders (int_profile_purchases_unioned). -#}
{{ config(pre_hook="{{ cdp.profile_records_join_hints() }}") }}
with

purchases as (

    select * from {{ ref('int_profile_purchases_unioned') }}

),

currency_ranks as (

    select
        profile_id,
        currency,
        row_number() over (
            partition by profile_id
            order by count(*) desc, {{ cdp.bytewise('currency') }}
        ) as currency_rank
    from purchases
    where currency is not null
    group by profile_id, currency

),

main_currencies as (

    select profile_id, currency
    from currency_ranks
    where currency_rank = 1

),

purchase_traits as (

    select
        purchases.profile_id,
        main_currencies.currency,
        {%- for channel in ['store', 'online'] %}
        coalesce(sum(case
            when purchases.channel = '{{ channel }}' and purchases.currency = main_currencies.currency
                then purchases.amount
        end), 0) as {{ channel }}_revenue,
        sum(case when purchases.channel = '{{ channel }}' and purchases.is_order then 1 else 0 end)
            as {{ channel }}_order_count,
        max(case when purchases.channel = '{{ channel }}' and purchases.is_order then purchases.purchased_at end)
            as last_{{ channel }}_purchase_at,
        {%- endfor %}
        sum(case
            when purchases.is_order and purchases.currency = main_currencies.currency then 1 else 0
        end) as main_currency_order_count,
        sum(case
            when purchases.is_order and coalesce(purchases.currency <> main_currencies.currency, true) then 1 else 0
        end) as other_currency_order_count,
        sum(case when purchases.is_return then 1 else 0 end) as return_count,
        coalesce(sum(case
            when purchases.currency = main_currencies.currency then purchases.returned_amount
        end), 0) as returned_amount,
        min(case when purchases.is_order then purchases.purchased_at end) as first_purchase_at,
        max(case when purchases.is_order then purchases.purchased_at end) as last_purchase_at
    from purchases
    left join main_currencies
        on main_currencies.profile_id = purchases.profile_id
    group by purchases.profile_id, main_currencies.currency

),

store_visits as (

    select
        profile_id,
        store_id,
        row_number() over (
            partition by profile_id
            order by count(*) desc, max(purchased_at) desc, {{ cdp.bytewise('store_id') }}
        ) as store_rank
    from purchases
    where channel = 'store' and is_order and store_id is not null
    group by profile_id, store_id

),

web_traits as (

    select
        profile_records.profile_id,
        max(events.occurred_at) as last_web_activity_at,
        max(case when events.event_type in ('add_to_cart', 'checkout_start') then events.occurred_at end)
            as last_cart_activity_at
    from {{ ref('stg_web__events') }} as events
    {{ cdp.join_profile_records('web_events', 'events.event_id') }}
    where events.occurred_at < {{ cdp.run_day_start(1) }}
    group by profile_records.profile_id

),

top_categories as (

    select profile_id, category
    from {{ ref('int_profile_category_affinity') }}
    where affinity_rank = 1

),

seen_traits as (

    select
        profile_id,
        max(last_seen_at) as updated_at
    from {{ ref('identity_map') }}
    group by profile_id

)

select
    seen_traits.profile_id,
    purchase_traits.currency,
    coalesce(purchase_traits.store_revenue, 0) as store_revenue,
    coalesce(purchase_traits.online_revenue, 0) as online_revenue,
    coalesce(purchase_traits.store_revenue + purchase_traits.online_revenue, 0) as lifetime_revenue,
    coalesce(purchase_traits.store_order_count, 0) as store_order_count,
    coalesce(purchase_traits.online_order_count, 0) as online_order_count,
    coalesce(purchase_traits.store_order_count + purchase_traits.online_order_count, 0) as order_count,
    coalesce(purchase_traits.other_currency_order_count, 0) as other_currency_order_count,
    case
        when purchase_traits.main_currency_order_count > 0
            then round(
                (purchase_traits.store_revenue + purchase_traits.online_revenue)
                / purchase_traits.main_currency_order_count, 2
            )
    end as average_order_value,
    coalesce(purchase_traits.return_count, 0) as return_count,
    coalesce(purchase_traits.returned_amount, 0) as returned_amount,
    purchase_traits.first_purchase_at,
    purchase_traits.last_purchase_at,
    purchase_traits.last_store_purchase_at,
    purchase_traits.last_online_purchase_at,
    store_visits.store_id as preferred_store_id,
    top_categories.category as top_category,
    web_traits.last_web_activity_at,
    web_traits.last_cart_activity_at,
    seen_traits.updated_at
from seen_traits
left join purchase_traits
    on purchase_traits.profile_id = seen_traits.profile_id
left join store_visits
    on store_visits.profile_id = seen_traits.profile_id
    and store_visits.store_rank = 1
left join web_traits
    on web_traits.profile_id = seen_traits.profile_id
left join top_categories
    on top_categories.profile_id = seen_traits.profile_id
