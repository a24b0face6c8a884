-- depends_on: {{ ref('int_identity_components_stitched') }}
{#-
  Runs the connected-components macro (the one the identity model uses) on a small
  graph with the shapes that break naive algorithms, and fails with every node whose
  component root differs from the expected one (the smallest node of its component).
  The macro runs while the test compiles, in the identity schema, on work tables
  named cc_selftest__cc_*, all dropped again.
-#}
{%- set components = [
    {'name': 'ascending chain', 'links': [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]},
    {'name': 'descending chain', 'links': [(20, 19), (19, 18), (18, 17), (17, 16), (16, 15)]},
    {'name': 'star, hub has the largest id', 'links': [(39, 30), (39, 31), (39, 32), (39, 33), (39, 34), (39, 35), (39, 36), (39, 37), (39, 38)]},
    {'name': 'shuffled cycle', 'links': [(43, 41), (41, 45), (45, 40), (40, 44), (44, 42), (42, 43)]},
    {'name': 'duplicate link and self-loop', 'links': [(50, 51), (51, 50), (50, 50)]},
    {'name': 'isolated node declared with null', 'links': [(60, none)]},
    {'name': 'isolated node declared with itself', 'links': [(61, 61)]},
    {'name': 'shuffled chain', 'links': [(74, 71), (71, 78), (78, 70), (70, 76), (76, 73), (73, 79), (79, 72), (72, 77), (77, 75)]},
    {'name': 'two stars joined through their hubs', 'links': [(80, 99), (81, 99), (82, 98), (83, 98), (98, 99)]},
] -%}

{%- set mismatches = [] -%}
{%- if execute and flags.WHICH in ['build', 'test', 'retry'] -%}
    {%- set rows = [] -%}
    {%- set expected = {} -%}
    {%- for component in components -%}
        {%- set nodes = [] -%}
        {%- for a, b in component.links -%}
            {%- do rows.append('(' ~ a ~ ', ' ~ (b if b is not none else 'null') ~ ')') -%}
            {%- do nodes.append(a) -%}
            {%- if b is not none -%}{%- do nodes.append(b) -%}{%- endif -%}
        {%- endfor -%}
        {%- for node in nodes -%}
            {%- do expected.update({node: (nodes | min, component.name)}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set graph_sql -%}
        select cast(node_id as bigint) as node_id, cast(linked_node_id as bigint) as linked_node_id
        from (values {{ rows | join(', ') }}) as graph (node_id, linked_node_id)
    {%- endset -%}
    {%- set components_model = ref('int_identity_components_stitched') -%}
    {%- set work_prefix = api.Relation.create(
        database=components_model.database, schema=components_model.schema, identifier='cc_selftest') -%}
    {%- set result = cdp.connected_components(graph_sql, work_prefix, var('identity_max_rounds', 64)) -%}
    {%- set labels = run_query('select node_id, root_node_id from ' ~ result['labels'] ~ ' order by node_id') -%}
    {%- do cdp.drop_work_table(result['labels']) -%}
    {%- set actual = {} -%}
    {%- for row in labels.rows -%}
        {%- do actual.update({row[0] | int: row[1] | int}) -%}
    {%- endfor -%}
    {%- for node, want in expected.items() -%}
        {%- if actual.get(node) != want[0] -%}
            {%- do mismatches.append((want[1], node, want[0], actual.get(node))) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for node in actual if node not in expected -%}
        {%- do mismatches.append(('unexpected node', node, none, actual[node])) -%}
    {%- endfor -%}
{%- endif -%}

{%- if mismatches %}
select * from (values
    {%- for name, node, root, got in mismatches %}
    ('{{ name }}', {{ node }}, {{ root if root is not none else 'null' }}, {{ got if got is not none else 'null' }}){{ ',' if not loop.last }}
    {%- endfor %}
) as mismatches (graph_shape, node_id, expected_root_node_id, actual_root_node_id)
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as graph_shape,
    cast(null as bigint) as node_id,
    cast(null as bigint) as expected_root_node_id,
    cast(null as bigint) as actual_root_node_id
where 1 = 0
{%- endif %}
