"""The `cdp` command refuses, with one line and no traceback, what would run the wrong thing."""

from __future__ import annotations

import pytest

from cdp import cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--landing", "x", "--start", "2026-11-01", "--sources", ""], "no source named"),
        (["run", "--landing", "x", "--start", "2026-11-01", "--sources", " , "], "no source named"),
        (["run", "--landing", "x", "--start", "2026-11-02", "--end", "2026-11-01"], "is before --start"),
        (["contract", "crm_customer"], "invalid choice"),
        (["gate", "raw_ingst", "--date", "2026-11-01"], "invalid choice"),
    ],
)
def test_arguments_that_name_nothing_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_landing_zone_that_is_not_there_stops_the_run_before_anything_runs(tmp_path, capsys):
    missing = tmp_path / "landng"
    assert cli.main(["run", "--landing", str(missing), "--start", "2026-11-01"]) == 2
    assert capsys.readouterr().err.strip() == f"error: landing zone {missing} does not exist"
