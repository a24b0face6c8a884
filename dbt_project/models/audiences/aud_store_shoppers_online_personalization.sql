{#- Offline customers (loyalty members or store buyers) browsing online in the last 30 days:
    the web shop greets them with their loyalty tier, preferred store and top category. -#}
{%- set conditions = [
    {'name': 'offline_customer',
     'description': 'a loyalty member or a store buyer',
     'sql': 'loyalty_tier is not null or store_order_count > 0'},
    {'name': 'browsing_online',
     'description': 'a web or app event within the 30 days ending with the run date',
     'sql': 'days_since_last_web_activity < 30'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
