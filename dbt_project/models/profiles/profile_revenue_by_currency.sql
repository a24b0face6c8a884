{#- Purchases per profile, channel and currency, amounts never converted: what
    profiles.profiles leaves out of revenue when a profile paid in more than one currency. -#}
select
    profile_id,
    channel,
    currency,
    sum(case when is_order then 1 else 0 end) as order_count,
    sum(amount) as net_revenue,
    sum(returned_amount) as returned_amount
from {{ ref('int_profile_purchases_unioned') }}
where currency is not null
group by profile_id, channel, currency
