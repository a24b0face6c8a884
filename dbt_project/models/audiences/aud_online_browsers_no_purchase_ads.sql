{#- People active on the web or app on one of the 7 days ending with run_date who
    bought nothing (store or online) on the 30 days ending with run_date.
    No consent filter here: activation withholds members without ad_targeting
    consent and logs why. -#}
select
    profile_id,
    email,
    phone,
    first_name,
    last_name,
    country,
    last_web_activity_at,
    last_purchase_at
from {{ ref('profiles') }}
where {{ cdp.within_days_of_run_date('last_web_activity_at', 7) }}
    and not coalesce({{ cdp.within_days_of_run_date('last_purchase_at', 30) }}, false)
