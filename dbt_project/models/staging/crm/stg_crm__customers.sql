with

source as (

    select * from {{ source('crm', 'crm_customers') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

latest as (

    {{ cdp.latest_delivered(
        'source', 'customer_id', 'updated_at desc, _dt desc, _file desc, _line desc',
        required=['updated_at'],
        optional=['email', 'phone', 'first_name', 'last_name', 'birth_date', 'gender', 'address_line1',
                  'city', 'region', 'postal_code', 'country', 'created_at', 'is_deleted'],
    ) | indent(4) }}

)

select
    {{ cdp.identifier_columns('crm_ids', 'customer_id', 'latest.customer_id') | indent(4) }},
    {{ cdp.identifier_columns('email_ids', 'email', 'latest.email') | indent(4) }},
    {{ cdp.identifier_columns('phone_ids', 'phone', 'latest.phone') | indent(4) }},
    nullif(trim(latest.first_name), '') as first_name,
    nullif(trim(latest.last_name), '') as last_name,
    latest.birth_date,
    nullif(trim(latest.gender), '') as gender,
    nullif(trim(latest.address_line1), '') as address_line1,
    nullif(trim(latest.city), '') as city,
    nullif(trim(latest.region), '') as region,
    nullif(trim(latest.postal_code), '') as postal_code,
    upper(nullif(trim(latest.country), '')) as country,
    latest.created_at,
    latest.updated_at,
    coalesce(latest.is_deleted, false) as is_deleted,
    latest._dt as source_dt,
    latest._file as source_file,
    latest._line as source_line

from latest
{{ cdp.join_identifier('crm_ids', "'crm'", 'latest.customer_id') }}
{{ cdp.join_identifier('email_ids', "'email'", 'latest.email') }}
{{ cdp.join_identifier('phone_ids', "'phone'", 'latest.phone', "coalesce(latest.country, '')") }}
