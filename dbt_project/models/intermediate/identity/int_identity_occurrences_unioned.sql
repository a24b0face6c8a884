{#- Every identity value present on every current source record that can link
    identities. Consent and privacy subjects are not here: they never create
    identities or links (they are resolved against the finished identity map).
    Deleted CRM customers are left out: the record no longer exists in the CRM.
    node_id is the identity's stable 64-bit key (cdp.identity_node_id), null when rejected. -#}
{%- set record_sources = [
    {'model': 'stg_crm__customers', 'source': 'crm_customers', 'record_id': 'customer_id_raw',
     'seen_at': 'updated_at', 'where': 'not is_deleted',
     'identities': [('customer_id', 'crm'), ('email', 'email'), ('phone', 'phone')]},
    {'model': 'stg_loyalty__members', 'source': 'loyalty_members', 'record_id': 'loyalty_id_raw',
     'seen_at': 'updated_at', 'where': none,
     'identities': [('loyalty_id', 'loyalty'), ('customer_id', 'crm'), ('email', 'email'), ('phone', 'phone')]},
    {'model': 'stg_pos__transactions', 'source': 'pos_transactions', 'record_id': 'transaction_id',
     'seen_at': 'transacted_at', 'where': none,
     'identities': [('loyalty_id', 'loyalty'), ('receipt_email', 'email')]},
    {'model': 'stg_ecommerce__orders', 'source': 'ecommerce_orders', 'record_id': 'order_id',
     'seen_at': 'ordered_at', 'where': none,
     'identities': [('customer_id', 'crm'), ('email', 'email'), ('phone', 'phone'), ('ecid', 'ecid')]},
    {'model': 'stg_web__events', 'source': 'web_events', 'record_id': 'event_id',
     'seen_at': 'occurred_at', 'where': none,
     'identities': [('ecid', 'ecid'), ('customer_id', 'crm'), ('email', 'email')]},
] -%}

with

{% for spec in record_sources %}
{{ spec.source }} as (

    {#- One pass over the staging model (a view: every reference would recompute it), one row per
        identity column through a lateral list. -#}
    select
        '{{ spec.source }}' as source_name,
        records.{{ spec.record_id }} as record_id,
        occurrence.source_column,
        occurrence.namespace,
        occurrence.identity_value,
        case
            when occurrence.identity_value is not null
                then {{ cdp.identity_node_id('occurrence.namespace', 'occurrence.identity_value') }}
        end as node_id,
        occurrence.rejection_reason,
        case
            when occurrence.rejection_reason is not null
                then {{ cdp.rejected_identity_value('occurrence.namespace', 'occurrence.raw_value') }}
        end as rejected_value,
        records.{{ spec.seen_at }} as seen_at
    from {{ ref(spec.model) }} as records
    cross join lateral (
        values
        {%- for column, namespace in spec.identities %}
            ('{{ column }}', '{{ namespace }}', records.{{ column }}, records.{{ column }}_rejection, records.{{ column }}_raw)
            {{- ',' if not loop.last }}
        {%- endfor %}
    ) as occurrence (source_column, namespace, identity_value, rejection_reason, raw_value)
    where (occurrence.identity_value is not null or occurrence.rejection_reason is not null)
        {%- if spec.where %}
        and {{ spec.where }}
        {%- endif %}

),
{% endfor %}

unioned as (

    {%- for spec in record_sources %}
    select * from {{ spec.source }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select * from unioned
