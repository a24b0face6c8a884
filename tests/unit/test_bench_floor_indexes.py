"""The bench's floor: the stitching table's index definitions, moved to the copy."""

from bench.stitch_floor import copy_index_statements


def test_the_index_definitions_are_moved_to_the_copy_with_their_kind_and_predicate():
    indexdefs = [
        "CREATE UNIQUE INDEX t_node_idx ON identity.t USING btree (node_id)",
        "CREATE INDEX t_guarded_idx ON identity.t USING btree (component_node_id) WHERE component_guarded",
        "ALTER TABLE something else",
    ]
    assert copy_index_statements(indexdefs, "floor_copy") == [
        "create UNIQUE index on floor_copy USING btree (node_id)",
        "create index on floor_copy USING btree (component_node_id) WHERE component_guarded",
    ]
