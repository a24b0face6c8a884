with

source as (

    select * from {{ source('web', 'web_events') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

landings as (

    select
        *,
        row_number() over (
            partition by event_id
            order by _dt, _file, _line
        ) as landing_rank
    from source

),

first_landing as (

    select * from landings
    where landing_rank = 1

)

select
    first_landing.event_id,
    first_landing.event_type,
    first_landing.occurred_at,
    {{ cdp.identifier_columns('ecid_ids', 'ecid', 'first_landing.ecid') | indent(4) }},
    {{ cdp.identifier_columns('crm_ids', 'customer_id', 'first_landing.customer_id') | indent(4) }},
    {{ cdp.identifier_columns('email_ids', 'email', 'first_landing.email') | indent(4) }},
    first_landing.properties,
    first_landing._dt as source_dt,
    first_landing._file as source_file,
    first_landing._line as source_line

from first_landing
{{ cdp.join_identifier('ecid_ids', "'ecid'", 'first_landing.ecid') }}
{{ cdp.join_identifier('crm_ids', "'crm'", 'first_landing.customer_id') }}
{{ cdp.join_identifier('email_ids', "'email'", 'first_landing.email') }}
