{#- People who bought in a store on one of the 90 days ending with run_date.
    No consent filter here: activation withholds members without email_marketing
    consent (or without an email) and logs why. -#}
select
    profile_id,
    email,
    phone,
    first_name,
    last_name,
    country,
    last_store_purchase_at
from {{ ref('profiles') }}
where {{ cdp.within_days_of_run_date('last_store_purchase_at', 90) }}
