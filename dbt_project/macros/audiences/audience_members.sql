{#- Audiences as code. An audience model names its conditions (SQL over the columns of
    profiles.profiles, all of which must hold) and selects its members through this macro:

        {%- set conditions = [
            {'name': 'bought_in_store_recently', 'sql': 'days_since_last_store_purchase < 90'},
        ] -%}
        {{ config(meta={'conditions': conditions}) }}
        {{ cdp.audience_members(conditions) }}

    The members are the profiles for which every condition is true (null counts as false),
    with the profile columns the conditions read: the values that decided. The conditions
    also land in the model's meta, where `cdp audience explain` reads them, and so do the
    columns they read (meta.condition_columns, set here at parse time): governance checks
    the labels of those columns against the activations of the audience. The YAML meta
    must say description, owner, purpose, refresh and `uses`, the profile columns the
    audience may read: a condition reading any other column fails the build. -#}
{% macro audience_members(conditions) -%}
    {%- set columns = cdp.audience_condition_columns(conditions) -%}
    {%- do config(meta={'condition_columns': columns}) -%}
    {%- if execute and model.resource_type == 'model' -%}
        {% do cdp.check_audience_meta(model, columns) %}
    {%- endif %}
select
    profile_id
    {%- for column in columns %},
    {{ column }}
    {%- endfor %}
from {{ ref('profiles') }}
where
    {%- for condition in conditions %}
    {{ 'and ' if not loop.first }}coalesce(({{ condition.sql }}), false)
    {%- endfor %}
{%- endmacro %}

{#- The column names a list of conditions reads, in order of appearance: the identifiers of
    their SQL that are neither keywords nor function names nor inside string literals. -#}
{% macro audience_condition_columns(conditions) -%}
    {%- set keywords = ['and', 'or', 'not', 'is', 'null', 'in', 'between', 'like', 'ilike', 'true', 'false',
                        'case', 'when', 'then', 'else', 'end', 'as', 'date', 'interval', 'distinct'] -%}
    {%- set columns = [] -%}
    {%- for condition in conditions -%}
        {%- set code = modules.re.sub("'[^']*'", "''", condition.sql | lower) -%}
        {%- for name, call in modules.re.findall('([a-z_][a-z0-9_]*)\\s*(\\()?', code) -%}
            {%- if not call and name not in keywords and name not in columns -%}
                {%- do columns.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{#- The audience's YAML meta is complete and its conditions read only the columns it may use. -#}
{% macro check_audience_meta(node, columns) -%}
    {%- set meta = node.config.meta -%}
    {%- set where = "audience " ~ node.name ~ ": " -%}
    {%- for key in ['description', 'owner', 'purpose', 'refresh', 'uses', 'conditions'] if not meta.get(key) -%}
        {{ exceptions.raise_compiler_error(where ~ "meta." ~ key ~ " is missing") }}
    {%- endfor -%}
    {%- if meta.purpose not in cdp.consent_purposes() -%}
        {{ exceptions.raise_compiler_error(where ~ "meta.purpose must be one of " ~ cdp.consent_purposes() | join(', ')) }}
    {%- endif -%}
    {%- set forbidden = columns | reject('in', meta.uses) | list -%}
    {%- if forbidden -%}
        {{ exceptions.raise_compiler_error(where ~ "conditions read " ~ forbidden | join(', ')
            ~ ", not in meta.uses (" ~ meta.uses | join(', ') ~ ")") }}
    {%- endif -%}
{%- endmacro %}
