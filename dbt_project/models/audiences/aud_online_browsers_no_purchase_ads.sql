{#- Active on the web or app on one of the 7 days ending with the run date, and no purchase
    (store or online) on the 30 days ending with it. -#}
{%- set conditions = [
    {'name': 'active_online_this_week',
     'description': 'a web or app event within the 7 days ending with the run date',
     'sql': 'days_since_last_web_activity < 7'},
    {'name': 'no_recent_purchase',
     'description': 'no purchase, in store or online, within the 30 days ending with the run date',
     'sql': 'days_since_last_purchase is null or days_since_last_purchase >= 30'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
