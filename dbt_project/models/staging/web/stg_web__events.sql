{#- A table: many models and tests read it (see staging in dbt_project.yml). -#}
{{ config(materialized='table') }}

with

source as (

    select * from {{ source('web', 'web_events') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

first_landing as (

    {{ cdp.one_row_per_key('source', 'event_id', '_dt, _file, _line') | indent(4) }}

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
