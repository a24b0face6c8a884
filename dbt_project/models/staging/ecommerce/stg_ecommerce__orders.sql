with

source as (

    select * from {{ source('ecommerce', 'ecommerce_orders') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

latest as (

    select
        *,
        {{ cdp.json_text('shipping_address', 'country') }} as shipping_country_raw
    from (
        {{ cdp.latest_delivered(
            'source', 'order_id', 'coalesce(updated_at, ordered_at) desc, _dt desc, _file desc, _line desc',
            required=['ordered_at', 'status'],
            optional=['customer_id', 'email', 'phone', 'updated_at', 'currency', 'total_amount', 'ecid',
                      'shipping_address', 'items'],
        ) | indent(8) }}
    ) as delivered_versions

)

select
    latest.order_id,
    {{ cdp.identifier_columns('crm_ids', 'customer_id', 'latest.customer_id') | indent(4) }},
    {{ cdp.identifier_columns('email_ids', 'email', 'latest.email') | indent(4) }},
    {{ cdp.identifier_columns('phone_ids', 'phone', 'latest.phone') | indent(4) }},
    {{ cdp.identifier_columns('ecid_ids', 'ecid', 'latest.ecid') | indent(4) }},
    latest.ordered_at,
    latest.updated_at,
    lower(trim(latest.status)) as status,
    upper(nullif(trim(latest.currency), '')) as currency,
    latest.total_amount,
    upper(nullif(trim(latest.shipping_country_raw), '')) as shipping_country,
    latest.shipping_address,
    latest.items,
    latest._dt as source_dt,
    latest._file as source_file,
    latest._line as source_line

from latest
{{ cdp.join_identifier('crm_ids', "'crm'", 'latest.customer_id') }}
{{ cdp.join_identifier('email_ids', "'email'", 'latest.email') }}
{{ cdp.join_identifier('phone_ids', "'phone'", 'latest.phone', "coalesce(latest.shipping_country_raw, '')") }}
{{ cdp.join_identifier('ecid_ids', "'ecid'", 'latest.ecid') }}
