"""The data engineer's path through the Airflow UI, in headless Chromium against the real local stack.

The stack is what `make up` starts (scripts/local_airflow.sh: API server and UI, scheduler, DAG
processor, triggerer, the embedded warehouse and one day of sample data), on free ports in a
private CDP_HOME. The test logs in, finds the DAGs, triggers cdp_ingest for the sample day from the
trigger form, unpauses the DAGs and follows the asset-driven chain through cdp_activate.
Screenshots of the DAG list and the asset graph go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from local_stack import DAG_IDS, REPO, Stack, local_stack
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CHAIN_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`make up` in a private CDP_HOME on free ports, with one small sample day; `make down` after."""
    with local_stack(
        tmp_path_factory.mktemp("local-stack"), CDP_SAMPLE_CUSTOMERS="300", CDP_SAMPLE_DAYS="1"
    ) as running:
        yield running


@pytest.fixture(scope="module")
def page(stack):
    """Chromium, logged in to the UI with the login `make up` printed."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Debian's Chromium (apt-get install chromium), as .ci/run does")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)
        log_in(page, stack)
        yield page
        browser.close()


def log_in(page, stack: Stack) -> None:
    page.goto(stack.url)
    page.wait_for_url("**/auth/login**")  # the UI asks for the login first
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{stack.url}/")


def pick_day(page, picker, day: datetime, title: str) -> None:
    """A date picker of the trigger form set to the day's midnight (UTC, the UI's time zone here)."""
    open_day_input = page.locator("input[placeholder='YYYY/MM/DD']:visible")
    picker.click()
    # A closed picker keeps its inputs in the page: fill the open one's.
    open_day_input.fill(day.strftime("%Y/%m/%d"))
    page.locator("input[placeholder='HH:mm']:visible").fill("00:00")
    page.get_by_role("dialog").get_by_text(title).click()  # closes the picker
    # It closes with an animation: the next picker's input is only alone once this one is gone.
    expect(open_day_input).to_have_count(0, timeout=30_000)
    assert picker.inner_text().strip() == day.strftime("%b %-d, %Y 00:00")


def trigger_for_day(page, stack: Stack, dag_id: str, day: datetime) -> None:
    """The trigger form: a single run with the day as logical date; the DAG stays paused for now."""
    page.goto(f"{stack.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    pick_day(page, page.get_by_test_id("datetime-input"), day, f"Trigger Dag - {dag_id}")
    dialog.get_by_text(f"Unpause {dag_id} on trigger").click()
    dialog.get_by_role("button", name="Trigger").click()
    page.get_by_text("Dag run has been successfully triggered").first.wait_for()


def unpause(page, stack: Stack, dag_id: str) -> None:
    page.goto(f"{stack.url}/dags/{dag_id}")
    toggle = page.get_by_test_id("toggle-pause")
    toggle.click()
    page.wait_for_function("el => el.dataset.state === 'checked'", arg=toggle.element_handle())


def wait_for_chain(stack: Stack, day: str) -> dict[str, dict]:
    """The latest run of each DAG once all three have finished (the two downstream ones via assets)."""
    deadline = time.monotonic() + CHAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        latest = {dag_id: (stack.runs(dag_id) or [None])[0] for dag_id in DAG_IDS}
        if latest["cdp_ingest"] and latest["cdp_ingest"]["state"] == "failed":
            return latest
        if all(run and run["state"] in ("success", "failed") for run in latest.values()):
            return latest
        time.sleep(5)
    pytest.fail(f"the chain for {day} did not finish in {CHAIN_TIMEOUT_S} s: {latest}")


def test_login_shows_the_three_dags_with_their_docs(page, stack):
    page.goto(f"{stack.url}/dags")
    for dag_id in DAG_IDS:
        page.get_by_role("link", name=dag_id, exact=True).wait_for()
    assert page.get_by_text("3 Dags").is_visible()
    page.screenshot(path=str(ARTIFACTS / "dag-list.png"), full_page=True)
    page.goto(f"{stack.url}/dags/cdp_build")
    page.get_by_role("button", name="Dag Docs").click()
    page.get_by_text("Triage").first.wait_for()


def test_trigger_ingest_and_follow_the_chain_to_activation(page, stack):
    # The sample day is yesterday: the day a daily run started today works on, so the trigger's
    # logical date is the scheduled one and unpausing adds no second run.
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    trigger_for_day(page, stack, "cdp_ingest", day)
    for dag_id in ("cdp_activate", "cdp_build", "cdp_ingest"):
        unpause(page, stack, dag_id)

    latest = wait_for_chain(stack, day.date().isoformat())
    assert {dag_id: run["state"] for dag_id, run in latest.items()} == dict.fromkeys(DAG_IDS, "success"), latest
    ingest = latest["cdp_ingest"]
    assert ingest["run_type"] == "manual" and ingest["logical_date"].startswith(day.date().isoformat())
    assert latest["cdp_build"]["run_type"] == latest["cdp_activate"]["run_type"] == "asset_triggered"
    assert len(stack.runs("cdp_ingest")) == 1  # the scheduled run for the same day was not added

    # The UI shows the runs' states and the final task's log: the day's summary, without PII.
    page.goto(f"{stack.url}/dags/cdp_activate/runs")
    page.get_by_text("success").first.wait_for()
    run_id = latest["cdp_activate"]["dag_run_id"]
    page.goto(f"{stack.url}/dags/cdp_activate/runs/{run_id}/tasks/summarize")
    # The log view opens at its end: the report's last lines and where the file went.
    page.get_by_text(f"airflow-{day.date()}.md").first.wait_for()
    page.get_by_text("Result: all stages succeeded").first.wait_for()
    log_text = page.locator("body").inner_text()
    assert "Activation (records per destination)" in log_text and "store_buyers_email_file" in log_text
    assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", log_text), "an email address in the task log"
    report = (stack.home / "reports" / f"airflow-{day.date()}.md").read_text()
    assert f"Daily run summary for {day.date()}" in report and "crm_customers" in report
    assert "raw_ingest: passed" in report and "warehouse_outputs: passed" in report  # from the gates' records

    # The asset graph, from ingest through build to activation: each asset with its producer and consumer.
    assets = {a["name"]: a["id"] for a in stack.api("assets")["assets"]}
    for asset, producer, consumer in (
        ("cdp_raw_data_ready", "cdp_ingest", "cdp_build"),
        ("cdp_audiences_ready", "cdp_build", "cdp_activate"),
    ):
        page.goto(f"{stack.url}/assets/{assets[asset]}")
        page.get_by_text(producer).first.wait_for()
        page.get_by_text(consumer).first.wait_for()
        page.wait_for_timeout(1000)  # the graph's layout settles
        page.screenshot(path=str(ARTIFACTS / f"asset-graph-{asset}.png"), full_page=True)


def test_backfill_plans_one_run_per_missing_day_from_the_form_and_the_command_line(page, stack):
    """Runs after the chain: the sample day has its run, the two days before it do not."""
    yesterday = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    first = yesterday - timedelta(days=2)
    page.goto(f"{stack.url}/dags/cdp_ingest")
    page.get_by_role("button", name="Trigger").first.click()
    page.get_by_role("dialog").get_by_text("Run this Dag for a range of dates").click()
    pickers = page.get_by_test_id("datetime-input")
    pick_day(page, pickers.nth(0), first, "Run Backfill - cdp_ingest")
    pick_day(page, pickers.nth(1), yesterday, "Run Backfill - cdp_ingest")
    page.get_by_text("2 runs will be triggered").wait_for()  # the form's dry run: the sample day is done

    command = ["airflow", "backfill", "create", "--dag-id", "cdp_ingest", "--dry-run"]
    command += ["--from-date", first.date().isoformat(), "--to-date", yesterday.date().isoformat()]
    command += ["--reprocess-behavior", "none"]
    out = stack.airflow(*command[1:])
    assert out.returncode == 0, out.stderr
    planned = set(re.findall(r"^\| (\d{4}-\d{2}-\d{2}) 00:00:00", out.stdout, re.MULTILINE))  # "Runs to be attempted"
    assert planned == {first.date().isoformat(), (first + timedelta(days=1)).date().isoformat()}, out.stdout
