{#-
  dbt run-operation benchmark_connected_components --args '{shape: chain_ascending, nodes: 100000}'

  Stitches a synthetic graph with the same macro as the identity model, checks it
  gives exactly one component rooted at node 1, logs rounds, pointer-jump passes and
  wall time, and drops its work tables. Shapes: chain_ascending, chain_descending,
  chain_shuffled (a fixed pseudo-random order), star_max_hub (the hub has the
  largest id). Writes only into `schema` (default: the target schema, created if
  missing). The graph is generated with Postgres' generate_series.
-#}
{% macro benchmark_connected_components(shape='chain_ascending', nodes=100000, schema=none) %}
    {%- set n = nodes | int -%}
    {%- set graphs = {
        'chain_ascending': 'select i as node_id, i + 1 as linked_node_id from generate_series(1, ' ~ (n - 1) ~ ') as i',
        'chain_descending': 'select i + 1 as node_id, i as linked_node_id from generate_series(1, ' ~ (n - 1) ~ ') as i',
        'chain_shuffled': 'select p.node_id, q.node_id as linked_node_id from ('
            ~ 'select i, row_number() over (order by md5(cast(i as text))) as node_id from generate_series(1, ' ~ n ~ ') as i'
            ~ ') as p join (select i, row_number() over (order by md5(cast(i as text))) as node_id from generate_series(1, ' ~ n ~ ') as i'
            ~ ') as q on q.i = p.i + 1',
        'star_max_hub': 'select ' ~ n ~ ' as node_id, i as linked_node_id from generate_series(1, ' ~ (n - 1) ~ ') as i',
    } -%}
    {%- if shape not in graphs -%}
        {{ exceptions.raise_compiler_error('unknown shape ' ~ shape ~ '; one of ' ~ (graphs.keys() | list | join(', '))) }}
    {%- endif -%}
    {%- set schema = schema or target.schema -%}
    {%- do run_query('create schema if not exists ' ~ adapter.quote(schema)) -%}
    {%- set prefix = api.Relation.create(database=target.database, schema=schema, identifier='cc_benchmark') -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- set result = cdp.connected_components(graphs[shape], prefix, var('identity_max_rounds', 64)) -%}
    {%- set seconds = (modules.datetime.datetime.now() - started).total_seconds() -%}
    {%- set check = run_query('select count(distinct root_node_id), min(root_node_id), count(*) from ' ~ result['labels']) -%}
    {%- do cdp.drop_work_table(result['labels']) -%}
    {%- set components = check.columns[0].values()[0] | int -%}
    {%- set root = check.columns[1].values()[0] | int -%}
    {%- set labelled = check.columns[2].values()[0] | int -%}
    {%- do log(shape ~ ': ' ~ labelled ~ ' nodes, ' ~ result['link_count'] ~ ' links -> ' ~ components
        ~ ' component(s) rooted at ' ~ root ~ ' in ' ~ result['rounds'] ~ ' rounds, '
        ~ result['jump_passes'] ~ ' pointer-jump passes, ' ~ '%.1f' | format(seconds) ~ ' s', info=true) -%}
    {%- if components != 1 or root != 1 or labelled != n -%}
        {{ exceptions.raise_compiler_error('wrong result: expected 1 component of ' ~ n ~ ' nodes rooted at 1') }}
    {%- endif -%}
{% endmacro %}
