"""The local Airflow stack of `make up` (scripts/local_airflow.sh), started privately for a test.

Free ports and a private CDP_HOME keep it apart from a stack the user runs; `down` stops it
whatever the test did. `Stack` talks to the REST API the UI uses, to wait on runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = str(REPO / "scripts" / "local_airflow.sh")
DAG_IDS = ("cdp_ingest", "cdp_build", "cdp_activate")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """The running local stack: its URL, admin password, and the REST API for waiting on runs."""

    def __init__(self, url: str, password: str, home: Path, env: dict[str, str]):
        self.url, self.password, self.home, self.env = url, password, home, env
        self._token = None

    def api(self, path: str, body: dict | None = None, method: str = "GET") -> dict:
        if self._token is None:
            login = json.dumps({"username": "admin", "password": self.password}).encode()
            request = urllib.request.Request(
                f"{self.url}/auth/token", login, {"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                self._token = json.load(response)["access_token"]
        headers = {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"}
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/v2/{path}", data, headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def runs(self, dag_id: str) -> list[dict]:
        return self.api(f"dags/{dag_id}/dagRuns?order_by=-run_after")["dag_runs"]

    def unpause(self, dag_id: str) -> None:
        self.api(f"dags/{dag_id}", {"is_paused": False}, method="PATCH")

    def airflow(self, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
        """The `airflow` command against this stack's metadata database."""
        env = {**self.env, "PATH": f"{REPO / '.venv' / 'bin'}:{self.env['PATH']}"}
        env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO / "dags"))
        return subprocess.run(["airflow", *args], env=env, capture_output=True, text=True, timeout=timeout)

    def wait_until_settled(self, expected_runs: dict[str, int], timeout_s: int) -> dict[str, list[dict]]:
        """Every DAG's runs once each has at least `expected_runs` and none is queued or running."""
        deadline = time.monotonic() + timeout_s
        runs: dict[str, list[dict]] = {}
        while time.monotonic() < deadline:
            runs = {dag_id: self.runs(dag_id) for dag_id in DAG_IDS}
            enough = all(len(runs[dag_id]) >= n for dag_id, n in expected_runs.items())
            if enough and all(r["state"] in ("success", "failed") for rs in runs.values() for r in rs):
                return runs
            if any(r["state"] == "failed" for r in runs["cdp_ingest"]):
                return runs
            time.sleep(5)
        states = {dag_id: [r["state"] for r in rs] for dag_id, rs in runs.items()}
        raise AssertionError(f"the runs did not settle in {timeout_s} s: {states}")


@contextlib.contextmanager
def local_stack(home: Path, **settings: str) -> Iterator[Stack]:
    """`make up` in `home` on free ports with `settings` (CDP_*, AIRFLOW__*); `make down` after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CDP_", "WAREHOUSE_URL"))}
    env.update(
        CDP_HOME=str(home),
        AIRFLOW_HOME=str(home / "airflow"),
        AIRFLOW_PORT=str(free_port()),
        AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
        AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
        **settings,
    )
    up = subprocess.run([SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=600)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        login = re.search(r"Airflow UI: (\S+)\s+login: admin / (\S+)", up.stdout)
        assert login, up.stdout
        yield Stack(login.group(1), login.group(2), home, env)
    finally:
        subprocess.run([SCRIPT, "down"], env=env, capture_output=True, timeout=120)
