{#- Lapsed high-value customers: frequent and big spenders (frequency plus monetary score of 7
    or more out of 10) with no purchase, in store or online, for 45 days or more. For a
    win-back email. -#}
{%- set conditions = [
    {'name': 'high_value',
     'description': 'frequency score + monetary score >= 7 (monetary compared within the currency)',
     'sql': 'rfm_frequency_score + rfm_monetary_score >= 7'},
    {'name': 'lapsed',
     'description': 'last purchase, in store or online, 45 days or more before the run date',
     'sql': 'days_since_last_purchase >= 45'},
] -%}
{{ config(meta={'conditions': conditions}) }}
{{ cdp.audience_members(conditions) }}
