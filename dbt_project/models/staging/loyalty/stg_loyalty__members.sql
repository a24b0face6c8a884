with

source as (

    select * from {{ source('loyalty', 'loyalty_members') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

latest as (

    {{ cdp.latest_delivered(
        'source', 'loyalty_id', 'updated_at desc, _dt desc, _file desc, _line desc',
        required=['updated_at'],
        optional=['customer_id', 'email', 'phone', 'first_name', 'last_name', 'country', 'tier',
                  'points_balance', 'enrolled_at'],
    ) | indent(4) }}

)

select
    {{ cdp.identifier_columns('loyalty_ids', 'loyalty_id', 'latest.loyalty_id') | indent(4) }},
    {{ cdp.identifier_columns('crm_ids', 'customer_id', 'latest.customer_id') | indent(4) }},
    {{ cdp.identifier_columns('email_ids', 'email', 'latest.email') | indent(4) }},
    {{ cdp.identifier_columns('phone_ids', 'phone', 'latest.phone') | indent(4) }},
    nullif(trim(latest.first_name), '') as first_name,
    nullif(trim(latest.last_name), '') as last_name,
    upper(nullif(trim(latest.country), '')) as country,
    lower(nullif(trim(latest.tier), '')) as tier,
    latest.points_balance,
    latest.enrolled_at,
    latest.updated_at,
    latest._dt as source_dt,
    latest._file as source_file,
    latest._line as source_line

from latest
{{ cdp.join_identifier('loyalty_ids', "'loyalty'", 'latest.loyalty_id') }}
{{ cdp.join_identifier('crm_ids', "'crm'", 'latest.customer_id') }}
{{ cdp.join_identifier('email_ids', "'email'", 'latest.email') }}
{{ cdp.join_identifier('phone_ids', "'phone'", 'latest.phone', "coalesce(latest.country, '')") }}
