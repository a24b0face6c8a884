{#- The merge policy (var merge_policy, declared in dbt_project.yml), checked against what the
    sources carry. Returns {'placeholders': [...], 'attributes': [{'name', 'rule', 'sources',
    'columns'}, ...]}. A policy that names an unknown rule, source or column, lists a source that
    does not carry a column, or leaves a column without an attribute fails the build with the
    reason. -#}
{% macro profile_merge_policy() -%}
    {%- set policy = var('merge_policy') -%}
    {%- set carried = {} -%}
    {%- for spec in cdp.profile_attribute_sources() -%}
        {%- do carried.update({spec.source: spec['values'].keys() | list}) -%}
    {%- endfor -%}
    {%- set columns = cdp.profile_attribute_columns() | map(attribute='name') | list -%}

    {%- set attributes = [] -%}
    {%- set assigned = [] -%}
    {%- for name, entry in (policy.get('attributes') or {}).items() -%}
        {%- set where = "merge policy, attribute '" ~ name ~ "': " -%}
        {%- if entry.get('rule') not in ('most_recent', 'source_priority') -%}
            {{ exceptions.raise_compiler_error(where ~ "rule must be most_recent or source_priority, got '" ~ entry.get('rule') ~ "'") }}
        {%- endif -%}
        {%- set sources = entry.get('sources') or [] -%}
        {%- if not sources or sources | unique | list | length != sources | length -%}
            {{ exceptions.raise_compiler_error(where ~ "sources must be a non-empty list without repeats") }}
        {%- endif -%}
        {%- set attribute_columns = entry.get('columns') or [name] -%}
        {%- for column in attribute_columns -%}
            {%- if column not in columns -%}
                {{ exceptions.raise_compiler_error(where ~ "unknown column '" ~ column ~ "'; columns: " ~ columns | join(', ')) }}
            {%- endif -%}
            {%- if column in assigned -%}
                {{ exceptions.raise_compiler_error(where ~ "column '" ~ column ~ "' is already given by another attribute") }}
            {%- endif -%}
            {%- do assigned.append(column) -%}
        {%- endfor -%}
        {%- for source in sources -%}
            {%- if source not in carried -%}
                {{ exceptions.raise_compiler_error(where ~ "unknown source '" ~ source ~ "'; sources: " ~ carried.keys() | join(', ')) }}
            {%- endif -%}
            {%- for column in attribute_columns if column not in carried[source] -%}
                {{ exceptions.raise_compiler_error(where ~ "source '" ~ source ~ "' does not carry '" ~ column ~ "'") }}
            {%- endfor -%}
        {%- endfor -%}
        {%- do attributes.append({'name': name, 'rule': entry.rule, 'sources': sources, 'columns': attribute_columns}) -%}
    {%- endfor -%}

    {%- set unassigned = columns | reject('in', assigned) | list -%}
    {%- if unassigned -%}
        {{ exceptions.raise_compiler_error("merge policy: no attribute gives " ~ unassigned | join(', ')) }}
    {%- endif -%}
    {{ return({'placeholders': policy.get('placeholders') or [], 'attributes': attributes}) }}
{%- endmacro %}

{#- 1 for the first source of `sources`, 2 for the next, ...: the SQL of a source's rank. -#}
{% macro profile_source_rank(source_column, sources) -%}
    case {{ source_column }}
    {%- for source in sources %}
        when '{{ source }}' then {{ loop.index }}
    {%- endfor %}
    end
{%- endmacro %}
