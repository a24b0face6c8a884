{#-
  Run-operations that apply the stitching algorithms to tables, for the integration tests
  (tests/integration/test_stitching_exactness.py, test_identity_guards.py) and for checking a
  graph by hand. Each job names its input tables and an output table, which is replaced.

    dbt run-operation label_connected_components --args '{jobs: [{graph: s.g, labels: s.l}]}'
        graph:  (node_id, linked_node_id) as for connected_components
        labels: (node_id, root_node_id), plus <labels>_stats (node_count, link_count, rounds,
                jump_passes)

    dbt run-operation label_unique_conflicts --args '{jobs: [{nodes: s.n, links: s.k, labels: s.l}]}'
        nodes: (node_id, unique_mask); links: (node_id_a, node_id_b, link_rank)
        labels: (node_id, group_node_id), plus <labels>_stats (rounds)
-#}
{% macro label_connected_components(jobs, max_rounds=none) %}
    {%- for job in jobs -%}
        {%- set labels = cdp.operation_relation(job['labels']) -%}
        {%- set result = cdp.connected_components(
            'select node_id, linked_node_id from ' ~ cdp.operation_relation(job['graph']),
            labels.incorporate(path={'identifier': labels.identifier ~ '__work'}),
            max_rounds or var('identity_max_rounds', 64)) -%}
        {%- do cdp.operation_replace(labels, 'select node_id, root_node_id from ' ~ result['labels']) -%}
        {%- do cdp.drop_work_table(result['labels']) -%}
        {%- do cdp.operation_replace(cdp.operation_relation(job['labels'] ~ '_stats'),
            'select ' ~ result['node_count'] ~ ' as node_count, ' ~ result['link_count'] ~ ' as link_count, '
            ~ result['rounds'] ~ ' as rounds, ' ~ result['jump_passes'] ~ ' as jump_passes') -%}
        {%- do log(job['graph'] ~ ': ' ~ result['node_count'] ~ ' nodes, ' ~ result['link_count'] ~ ' links, '
            ~ result['rounds'] ~ ' rounds, ' ~ result['jump_passes'] ~ ' pointer-jump passes', info=true) -%}
    {%- endfor -%}
{% endmacro %}

{% macro label_unique_conflicts(jobs, max_rounds=none) %}
    {%- for job in jobs -%}
        {%- set labels = cdp.operation_relation(job['labels']) -%}
        {%- set result = cdp.resolve_unique_conflicts(
            'select node_id, unique_mask from ' ~ cdp.operation_relation(job['nodes']),
            'select node_id_a, node_id_b, link_rank from ' ~ cdp.operation_relation(job['links']),
            labels.incorporate(path={'identifier': labels.identifier ~ '__work'}),
            max_rounds or var('identity_max_rounds', 64)) -%}
        {%- do cdp.operation_replace(labels, 'select node_id, group_node_id from ' ~ result['labels']) -%}
        {%- do cdp.drop_work_table(result['labels']) -%}
        {%- do cdp.operation_replace(cdp.operation_relation(job['labels'] ~ '_stats'),
            'select ' ~ result['rounds'] ~ ' as rounds') -%}
    {%- endfor -%}
{% endmacro %}

{#- 'schema.table' -> a relation in the target database. -#}
{% macro operation_relation(name) -%}
    {%- set parts = name.split('.') -%}
    {%- if parts | length != 2 -%}
        {{ exceptions.raise_compiler_error("expected 'schema.table', got '" ~ name ~ "'") }}
    {%- endif -%}
    {{ return(api.Relation.create(database=target.database, schema=parts[0], identifier=parts[1], type='table')) }}
{%- endmacro %}

{% macro operation_replace(relation, select_sql) -%}
    {%- do run_query('drop table if exists ' ~ relation) -%}
    {%- do run_query('create table ' ~ relation ~ ' as ' ~ select_sql) -%}
{%- endmacro %}
