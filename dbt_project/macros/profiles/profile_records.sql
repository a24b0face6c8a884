{#- Joins a staging model's records to the profile each is stitched into, as `profile_records`
    (int_source_records_profiled). The table is joined where it is used, never through a shared
    CTE: Postgres materializes a CTE used twice and then misjudges its size badly. -#}
{% macro join_profile_records(source_name, record_id_sql) -%}
    inner join {{ ref('int_source_records_profiled') }} as profile_records
        on profile_records.source_name = '{{ source_name }}'
        and profile_records.record_id = {{ record_id_sql }}
{%- endmacro %}

{#- Pre-hook of the models that join records to profiles. The staging views deduplicate with
    row_number(), which Postgres estimates at a handful of rows: the planner then picks nested
    loops that scan the record table once per staging row (seconds for a thousand customers,
    hours for a million). Hash joins make these set-wide joins linear. (The record table's own
    statistics come from the post-hook every table model has, cdp.refresh_statistics.) -#}
{% macro profile_records_join_hints() -%}
    {{ return(adapter.dispatch('profile_records_join_hints', 'cdp')()) }}
{%- endmacro %}

{% macro default__profile_records_join_hints() -%}
{%- endmacro %}

{% macro postgres__profile_records_join_hints() -%}
    set local enable_nestloop = off
{%- endmacro %}
