with

source as (

    select
        *,
        {{ cdp.subject_namespace('subject_type') }} as subject_namespace
    from {{ source('privacy', 'privacy_requests') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

latest as (

    {{ cdp.one_row_per_key('source', 'request_id', '_dt desc, _file desc, _line desc') | indent(4) }}

)

select
    latest.request_id,
    latest.request_type,
    latest.subject_type,
    latest.subject_namespace,
    {{ cdp.identifier_columns('subject_ids', 'subject_value', 'latest.subject_value') | indent(4) }},
    latest.received_at,
    latest._dt as source_dt,
    latest._file as source_file,
    latest._line as source_line

from latest
{{ cdp.join_identifier('subject_ids', 'latest.subject_namespace', 'latest.subject_value') }}
