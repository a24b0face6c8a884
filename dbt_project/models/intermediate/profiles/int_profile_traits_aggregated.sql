{#- Computed traits per profile from purchases and web activity.
    Purchases: till transactions and web-shop orders. Cancelled orders are left out
    entirely. Returns count: a till return (negative total) and a returned order
    (total counted as 0) make revenue net of returns, while the order counts keep
    the purchase that was later returned (a till return is not a purchase).
    Currency: revenue is summed only over purchases in the profile's main currency
    (the one most of its purchases use; ties: alphabetical), reported in `currency`;
    purchases in other currencies still count as orders. -#}
with

profile_records as (

    select * from {{ ref('int_source_records_profiled') }}

),

store_purchases as (

    select
        profile_records.profile_id,
        'store' as channel,
        transactions.transacted_at as purchased_at,
        transactions.currency,
        transactions.total_amount as revenue,
        not transactions.is_return as is_order
    from {{ ref('stg_pos__transactions') }} as transactions
    inner join profile_records
        on profile_records.source_name = 'pos_transactions'
        and profile_records.record_id = transactions.transaction_id

),

online_purchases as (

    select
        profile_records.profile_id,
        'online' as channel,
        orders.ordered_at as purchased_at,
        orders.currency,
        case when orders.status = 'returned' then 0 else orders.total_amount end as revenue,
        true as is_order
    from {{ ref('stg_ecommerce__orders') }} as orders
    inner join profile_records
        on profile_records.source_name = 'ecommerce_orders'
        and profile_records.record_id = orders.order_id
    where orders.status <> 'cancelled'

),

purchases as (

    select * from store_purchases
    union all
    select * from online_purchases

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
        coalesce(sum(case
            when purchases.channel = 'store' and purchases.currency = main_currencies.currency
                then purchases.revenue
        end), 0) as store_revenue,
        coalesce(sum(case
            when purchases.channel = 'online' and purchases.currency = main_currencies.currency
                then purchases.revenue
        end), 0) as online_revenue,
        sum(case when purchases.channel = 'store' and purchases.is_order then 1 else 0 end) as store_order_count,
        sum(case when purchases.channel = 'online' and purchases.is_order then 1 else 0 end) as online_order_count,
        min(case when purchases.is_order then purchases.purchased_at end) as first_purchase_at,
        max(case when purchases.is_order then purchases.purchased_at end) as last_purchase_at,
        max(case when purchases.channel = 'store' and purchases.is_order then purchases.purchased_at end)
            as last_store_purchase_at,
        max(case when purchases.channel = 'online' and purchases.is_order then purchases.purchased_at end)
            as last_online_purchase_at
    from purchases
    left join main_currencies
        on main_currencies.profile_id = purchases.profile_id
    group by purchases.profile_id, main_currencies.currency

),

web_traits as (

    select
        profile_records.profile_id,
        max(events.occurred_at) as last_web_activity_at
    from {{ ref('stg_web__events') }} as events
    inner join profile_records
        on profile_records.source_name = 'web_events'
        and profile_records.record_id = events.event_id
    group by profile_records.profile_id

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
    coalesce(purchase_traits.store_order_count, 0) as store_order_count,
    coalesce(purchase_traits.online_order_count, 0) as online_order_count,
    purchase_traits.first_purchase_at,
    purchase_traits.last_purchase_at,
    purchase_traits.last_store_purchase_at,
    purchase_traits.last_online_purchase_at,
    web_traits.last_web_activity_at,
    seen_traits.updated_at
from seen_traits
left join purchase_traits
    on purchase_traits.profile_id = seen_traits.profile_id
left join web_traits
    on web_traits.profile_id = seen_traits.profile_id
