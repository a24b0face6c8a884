{#- A table: many models and tests read it (see staging in dbt_project.yml). -#}
{{ config(materialized='table') }}

with

source as (

    select
        *,
        {{ cdp.subject_namespace('subject_type') }} as subject_namespace,
        {{ dbt.hash(dbt.concat([
            "coalesce(subject_type, '')", "'|'",
            "coalesce(subject_value, '')", "'|'",
            "coalesce(purpose, '')", "'|'",
            "coalesce(status, '')", "'|'",
            "coalesce(" ~ cdp.utc_timestamp_text('collected_at') ~ ", '')", "'|'",
            "coalesce(source, '')",
        ])) }} as consent_event_id
    from {{ source('consent', 'consent_events') }}
    where _dt <= {{ cdp.run_date_literal() }}

),

first_landing as (

    {{ cdp.one_row_per_key('source', 'consent_event_id', '_dt, _file, _line') | indent(4) }}

)

select
    first_landing.consent_event_id,
    first_landing.subject_type,
    first_landing.subject_namespace,
    {{ cdp.identifier_columns('subject_ids', 'subject_value', 'first_landing.subject_value') | indent(4) }},
    first_landing.purpose,
    first_landing.status,
    first_landing.collected_at,
    nullif(trim(first_landing.source), '') as source,
    first_landing._dt as source_dt,
    first_landing._file as source_file,
    first_landing._line as source_line

from first_landing
{{ cdp.join_identifier('subject_ids', 'first_landing.subject_namespace', 'first_landing.subject_value') }}
