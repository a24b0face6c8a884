{#- The logical date of the run, var `run_date` ('YYYY-MM-DD'). Transformations use
    these macros instead of now()/current_date so that a build is a pure function of
    the raw data and the run date. -#}

{% macro run_date() -%}
    {%- set value = var('run_date') | string -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value) -%}
        {{ exceptions.raise_compiler_error("var run_date must be 'YYYY-MM-DD', got '" ~ value ~ "'") }}
    {%- endif -%}
    {{- return(modules.datetime.datetime.strptime(value, '%Y-%m-%d').date()) -}}
{%- endmacro %}

{#- The run date as a SQL date literal. -#}
{% macro run_date_literal() -%}
    cast('{{ cdp.run_date().isoformat() }}' as date)
{%- endmacro %}

{#- Midnight UTC of the day `offset_days` after the run date, as a timestamp-with-time-zone
    literal. run_day_start(1) is the end of the run date. -#}
{% macro run_day_start(offset_days=0) -%}
    {%- set day = cdp.run_date() + modules.datetime.timedelta(days=offset_days) -%}
    {{ cdp.utc_timestamp_literal(day.isoformat() ~ ' 00:00:00') }}
{%- endmacro %}

{#- True when `column` falls on one of the `days` calendar days (UTC) that end with the
    run date: [run_date - days + 1, run_date + 1). -#}
{% macro within_days_of_run_date(column, days) -%}
    ({{ column }} >= {{ cdp.run_day_start(1 - days) }} and {{ column }} < {{ cdp.run_day_start(1) }})
{%- endmacro %}
