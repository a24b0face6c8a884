{#-
  Materialization `identity_stitch`: the model's SQL selects the identities to stitch (node_id,
  namespace, identity_value, namespace_priority, unique_mask, last_seen_at); config
  `links_model` names the model of links between them (node_id_a, node_id_b, link_priority,
  first_seen_at, last_seen_at) and `rules_model` the identity rules. The model's table is one
  row per identity: node_id, component_node_id (its candidate component: the smallest node_id
  linked to it through any chain of links), profile_id (null when the profile size cap cut
  it), component_guarded (a guard cut the candidate component). The algorithm, the state it
  keeps across runs and when a run is full or incremental: macros/identity/stitch.sql.

  Everything runs in the model's transaction: a failure (the round cap included) leaves the
  table and the state tables as they were. A full run builds a new table and swaps it in; an
  incremental run replaces the rows of the recomputed components in place.
-#}
{% materialization identity_stitch, default %}

    {%- set max_rounds = config.get('max_rounds', var('identity_max_rounds', 64)) | int -%}
    {%- set links_relation = ref(config.require('links_model')) -%}
    {%- set rules_relation = ref(config.require('rules_model')) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- set intermediate_relation = make_intermediate_relation(target_relation) -%}
    {%- set backup_relation = make_backup_relation(target_relation, 'table') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set started = modules.datetime.datetime.now() -%}

    {{ drop_relation_if_exists(load_cached_relation(intermediate_relation)) }}
    {{ drop_relation_if_exists(load_cached_relation(backup_relation)) }}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {#- A relation of an earlier version of this model (without profile ids) goes: the table is
        rebuilt from the state tables, or in full on a first run. -#}
    {%- if existing_relation is not none -%}
        {%- set columns = adapter.get_columns_in_relation(existing_relation) | map(attribute='name') | map('lower') | list -%}
        {%- if existing_relation.type != 'table' or 'profile_id' not in columns or 'component_guarded' not in columns -%}
            {{ adapter.drop_relation(existing_relation) }}
            {%- set existing_relation = none -%}
        {%- endif -%}
    {%- endif -%}
    {%- set target_exists = existing_relation is not none -%}

    {%- set result = cdp.identity_stitch(sql, links_relation, rules_relation, target_relation, target_exists, max_rounds) -%}

    {%- if result['full'] -%}
        {% call statement('main') -%}
            create table {{ intermediate_relation }} as {{ result['new_rows_sql'] }}
        {%- endcall %}
        {%- do cdp.stitch_index_target(intermediate_relation) -%}
        {%- if existing_relation is not none -%}
            {{ adapter.rename_relation(existing_relation, backup_relation) }}
        {%- endif -%}
        {{ adapter.rename_relation(intermediate_relation, target_relation) }}
    {%- else -%}
        {% call statement('main') -%}
            insert into {{ target_relation }} (node_id, component_node_id, profile_id, component_guarded)
            {{ result['new_rows_sql'] }}
        {%- endcall %}
    {%- endif -%}
    {%- do cdp.drop_work_tables(result['work_tables']) -%}

    {%- set stats = cdp.stitch_record_run(cdp.stitch_state(target_relation), target_relation, result, max_rounds) -%}
    {%- do log(
        model.name ~ ': ' ~ ('full' if result['full'] else 'incremental') ~ ' run'
        ~ ((' (' ~ result['full_reason'] ~ ')') if result['full_reason'] else '') ~ ', '
        ~ stats['scope_node_count'] ~ ' of ' ~ stats['node_count'] ~ ' identities recomputed, '
        ~ stats['link_count'] ~ ' links, ' ~ result['rounds'] ~ ' rounds (' ~ result['jump_passes']
        ~ ' pointer-jump passes), ' ~ result['conflict_component_count'] ~ ' components with unique-namespace'
        ~ ' conflicts (' ~ result['guard_rounds'] ~ ' guard rounds), ' ~ stats['rejected_link_count']
        ~ ' links not made, ' ~ stats['cut_identity_count'] ~ ' identities over the profile cap -> '
        ~ stats['profiles'] ~ ' profiles (largest ' ~ stats['largest_component_size'] ~ '), '
        ~ result['profiles_minted'] ~ ' minted, ' ~ result['profiles_merged'] ~ ' merged; '
        ~ '%.1f' | format((modules.datetime.datetime.now() - started).total_seconds()) ~ ' s',
        info=true) -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}

    {% set should_revoke = should_revoke(existing_relation, full_refresh_mode=result['full']) %}
    {% do apply_grants(target_relation, grant_config, should_revoke=should_revoke) %}
    {% do persist_docs(target_relation, model) %}

    {{ adapter.commit() }}

    {{ drop_relation_if_exists(backup_relation) }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{% endmaterialization %}
