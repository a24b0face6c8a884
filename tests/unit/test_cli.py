"""The `cdp` command refuses, with one line and no traceback, what would run the wrong thing."""

from __future__ import annotations

from datetime import date, timedelta

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


def test_a_rebuild_date_after_today_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://cdp@127.0.0.1:9/nowhere")  # never reached when refused
    tomorrow = date.today() + timedelta(days=1)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["identity", "rebuild", "--date", tomorrow.isoformat()])
    assert exit_.value.code == 2
    assert f"argument --date: {tomorrow} is after today" in capsys.readouterr().err


def test_a_landing_zone_that_is_not_there_stops_the_run_before_anything_runs(tmp_path, capsys):
    missing = tmp_path / "landng"
    assert cli.main(["run", "--landing", str(missing), "--start", "2026-11-01"]) == 2
    assert capsys.readouterr().err.strip() == f"error: landing zone {missing} does not exist"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--landing", "x", "--start", "2026-11-01", "--max-quarantine-share", "5"], "a share from 0 to 1"),
        (["run", "--landing", "x", "--start", "2026-11-01", "--wait", "-5"], "seconds, 0 or more"),
        (["generate", "--out", "x", "--customers", "0"], "argument --customers: a whole number, 1 or more: '0'"),
        (["generate", "--out", "x", "--customers", "-3"], "argument --customers: a whole number, 1 or more: '-3'"),
        (["generate", "--out", "x", "--days", "0"], "argument --days: a whole number, 1 or more: '0'"),
        (["generate", "--out", "x", "--seed", "-1"], "argument --seed: a whole number, 0 or more: '-1'"),
    ],
)
def test_numbers_out_of_their_range_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli.main(argv)
    assert message in capsys.readouterr().err


def test_an_unknown_activation_is_named_with_the_known_ones(capsys):
    assert cli.main(["activate", "nope", "--date", "2026-11-01", "--dry-run"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: no activation named 'nope' in the activations file; activations: ")
    assert "Traceback" not in error


def test_a_warehouse_that_cannot_be_reached_is_one_error_line(monkeypatch, capsys):
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://cdp@127.0.0.1:9/nowhere")  # port 9: nothing listens
    assert cli.main(["identity", "explain", "--namespace", "crm", "--value", "C-1"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: cannot reach the warehouse: ") and error.count("\n") == 1
