{#- One row per purchase or return of a profile up to the end of the run date: till
    transactions (channel store) and web-shop orders (channel online), wherever and whenever
    they landed (a late receipt counts once it has landed). Cancelled orders are left out.
    amount is what the record adds to net revenue: the till total (negative for a till return),
    the order total, or 0 for an order later returned. returned_amount is the value given back
    (a till return's amount, a returned order's total). A till return is not an order. -#}
{{ config(pre_hook="{{ cdp.profile_records_join_hints() }}") }}
with

store as (

    select
        profile_records.profile_id,
        'pos_transactions' as source_name,
        transactions.transaction_id as record_id,
        'store' as channel,
        transactions.transacted_at as purchased_at,
        transactions.currency,
        transactions.total_amount as amount,
        case when transactions.is_return then -transactions.total_amount else 0 end as returned_amount,
        not transactions.is_return as is_order,
        transactions.is_return,
        transactions.store_id
    from {{ ref('stg_pos__transactions') }} as transactions
    {{ cdp.join_profile_records('pos_transactions', 'transactions.transaction_id') }}

),

online as (

    select
        profile_records.profile_id,
        'ecommerce_orders' as source_name,
        orders.order_id as record_id,
        'online' as channel,
        orders.ordered_at as purchased_at,
        orders.currency,
        case when orders.status = 'returned' then 0 else orders.total_amount end as amount,
        case when orders.status = 'returned' then orders.total_amount else 0 end as returned_amount,
        true as is_order,
        orders.status = 'returned' as is_return,
        cast(null as {{ dbt.type_string() }}) as store_id
    from {{ ref('stg_ecommerce__orders') }} as orders
    {{ cdp.join_profile_records('ecommerce_orders', 'orders.order_id') }}
    where orders.status <> 'cancelled'

),

purchases as (

    select * from store
    union all
    select * from online

)

select * from purchases
where purchased_at < {{ cdp.run_day_start(1) }}
