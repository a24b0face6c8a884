{#-
  Materialization `connected_components`: the model's SQL is a graph (columns node_id,
  linked_node_id, see macros/identity/connected_components.sql); the model's table
  is one row per node: node_id, root_node_id (the smallest node_id of its component).

  Built like a `table`: into an intermediate relation, swapped in at commit. The
  iteration runs in the same transaction, so a failure (including reaching the
  round cap) leaves the previous table untouched.

  Each build records its statistics in <schema>.stitch_runs, one row per
  (run_date, model): the same run date overwrites its row, so reruns stay identical.
-#}
{% materialization connected_components, default %}

    {%- set max_rounds = config.get('max_rounds', var('identity_max_rounds', 64)) | int -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set preexisting_intermediate_relation = load_cached_relation(intermediate_relation) -%}
    {%- set backup_relation_type = 'table' if existing_relation is none else existing_relation.type -%}
    {%- set backup_relation = make_backup_relation(target_relation, backup_relation_type) -%}
    {%- set preexisting_backup_relation = load_cached_relation(backup_relation) -%}
    {%- set grant_config = config.get('grants') -%}

    {{ drop_relation_if_exists(preexisting_intermediate_relation) }}
    {{ drop_relation_if_exists(preexisting_backup_relation) }}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- set result = cdp.connected_components(sql, target_relation, max_rounds) -%}

    {% call statement('main') -%}
        {{ get_create_table_as_sql(False, intermediate_relation,
            'select node_id, root_node_id from ' ~ result['labels']) }}
    {%- endcall %}

    {%- set sizes = run_query(
        'select count(*) as component_count, coalesce(max(size), 0) as largest_component_size'
        ~ ' from (select root_node_id, count(*) as size from ' ~ intermediate_relation
        ~ ' group by root_node_id) as components') -%}
    {%- do result.update({
        'component_count': sizes.columns[0].values()[0] | int,
        'largest_component_size': sizes.columns[1].values()[0] | int,
    }) -%}
    {%- do cdp.drop_work_table(result['labels']) -%}
    {%- do cdp.record_stitch_run(target_relation, result, max_rounds) -%}
    {%- do log(
        model.name ~ ': ' ~ result['node_count'] ~ ' nodes, ' ~ result['link_count'] ~ ' links -> '
        ~ result['component_count'] ~ ' components (largest ' ~ result['largest_component_size']
        ~ ') in ' ~ result['rounds'] ~ ' rounds, ' ~ result['jump_passes'] ~ ' pointer-jump passes',
        info=true) -%}

    {% do create_indexes(intermediate_relation) %}

    {% if existing_relation is not none %}
        {% set existing_relation = load_cached_relation(existing_relation) %}
        {% if existing_relation is not none %}
            {{ adapter.rename_relation(existing_relation, backup_relation) }}
        {% endif %}
    {% endif %}
    {{ adapter.rename_relation(intermediate_relation, target_relation) }}

    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=True) %}
    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {% do persist_docs(target_relation, model) %}

    {{ adapter.commit() }}

    {{ drop_relation_if_exists(backup_relation) }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}


{#- Keeps the statistics of each stitching run where an engineer can query them. -#}
{% macro record_stitch_run(target_relation, result, max_rounds) -%}
    {%- set runs = api.Relation.create(
        database=target_relation.database, schema=target_relation.schema, identifier='stitch_runs') -%}
    {%- set model_name = target_relation.identifier -%}
    {% do run_query(
        'create table if not exists ' ~ runs ~ ' ('
        ~ ' run_date date not null,'
        ~ ' model_name varchar(256) not null,'
        ~ ' node_count bigint not null,'
        ~ ' link_count bigint not null,'
        ~ ' component_count bigint not null,'
        ~ ' largest_component_size bigint not null,'
        ~ ' rounds integer not null,'
        ~ ' jump_passes integer not null,'
        ~ ' max_rounds integer not null,'
        ~ ' primary key (run_date, model_name))') %}
    {% do run_query(
        'delete from ' ~ runs ~ ' where run_date = ' ~ cdp.run_date_literal()
        ~ " and model_name = '" ~ model_name ~ "'") %}
    {% do run_query(
        'insert into ' ~ runs ~ ' (run_date, model_name, node_count, link_count, component_count,'
        ~ ' largest_component_size, rounds, jump_passes, max_rounds) values ('
        ~ cdp.run_date_literal() ~ ", '" ~ model_name ~ "', "
        ~ result['node_count'] ~ ', ' ~ result['link_count'] ~ ', ' ~ result['component_count'] ~ ', '
        ~ result['largest_component_size'] ~ ', ' ~ result['rounds'] ~ ', '
        ~ result['jump_passes'] ~ ', ' ~ max_rounds ~ ')') %}
{%- endmacro %}
