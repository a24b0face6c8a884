"""A run killed mid-request (SIGKILL, no cleanup) and run again delivers every record exactly once.

`cdp activate` runs in a subprocess; the stand-in runs here and holds one request open until
the test has killed the client. The request is held either before the stand-in applies it
(the batch never arrived) or after (it arrived and only the answer was lost): both must end
in the exact membership, every change applied once, and an empty outbox. The audience table
takes the name of a real audience model, so the command's governance check knows its labels.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from activation_world import META, WEBHOOK, connection_env, consented, rows, seed, write_activations

from cdp.activation.standins import Fault, MetaStandIn, WebhookStandIn

pytestmark = pytest.mark.integration
DT = "2026-11-01"
AUDIENCE = "aud_recent_store_buyers_email"


def start_activation(name: str) -> subprocess.Popen:
    cli = Path(sys.executable).parent / "cdp"
    command = [str(cli), "activate", name, "--date", DT]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def kill_when_held(process: subprocess.Popen, standin) -> None:
    deadline = time.monotonic() + 120
    while not standin.hung.wait(0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the stand-in never saw the request to hold: {process.communicate()[0]}")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(30)
    standin.release()


def finish(name: str) -> str:
    process = start_activation(name)
    output = process.communicate(timeout=300)[0]
    assert process.returncode == 0, output
    return output


@pytest.mark.parametrize("applied_before_the_kill", [False, True], ids=["request-lost", "answer-lost"])
def test_webhook_killed_mid_run_then_rerun_delivers_each_record_once(
    db, tmp_path, monkeypatch, applied_before_the_kill
):
    seed(db, 20, denied={7}, audience=AUDIENCE)
    entry = {**WEBHOOK, "audience": AUDIENCE, "batch_size": 5}
    monkeypatch.setenv("CDP_ACTIVATIONS_FILE", str(write_activations(tmp_path / "a.yml", entry)))
    with WebhookStandIn("hook-secret") as hook:
        connection_env(monkeypatch, "test_hook", conn_type="http", host=f"{hook.url}/hooks", password="hook-secret")
        hook.fail(Fault(status=None, hang=True, skip=2, after_apply=applied_before_the_kill))  # the 3rd batch
        kill_when_held(start_activation("hook"), hook)

        assert len(hook.members("hook")) == (15 if applied_before_the_kill else 10)
        assert rows(db, "select count(*) from activation.destination_state")[0][0] == 10  # 2 batches committed
        assert rows(db, "select count(*) from activation.outbox")[0][0] == 2  # the held one and the last

        output = finish("hook")
        assert "resuming 2 batch(es) left by an earlier run" in output
        assert set(hook.members("hook")) == consented(db, audience=AUDIENCE) and len(hook.members("hook")) == 19
        assert set(hook.applied("hook").values()) == {1}
        keys = [r.headers["idempotency-key"] for r in hook.requests]
        assert keys[2] == keys[3]  # the held batch was sent again under its own key
        sent = rows(db, "select count(*), count(distinct profile_id) from activation.sync_log where outcome = 'sent'")
        assert sent == [(19, 19)]
        assert rows(db, "select count(*) from activation.outbox")[0][0] == 0


def test_meta_replace_session_killed_mid_session_resumes_the_same_session(db, tmp_path, monkeypatch):
    seed(db, 12, audience=AUDIENCE)
    mirror = {**META, "name": "mirror", "audience": AUDIENCE, "mode": "mirror", "batch_size": 4}
    monkeypatch.setenv("CDP_ACTIVATIONS_FILE", str(write_activations(tmp_path / "a.yml", mirror)))
    with MetaStandIn("meta-token") as meta:
        meta.create_audience(META["options"]["audience_id"])
        connection_env(monkeypatch, "test_meta", conn_type="http", host=meta.url, password="meta-token")
        meta.fail(Fault(status=None, hang=True, skip=1, after_apply=True))  # batch 2 arrives, its answer is lost
        kill_when_held(start_activation("mirror"), meta)
        assert meta.members(META["options"]["audience_id"]) == {}  # nothing replaced before the last batch

        finish("mirror")
        sessions = [(r.json()["session"]["session_id"], r.json()["session"]["batch_seq"]) for r in meta.requests]
        session_id = sessions[0][0]
        assert sessions == [(session_id, 1), (session_id, 2), (session_id, 2), (session_id, 3)]
        held = meta.members(META["options"]["audience_id"])
        assert {i.removeprefix("EXTERN_ID:") for i in held} == consented(db, "ad_targeting", AUDIENCE)
        history = meta.applied(META["options"]["audience_id"])
        assert len(history) == 12 and all(changes == ["replace_add"] for changes in history.values())
        assert rows(db, "select count(*) from activation.sync_log where outcome = 'sent'")[0][0] == 12
