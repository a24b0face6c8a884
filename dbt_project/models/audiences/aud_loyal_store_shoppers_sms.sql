{#- Gold and platinum loyalty members who bought in a store within the last 180 days: texted
    about in-store events. -#}
{%- set conditions = [
    {'name': 'top_loyalty_tier',
     'description': 'loyalty tier gold or platinum',
     'sql': "loyalty_tier in ('gold', 'platinum')"},
    {'name': 'store_shopper',
     'description': 'bought in a store within the 180 days ending with the run date',
     'sql': 'days_since_last_store_purchase < 180'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
