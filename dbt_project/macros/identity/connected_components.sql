{#-
  Connected components of an undirected graph, in SQL, in a number of rounds that
  grows with log(component size), not with the diameter. No recursive CTE.

  Input: a query with integer columns node_id, linked_node_id. Each row is a link;
  a row whose linked_node_id is null or equal to node_id only declares a node. A caller that
  has its nodes at hand passes them as nodes_sql (one row per node_id, distinct): then the
  graph query needs only the links, and the nodes are not derived from it.

  Algorithm: root hooking + pointer jumping on a contracted graph.
    edges(a, b)        links between two different current roots, a < b
    forest(node_id, root_node_id)
                       every root that hooked, and the root it hooked to in its round
    Each round:
      1. hook: every root with a smaller neighbouring root points at the smallest one
         (hooks = select b, min(a) from edges group by b). Pointers only go down, so
         the hooks form a forest, never a cycle.
      2. pointer-jump the hooks (h -> hooks[hooks[h]]) until every hooked root points
         at a root that did not hook: each pass halves every path, so a forest of
         depth d needs ceil(log2 d) + 1 passes. Append them to `forest`.
      3. contract: rewrite edges through the hooks and drop those inside one root.
    Stop when no edge joins two different roots. A node's label is then found by
    following `forest` (each root hooks at most once, to a root of its round, so the
    forest is at most `rounds` deep). The first round's hooks, which cover most nodes, are
    kept apart and already point at their round's roots; only the later rounds' forest,
    over the few roots still linked after the first round, is jumped again, and one join
    labels every node. A component's label is its smallest node_id: the smallest node
    never hooks, so it stays a root, and only one root remains.
  A round's work is proportional to the links still between different roots (converged
  components drop out), not to the number of nodes. Measured: 1 round for a
  100,000-node chain with ascending or descending ids, about 11 for the same chain
  with shuffled ids. `max_rounds` caps the rounds and the jump passes of every
  pointer-jumping loop: reaching it raises an error, nothing partial is written.

  Work tables are named <work_prefix>__cc_*; all are dropped before returning except
  the labels table, which the caller reads and then drops (drop_work_table).

  Returns {labels, node_count, link_count, rounds, jump_passes}.
