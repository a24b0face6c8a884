{#- Bought in a store on one of the 90 days ending with the run date. No consent or email
    filter here: activation withholds members without email_marketing consent or an email,
    and logs why. -#}
{%- set conditions = [
    {'name': 'bought_in_store_recently',
     'description': 'bought in a store within the 90 days ending with the run date',
     'sql': 'days_since_last_store_purchase < 90'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
