{#- Recording audience membership once per run date (models/audiences/membership). -#}

{#- True while no run date later than the run's is recorded in `runs` (membership_runs): the
    run may (re)write its own date. Over a backfill of an earlier date it is false. -#}
{% macro membership_run_is_latest(runs) -%}
    not exists (select 1 from {{ runs }} where run_date > {{ cdp.run_date_literal() }})
{%- endmacro %}

{#- Pre-hook of the history tables: delete what an earlier run of the same date wrote, unless a
    later date is recorded already. Nothing to do before the table exists. -#}
{% macro delete_current_membership_run(relation, runs) -%}
    {%- if is_incremental() -%}
        delete from {{ relation }}
        where run_date = {{ cdp.run_date_literal() }}
            and {{ cdp.membership_run_is_latest(runs) }}
    {%- endif -%}
{%- endmacro %}