-#}
{% macro connected_components(graph_sql, work_prefix, max_rounds, nodes_sql=none) %}
    {%- set max_rounds = max_rounds | int -%}
    {%- set graph = cdp.cc_work_relation(work_prefix, 'graph') -%}
    {%- set nodes = cdp.cc_work_relation(work_prefix, 'nodes') -%}
    {%- set first_forest = cdp.cc_work_relation(work_prefix, 'first_forest') -%}
    {%- set forest = cdp.cc_work_relation(work_prefix, 'forest') -%}
    {%- set labels = cdp.cc_work_relation(work_prefix, 'labels') -%}
    {%- set ns = namespace(
        edges=cdp.cc_work_relation(work_prefix, 'edges_a'),
        spare_edges=cdp.cc_work_relation(work_prefix, 'edges_b'),
        hooks=cdp.cc_work_relation(work_prefix, 'hooks_a'),
        spare_hooks=cdp.cc_work_relation(work_prefix, 'hooks_b'),
        rounds=0,
        jump_passes=0,
        remaining=0,
        converged=false
    ) -%}

    {%- do cdp.create_work_table(graph, graph_sql) -%}
    {%- do cdp.create_work_table(nodes, nodes_sql if nodes_sql else cdp.cc_nodes_sql(graph)) -%}
    {%- do cdp.create_work_table(ns.edges, cdp.cc_initial_edges_sql(graph)) -%}
    {%- do cdp.drop_work_table(graph) -%}
    {%- do cdp.create_work_table(first_forest, 'select node_id, node_id as root_node_id from ' ~ nodes ~ ' where 1 = 0') -%}
    {%- do cdp.create_work_table(forest, 'select node_id, node_id as root_node_id from ' ~ nodes ~ ' where 1 = 0') -%}
    {%- set node_count = cdp.query_int('select count(*) from ' ~ nodes) -%}
    {%- set link_count = cdp.query_int('select count(*) from ' ~ ns.edges) -%}
    {%- set ns.remaining = link_count -%}

    {%- for _ in range(max_rounds + 1) if not ns.converged -%}
        {%- if ns.remaining == 0 -%}
            {%- set ns.converged = true -%}
        {%- else -%}
            {%- if ns.rounds >= max_rounds -%}
                {%- do cdp.cc_drop_work_tables(work_prefix) -%}
                {{ exceptions.raise_compiler_error(
                    "connected components did not converge within identity_max_rounds=" ~ max_rounds
                    ~ " hooking rounds (" ~ ns.remaining ~ " links between different roots remain);"
                    ~ " no labels were written") }}
            {%- endif -%}
            {%- set ns.rounds = ns.rounds + 1 -%}

            {#- 1. hook every root to its smallest neighbouring root -#}
            {%- do cdp.create_work_table(ns.hooks, cdp.cc_hooks_sql(ns.edges)) -%}

            {#- 2. pointer-jump the hooks until each points at a root that stays a root -#}
            {%- set jumped = cdp.cc_pointer_jump(ns.hooks, ns.spare_hooks, max_rounds, work_prefix,
                'round ' ~ ns.rounds) -%}
            {%- set ns.hooks = jumped['relation'] -%}
            {%- set ns.spare_hooks = jumped['spare'] -%}
            {%- set ns.jump_passes = ns.jump_passes + jumped['passes'] -%}

            {#- 3. contract the links through the hooks -#}
            {%- do cdp.create_work_table(ns.spare_edges, cdp.cc_contract_edges_sql(ns.edges, ns.hooks)) -%}
            {%- do cdp.drop_work_table(ns.edges) -%}
            {%- if ns.rounds == 1 -%}
                {%- do cdp.drop_work_table(first_forest) -%}
                {%- do adapter.rename_relation(ns.hooks, first_forest) -%}
            {%- else -%}
                {%- do run_query('insert into ' ~ forest ~ ' (node_id, root_node_id) select node_id, root_node_id from ' ~ ns.hooks) -%}
                {%- do cdp.drop_work_table(ns.hooks) -%}
            {%- endif -%}
            {%- set swap = ns.edges -%}
            {%- set ns.edges = ns.spare_edges -%}
            {%- set ns.spare_edges = swap -%}
            {%- set ns.remaining = cdp.query_int('select count(*) from ' ~ ns.edges) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do cdp.drop_work_table(ns.edges) -%}

    {#- Each node's final root: its first round's root, followed through the later rounds' forest. -#}
    {%- do cdp.analyze_work_table(forest) -%}
    {%- set final = cdp.cc_pointer_jump(forest, ns.spare_hooks, max_rounds, work_prefix, 'the final labelling') -%}
    {%- set ns.jump_passes = ns.jump_passes + final['passes'] -%}
    {%- do cdp.create_work_table(labels,
        'select nodes.node_id, coalesce(later.root_node_id, first.root_node_id, nodes.node_id) as root_node_id'
        ~ ' from ' ~ nodes ~ ' as nodes'
        ~ ' left join ' ~ first_forest ~ ' as first on first.node_id = nodes.node_id'
        ~ ' left join ' ~ final['relation'] ~ ' as later on later.node_id = coalesce(first.root_node_id, nodes.node_id)') -%}
    {%- do cdp.drop_work_tables([final['relation'], final['spare'], first_forest, nodes]) -%}
    {{ return({
        'labels': labels,
        'node_count': node_count,
        'link_count': link_count,
        'rounds': ns.rounds,
        'jump_passes': ns.jump_passes,
    }) }}
{% endmacro %}

{#- Pointer jumping on a table (node_id, root_node_id) whose pointers form a forest: repeats
    root := root's root until no pointer moves. Returns {relation, spare, passes}: the
    jumped table and the (dropped) other work table, which swap roles on every pass. -#}
{% macro cc_pointer_jump(relation, spare, max_passes, work_prefix, what) %}
    {%- set jumping = namespace(relation=relation, spare=spare, done=false, passes=0) -%}
    {%- for _ in range(max_passes + 1) if not jumping.done -%}
        {%- if jumping.passes >= max_passes -%}
            {%- do cdp.cc_drop_work_tables(work_prefix) -%}
            {{ exceptions.raise_compiler_error(
                "pointer jumping did not settle within identity_max_rounds=" ~ max_passes
                ~ " passes in " ~ what ~ "; no labels were written") }}
        {%- endif -%}
        {%- do cdp.create_work_table(jumping.spare, cdp.cc_jump_sql(jumping.relation)) -%}
        {%- set moved = cdp.query_int('select count(*) from ' ~ jumping.spare ~ ' where moved = 1') -%}
        {%- set jumping.passes = jumping.passes + 1 -%}
        {%- set swap = jumping.relation -%}
        {%- set jumping.relation = jumping.spare -%}
        {%- set jumping.spare = swap -%}
        {%- do cdp.drop_work_table(jumping.spare) -%}
        {%- if moved == 0 -%}
            {%- set jumping.done = true -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return({'relation': jumping.relation, 'spare': jumping.spare, 'passes': jumping.passes}) }}
{% endmacro %}

{% macro cc_work_relation(work_prefix, suffix) -%}
    {{ return(work_prefix.incorporate(path={'identifier': work_prefix.identifier ~ '__cc_' ~ suffix}, type='table')) }}
{%- endmacro %}

{% macro cc_drop_work_tables(work_prefix) -%}
    {%- for suffix in ['graph', 'nodes', 'first_forest', 'forest', 'labels', 'edges_a', 'edges_b', 'hooks_a', 'hooks_b'] -%}
        {%- do cdp.drop_work_table(cdp.cc_work_relation(work_prefix, suffix)) -%}
    {%- endfor -%}
{%- endmacro %}

{% macro cc_nodes_sql(graph) -%}
    select node_id from {{ graph }} where node_id is not null
    union
    select linked_node_id from {{ graph }} where linked_node_id is not null
{%- endmacro %}

{% macro cc_initial_edges_sql(graph) -%}
    select distinct
        least(node_id, linked_node_id) as a,
        greatest(node_id, linked_node_id) as b
    from {{ graph }}
    where node_id is not null
        and linked_node_id is not null
        and node_id <> linked_node_id
{%- endmacro %}

{% macro cc_hooks_sql(edges) -%}
    select b as node_id, min(a) as root_node_id
    from {{ edges }}
    group by b
{%- endmacro %}

{% macro cc_jump_sql(hooks) -%}
    select
        hook.node_id,
        coalesce(next_hook.root_node_id, hook.root_node_id) as root_node_id,
        case when next_hook.node_id is null then 0 else 1 end as moved
    from {{ hooks }} as hook
    left join {{ hooks }} as next_hook
        on next_hook.node_id = hook.root_node_id
{%- endmacro %}

{% macro cc_contract_edges_sql(edges, hooks) -%}
    select distinct
        least(a, b) as a,
        greatest(a, b) as b
    from (
        select
            coalesce(hook_a.root_node_id, edge.a) as a,
            coalesce(hook_b.root_node_id, edge.b) as b
        from {{ edges }} as edge
        left join {{ hooks }} as hook_a on hook_a.node_id = edge.a
        left join {{ hooks }} as hook_b on hook_b.node_id = edge.b
    ) as rewritten
    where a <> b
{%- endmacro %}
