"""The bench's floor under a full stitching run: a copy of the model's table with its own indexes,
written on a real Postgres (the definitions' rewriting: tests/unit/test_bench_floor_indexes.py)."""

import pytest

from bench.stitch_floor import COPY, write_table

pytestmark = pytest.mark.integration


def test_the_table_is_written_with_every_index_and_the_copy_is_dropped(db):
    with db.cursor() as cur:
        cur.execute(
            """
            create schema identity;
            create table identity.stitched as
                select g as node_id, g / 3 as component_node_id, 'p' || (g / 3) as profile_id,
                    g % 7 = 0 as component_guarded
                from generate_series(1, 5000) as g;
            create unique index on identity.stitched (node_id);
            create index on identity.stitched (component_node_id);
            create index on identity.stitched (component_node_id) where component_guarded;
            """
        )
    db.commit()

    written = write_table(db, '"identity"."stitched"')

    assert (written.rows, written.indexes) == (5000, 3)
    assert written.seconds > 0
    with db.cursor() as cur:
        cur.execute("select to_regclass(%s), (select count(*) from identity.stitched)", (COPY,))
        assert cur.fetchone() == (None, 5000)


def test_a_table_that_cannot_be_read_gives_no_floor(db):
    assert write_table(db, '"identity"."missing"') is None
    with db.cursor() as cur:  # the connection is still usable
        cur.execute("select 1")
        assert cur.fetchone() == (1,)
