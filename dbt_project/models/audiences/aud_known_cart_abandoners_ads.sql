{#- Known customers (a CRM or loyalty id) that ad platforms can match (an email or a phone),
    who added to cart or started a checkout on the run date or the day before and have not
    bought since: retargeted on ad and social platforms. -#}
{%- set conditions = [
    {'name': 'known_customer',
     'description': 'has a CRM customer id or a loyalty member id',
     'sql': 'crm_id is not null or loyalty_id is not null'},
    {'name': 'matchable',
     'description': 'has an email or a phone for the platforms to match',
     'sql': 'email is not null or phone is not null'},
    {'name': 'recent_cart',
     'description': 'an add-to-cart or checkout start on the run date or the day before',
     'sql': 'days_since_last_cart_activity < 2'},
    {'name': 'not_bought_since',
     'description': 'no purchase, in store or online, after that cart activity',
     'sql': 'last_purchase_at is null or last_purchase_at < last_cart_activity_at'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
