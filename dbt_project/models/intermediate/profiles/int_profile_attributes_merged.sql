{#- Merge policy (simple, for now): per attribute, the first non-null value from the
    profile's latest CRM record, then its latest loyalty record, then its latest web-shop
    order ("latest" = latest updated_at within the source, ties by record id), then,
    for identifiers, the profile's most recently seen identity of that namespace. -#}
with

profile_records as (

    select * from {{ ref('int_source_records_profiled') }}

),

crm_latest as (

    select
        profile_records.profile_id,
        customers.customer_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country,
        row_number() over (
            partition by profile_records.profile_id
            order by customers.updated_at desc, customers.customer_id_raw
        ) as recency_rank
    from {{ ref('stg_crm__customers') }} as customers
    inner join profile_records
        on profile_records.source_name = 'crm_customers'
        and profile_records.record_id = customers.customer_id_raw
    where not customers.is_deleted

),

loyalty_latest as (

    select
        profile_records.profile_id,
        members.loyalty_id,
        members.email,
        members.phone,
        members.first_name,
        members.last_name,
        members.country,
        members.tier,
        members.points_balance,
        row_number() over (
            partition by profile_records.profile_id
            order by members.updated_at desc, members.loyalty_id_raw
        ) as recency_rank
    from {{ ref('stg_loyalty__members') }} as members
    inner join profile_records
        on profile_records.source_name = 'loyalty_members'
        and profile_records.record_id = members.loyalty_id_raw

),

webshop_latest as (

    select
        profile_records.profile_id,
        orders.email,
        orders.phone,
        orders.shipping_country as country,
        row_number() over (
            partition by profile_records.profile_id
            order by coalesce(orders.updated_at, orders.ordered_at) desc, orders.order_id
        ) as recency_rank
    from {{ ref('stg_ecommerce__orders') }} as orders
    inner join profile_records
        on profile_records.source_name = 'ecommerce_orders'
        and profile_records.record_id = orders.order_id

),

identities_latest as (

    select
        profile_id,
        namespace,
        identity_value,
        row_number() over (
            partition by profile_id, namespace
            order by last_seen_at desc, {{ cdp.bytewise('identity_value') }}
        ) as recency_rank
    from {{ ref('identity_map') }}

),

identity_fallbacks as (

    select
        profile_id,
        max(case when namespace = 'crm' then identity_value end) as crm_id,
        max(case when namespace = 'loyalty' then identity_value end) as loyalty_id,
        max(case when namespace = 'email' then identity_value end) as email,
        max(case when namespace = 'phone' then identity_value end) as phone
    from identities_latest
    where recency_rank = 1
    group by profile_id

),

profiles as (

    select distinct profile_id from {{ ref('identity_map') }}

)

select
    profiles.profile_id,
    coalesce(crm.customer_id, fallback.crm_id) as crm_id,
    coalesce(loyalty.loyalty_id, fallback.loyalty_id) as loyalty_id,
    coalesce(crm.email, loyalty.email, webshop.email, fallback.email) as email,
    coalesce(crm.phone, loyalty.phone, webshop.phone, fallback.phone) as phone,
    coalesce(crm.first_name, loyalty.first_name) as first_name,
    coalesce(crm.last_name, loyalty.last_name) as last_name,
    coalesce(crm.country, loyalty.country, webshop.country) as country,
    loyalty.tier as loyalty_tier,
    loyalty.points_balance
from profiles
left join crm_latest as crm
    on crm.profile_id = profiles.profile_id and crm.recency_rank = 1
left join loyalty_latest as loyalty
    on loyalty.profile_id = profiles.profile_id and loyalty.recency_rank = 1
left join webshop_latest as webshop
    on webshop.profile_id = profiles.profile_id and webshop.recency_rank = 1
left join identity_fallbacks as fallback
    on fallback.profile_id = profiles.profile_id
