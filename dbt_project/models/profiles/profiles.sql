select
    attributes.profile_id,
    attributes.crm_id,
    attributes.loyalty_id,
    attributes.email,
    attributes.phone,
    attributes.first_name,
    attributes.last_name,
    attributes.country,
    traits.currency,
    traits.store_revenue,
    traits.online_revenue,
    traits.store_order_count,
    traits.online_order_count,
    traits.first_purchase_at,
    traits.last_purchase_at,
    traits.last_store_purchase_at,
    traits.last_online_purchase_at,
    traits.last_web_activity_at,
    attributes.loyalty_tier,
    attributes.points_balance,
    traits.updated_at
from {{ ref('int_profile_attributes_merged') }} as attributes
inner join {{ ref('int_profile_traits_aggregated') }} as traits
    on traits.profile_id = attributes.profile_id
