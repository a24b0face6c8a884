"""The bench's breakdown of a stitching run, read from a dbt debug log as dbt writes it."""

from __future__ import annotations

from bench.stitch_statements import CANDIDATE_COMPONENTS, last_run, seconds_of, summary

MODEL = "int_identity_components_stitched"
ESC = "\x1b[0m"


def _statement(stamp: str, sql: str, status: str, seconds: float) -> str:
    return (
        f'{ESC}{stamp} [debug] [Thread-1 (]: On model.cdp.{MODEL}: /* {{"app": "dbt"}} */\n'
        f"\n    {sql}\n  \n"
        f"{ESC}{stamp} [debug] [Thread-1 (]: SQL status: {status} in {seconds} seconds\n"
    )


def _run(stamp: str, changes_seconds: float) -> str:
    table = f'"cdp"."identity"."{MODEL}'
    return (
        f"{ESC}{stamp} [debug] [Thread-1 (]: Began running node model.cdp.{MODEL}\n"
        + _statement(
            stamp,
            f'drop table if exists {table}__w_link_changes";\n        create unlogged table {table}__w_link_changes" as'
            f' select 1\n        ;\n        analyze {table}__w_link_changes"',
            "ANALYZE",
            changes_seconds,
        )
        + _statement(stamp, f'delete from {table}" where node_id in (select 1)', "DELETE 7", 0.25)
        + _statement(stamp, "select count(*) from x", "SELECT 1", 0.01)
        + f"{ESC}{stamp} [debug] [Thread-2 (]: On model.cdp.other_model: select 1\n"
        + f"{ESC}{stamp} [debug] [Thread-2 (]: SQL status: SELECT 1 in 9.0 seconds\n"
    )


def test_the_last_run_of_the_model_is_read_statement_by_statement(tmp_path):
    log = tmp_path / "dbt.log"
    log.write_text(_run("10:00:00.000001", 5.0) + _run("11:00:00.000001", 2.61))
    statements = last_run(log, MODEL)
    assert [(s.name, s.status, s.seconds) for s in statements] == [
        ("link_changes", "ANALYZE", 2.61),
        (f"delete {MODEL}", "DELETE 7", 0.25),
        ("select count(*) from", "SELECT 1", 0.01),
    ]
    assert summary(statements, slowest=2) == (
        f"3 statements, 2.9 s; slowest: link_changes 2.61 s, delete {MODEL} 0.25 s; 1 under 0.1 s: 0.0 s"
    )


def test_a_log_without_the_model_says_so(tmp_path):
    assert last_run(tmp_path / "missing.log", MODEL) == []
    assert summary([]) == "no statements found in dbt's log"


def test_the_connected_components_statements_are_set_apart(tmp_path):
    table = f'"cdp"."identity"."{MODEL}__w_cand__cc_'
    log = tmp_path / "dbt.log"
    stamp = "10:00:00.000001"
    log.write_text(
        f"{ESC}{stamp} [debug] [Thread-1 (]: Began running node model.cdp.{MODEL}\n"
        + _statement(stamp, f'create unlogged table {table}hooks_a" as select 1', "SELECT 5", 1.5)
        + _statement(stamp, f'insert into {table}forest" select 1', "INSERT 0 2", 0.25)
        + _statement(stamp, f'alter table {table}hooks_a" rename to x', "ALTER TABLE", 0.125)
        + _statement(stamp, f'create unlogged table "cdp"."identity"."{MODEL}__w_members" as select 1', "SELECT 5", 4.0)
    )
    statements = last_run(log, MODEL)
    assert seconds_of(statements, CANDIDATE_COMPONENTS) == 1.875
    assert seconds_of(statements, "members") == 4.0
