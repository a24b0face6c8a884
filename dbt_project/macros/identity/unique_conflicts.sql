{#-
  Unique-namespace guard: splits groups of linked identities so that no group holds two
  values of a unique namespace, keeping the links a sequential replay would keep.

  The rule (documented in config/identity_rules.yml): replay the links one at a time in
  link_rank order (most recent first, ...); a link that would join two groups both holding a
  value of the same unique namespace is not made. This is order-dependent by nature, and a
  replay one link at a time would need as many statements as links. The same result is
  computed here in parallel rounds, Borůvka-style, over groups (sets of nodes joined so far):

    unique_mask  of a node: a bit of its own for each unique namespace it belongs to
                 (0 for a node of a namespace that is not unique); of a group: the sum
                 (= bitwise or) of its nodes' masks. Two groups are compatible when their
                 masks share no bit.
    Each round, every group looks at its best-ranked link to a compatible group.
      Phase A, while some group with mask 0 ("free") has such a link: every free group
        hooks to the group its best link reaches; two free groups that pick each other
        hook to the smaller id. Only free groups hook, so every tree of hooks holds at
        most one group with a mask: merging a whole tree (pointer jumping) is conflict-free.
      Phase B, when no free group has a link left (only groups with masks remain linked,
        which needs more than one unique namespace): two groups whose best compatible
        links are the same link merge.
    Stop when no group has a link to a compatible group.
  Every merge is one the replay makes: a group's best compatible link is the first link
  the replay meets that can still join that group to anything. This equality with the
  sequential replay is tested against a Python replay on random graphs
  (tests/integration/test_identity_guards.py). Phase A halves the free groups each round
  (O(log n) rounds); phase B merges at least one pair per linked tree per round and is only
  needed with several unique namespaces. `max_rounds` caps the rounds: reaching it raises.

  Inputs: nodes_sql (node_id, unique_mask), links_sql (node_id_a, node_id_b, link_rank:
  distinct integers, smaller = replayed first; both ends among the nodes).
  Returns {labels: a work table (node_id, group_node_id) the caller drops, rounds}.
-#}
{% macro resolve_unique_conflicts(nodes_sql, links_sql, work_prefix, max_rounds) %}
    {%- set max_rounds = max_rounds | int -%}
    {%- set ns = namespace(
        labels=cdp.uc_work_relation(work_prefix, 'labels_a'),
        spare_labels=cdp.uc_work_relation(work_prefix, 'labels_b'),
        masks=cdp.uc_work_relation(work_prefix, 'masks_a'),
        spare_masks=cdp.uc_work_relation(work_prefix, 'masks_b'),
        edges=cdp.uc_work_relation(work_prefix, 'edges_a'),
        spare_edges=cdp.uc_work_relation(work_prefix, 'edges_b'),
        rounds=0,
        done=false
    ) -%}
    {%- set best = cdp.uc_work_relation(work_prefix, 'best') -%}
    {%- set hooks = cdp.uc_work_relation(work_prefix, 'hooks_a') -%}
    {%- set spare_hooks = cdp.uc_work_relation(work_prefix, 'hooks_b') -%}

    {%- do cdp.create_work_table(ns.labels, 'select node_id, node_id as group_node_id from (' ~ nodes_sql ~ ') as nodes') -%}
    {%- do cdp.create_work_table(ns.masks, 'select node_id as group_node_id, unique_mask from (' ~ nodes_sql ~ ') as nodes') -%}
    {%- do cdp.create_work_table(ns.edges, cdp.uc_initial_edges_sql(links_sql)) -%}

    {%- for _ in range(max_rounds + 1) if not ns.done -%}
        {%- do cdp.create_work_table(best, cdp.uc_best_links_sql(ns.edges, ns.masks)) -%}
        {%- set free_hooks = cdp.query_int('select count(*) from ' ~ best ~ ' where unique_mask = 0') -%}
        {%- if free_hooks > 0 -%}
            {#- phase A: free groups hook along their best link; trees merge whole -#}
            {%- do cdp.create_work_table(hooks, cdp.uc_free_hooks_sql(best)) -%}
            {%- set jumped = cdp.cc_pointer_jump(hooks, spare_hooks, max_rounds, work_prefix,
                'the unique-namespace guard') -%}
            {%- set mapping = jumped['relation'] -%}
        {%- else -%}
            {#- phase B: groups with masks merge in pairs that chose the same link -#}
            {%- do cdp.create_work_table(hooks, cdp.uc_mutual_hooks_sql(best)) -%}
            {%- set mapping = hooks -%}
            {%- if cdp.query_int('select count(*) from ' ~ hooks) == 0 -%}
                {%- set ns.done = true -%}
            {%- endif -%}
        {%- endif -%}
        {%- if not ns.done -%}
            {%- if ns.rounds >= max_rounds -%}
                {%- do cdp.uc_drop_work_tables(work_prefix) -%}
                {{ exceptions.raise_compiler_error(
                    "the unique-namespace guard did not settle within identity_max_rounds=" ~ max_rounds
                    ~ " rounds; no labels were written") }}
            {%- endif -%}
            {%- set ns.rounds = ns.rounds + 1 -%}
            {%- do cdp.create_work_table(ns.spare_labels,
                'select label.node_id, coalesce(hook.root_node_id, label.group_node_id) as group_node_id'
                ~ ' from ' ~ ns.labels ~ ' as label left join ' ~ mapping ~ ' as hook'
                ~ ' on hook.node_id = label.group_node_id') -%}
            {%- do cdp.create_work_table(ns.spare_masks,
                'select coalesce(hook.root_node_id, mask.group_node_id) as group_node_id,'
                ~ ' cast(sum(mask.unique_mask) as integer) as unique_mask'
                ~ ' from ' ~ ns.masks ~ ' as mask left join ' ~ mapping ~ ' as hook'
                ~ ' on hook.node_id = mask.group_node_id'
                ~ ' group by coalesce(hook.root_node_id, mask.group_node_id)') -%}
            {%- do cdp.create_work_table(ns.spare_edges, cdp.uc_contract_edges_sql(ns.edges, mapping)) -%}
            {%- for relation in [ns.labels, ns.masks, ns.edges] -%}
                {%- do cdp.drop_work_table(relation) -%}
            {%- endfor -%}
            {%- set swap = ns.labels -%}{%- set ns.labels = ns.spare_labels -%}{%- set ns.spare_labels = swap -%}
            {%- set swap = ns.masks -%}{%- set ns.masks = ns.spare_masks -%}{%- set ns.spare_masks = swap -%}
            {%- set swap = ns.edges -%}{%- set ns.edges = ns.spare_edges -%}{%- set ns.spare_edges = swap -%}
        {%- endif -%}
        {%- do cdp.drop_work_table(hooks) -%}
        {%- do cdp.drop_work_table(spare_hooks) -%}
    {%- endfor -%}

    {%- for relation in [best, ns.masks, ns.edges] -%}
        {%- do cdp.drop_work_table(relation) -%}
    {%- endfor -%}
    {{ return({'labels': ns.labels, 'rounds': ns.rounds}) }}
{% endmacro %}

{% macro uc_work_relation(work_prefix, suffix) -%}
    {{ return(work_prefix.incorporate(path={'identifier': work_prefix.identifier ~ '__uc_' ~ suffix}, type='table')) }}
{%- endmacro %}

{% macro uc_drop_work_tables(work_prefix) -%}
    {%- for suffix in ['labels_a', 'labels_b', 'masks_a', 'masks_b', 'edges_a', 'edges_b', 'best', 'hooks_a', 'hooks_b'] -%}
        {%- do cdp.drop_work_table(cdp.uc_work_relation(work_prefix, suffix)) -%}
    {%- endfor -%}
{%- endmacro %}

{#- One row per pair of nodes with the best rank of the links between them. -#}
{% macro uc_initial_edges_sql(links_sql) -%}
    select
        least(node_id_a, node_id_b) as a,
        greatest(node_id_a, node_id_b) as b,
        min(link_rank) as link_rank
    from ({{ links_sql }}) as links
    where node_id_a <> node_id_b
    group by least(node_id_a, node_id_b), greatest(node_id_a, node_id_b)
{%- endmacro %}

{#- Each group's best-ranked link to a compatible group: (group_node_id, other_node_id,
    unique_mask of the group). Ranks are distinct, so the best link is one row. -#}
{% macro uc_best_links_sql(edges, masks) -%}
    with

    compatible as (

        select edge.a as group_node_id, edge.b as other_node_id, edge.link_rank, mask_a.unique_mask
        from {{ edges }} as edge
        inner join {{ masks }} as mask_a on mask_a.group_node_id = edge.a
        inner join {{ masks }} as mask_b on mask_b.group_node_id = edge.b
        where {{ cdp.bitand('mask_a.unique_mask', 'mask_b.unique_mask') }} = 0

        union all

        select edge.b, edge.a, edge.link_rank, mask_b.unique_mask
        from {{ edges }} as edge
        inner join {{ masks }} as mask_a on mask_a.group_node_id = edge.a
        inner join {{ masks }} as mask_b on mask_b.group_node_id = edge.b
        where {{ cdp.bitand('mask_a.unique_mask', 'mask_b.unique_mask') }} = 0

    ),

    best_rank as (

        select group_node_id, min(link_rank) as link_rank
        from compatible
        group by group_node_id

    )

    select compatible.group_node_id, compatible.other_node_id, compatible.unique_mask
    from compatible
    inner join best_rank
        on best_rank.group_node_id = compatible.group_node_id
        and best_rank.link_rank = compatible.link_rank
{%- endmacro %}

{#- Phase A hooks: every free group to the group its best link reaches, except the smaller of
    two free groups that picked each other (it stays the root of the pair). -#}
{% macro uc_free_hooks_sql(best) -%}
    select pick.group_node_id as node_id, pick.other_node_id as root_node_id
    from {{ best }} as pick
    left join {{ best }} as back
        on back.group_node_id = pick.other_node_id
        and back.other_node_id = pick.group_node_id
        and back.unique_mask = 0
    where pick.unique_mask = 0
        and not (back.group_node_id is not null and pick.group_node_id < pick.other_node_id)
{%- endmacro %}

{#- Phase B hooks: of two groups whose best compatible links are the same link, the larger
    id hooks to the smaller. -#}
{% macro uc_mutual_hooks_sql(best) -%}
    select pick.group_node_id as node_id, pick.other_node_id as root_node_id
    from {{ best }} as pick
    inner join {{ best }} as back
        on back.group_node_id = pick.other_node_id
        and back.other_node_id = pick.group_node_id
    where pick.group_node_id > pick.other_node_id
{%- endmacro %}

{% macro uc_contract_edges_sql(edges, hooks) -%}
    select
        least(a, b) as a,
        greatest(a, b) as b,
        min(link_rank) as link_rank
    from (
        select
            coalesce(hook_a.root_node_id, edge.a) as a,
            coalesce(hook_b.root_node_id, edge.b) as b,
            edge.link_rank
        from {{ edges }} as edge
        left join {{ hooks }} as hook_a on hook_a.node_id = edge.a
        left join {{ hooks }} as hook_b on hook_b.node_id = edge.b
    ) as rewritten
    where a <> b
    group by least(a, b), greatest(a, b)
{%- endmacro %}
