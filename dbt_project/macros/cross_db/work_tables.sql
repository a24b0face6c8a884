{#- Scratch tables for iterative algorithms: no durability needed (unlogged on
    Postgres), statistics refreshed so the planner sees the real sizes. -#}

{% macro create_work_table(relation, select_sql) -%}
    {{ return(adapter.dispatch('create_work_table', 'cdp')(relation, select_sql)) }}
{%- endmacro %}

{% macro default__create_work_table(relation, select_sql) -%}
    {% do run_query('drop table if exists ' ~ relation) %}
    {% do run_query('create table ' ~ relation ~ ' as ' ~ select_sql) %}
{%- endmacro %}

{#- One round trip: an iterative algorithm creates dozens of these per run. -#}
{% macro postgres__create_work_table(relation, select_sql) -%}
    {%- set statements -%}
        drop table if exists {{ relation }};
        create unlogged table {{ relation }} as {{ select_sql }}
        ;
        analyze {{ relation }}
    {%- endset -%}
    {% do run_query(statements) %}
{%- endmacro %}

{#- Refreshes the planner's statistics after rows were added to a work table. -#}
{% macro analyze_work_table(relation) -%}
    {{ return(adapter.dispatch('analyze_work_table', 'cdp')(relation)) }}
{%- endmacro %}

{% macro default__analyze_work_table(relation) -%}
{%- endmacro %}

{% macro postgres__analyze_work_table(relation) -%}
    {% do run_query('analyze ' ~ relation) %}
{%- endmacro %}

{% macro drop_work_table(relation) -%}
    {% do cdp.drop_work_tables([relation]) %}
{%- endmacro %}

{% macro drop_work_tables(relations) -%}
    {% do run_query('drop table if exists ' ~ relations | join(', ')) %}
{%- endmacro %}

{#- The first column of the first row of a query, as an integer. -#}
{% macro query_int(sql) -%}
    {%- set value = run_query(sql).columns[0].values()[0] -%}
    {{ return(0 if value is none else value | int) }}
{%- endmacro %}

{#- Every model's post-hook: statistics of the table just built, for the models that read it
    next. Views have none; the stitching materialization keeps its own (a full run analyzes its
    new table, an incremental one changes a small share of it). -#}
{% macro refresh_statistics() -%}
    {{ return(adapter.dispatch('refresh_statistics', 'cdp')()) }}
{%- endmacro %}

{% macro default__refresh_statistics() -%}
{%- endmacro %}

{% macro postgres__refresh_statistics() -%}
    {%- if config.get('materialized') in ('table', 'incremental') -%}analyze {{ this }}{%- endif -%}
{%- endmacro %}
