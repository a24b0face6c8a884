"""The common part of every stand-in: a stateful HTTP server on loopback that records requests and fails on cue.

A stand-in runs in a thread on 127.0.0.1 at a random free port. Its state (the membership
it received) lives in memory or, for the sandbox, in a JSON file that every request reads and
writes under a file lock, so runs in separate processes see one destination. Tests script
faults: an error answer (with any status, body and headers), a pause before answering
(timeouts), an effect applied but its answer lost, or a request held until released (to kill
the client mid-request).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    at: float  # time.monotonic() when received
    status: int | None = None  # what the stand-in answered (None: no answer, e.g. the client was killed)
    raw_query: str = ""  # the query string as sent

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serializable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode() if self.body is not None else b""


@dataclass
class Fault:
    """A scripted misbehaviour for the requests whose path contains `path`."""

    status: int | None = 500  # None: answer normally (after `delay`)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    times: int = 1  # how many requests it hits
    skip: int = 0  # the matching requests it lets through first (counted for each fault on its own)
    path: str = ""
    method: str = ""
    delay: float = 0.0  # seconds before answering: longer than the client's timeout makes a timeout
    after_apply: bool = False  # the request takes effect, then this is the answer (a lost or late response)
    # Hold the request until release() while the test kills the client; unless applied first, it is then dropped.
    hang: bool = False
    seen: int = 0  # matching requests so far

    def matches(self, request: Request) -> bool:
        return self.path in request.path and (not self.method or self.method == request.method)


class StandIn:
    """Base class: subclasses implement `handle(request, state) -> Response` and `initial_state()`."""

    def __init__(self, state_file: Path | None = None):
        self.state_file = Path(state_file) if state_file else None
        self.requests: list[Request] = []
        self.faults: list[Fault] = []
        self.hung = threading.Event()  # set while a request is held by a hang fault
        self._release = threading.Event()
        self._lock = threading.RLock()
        self._state = self.initial_state()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- to implement ------------------------------------------------------------------------------

    def initial_state(self) -> dict:
        return {}

    def handle(self, request: Request, state: dict) -> Response:
        raise NotImplementedError

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> str:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    at=time.monotonic(),
                    raw_query=parts.query,
                )
                response = standin.dispatch(request)
                payload = response.encoded()
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up (timeout) or was killed: nobody reads this answer

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
                pass  # request lines would only repeat what `requests` records; never bodies

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name=type(self).__name__, daemon=True
        )
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self._release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------------------------------

    def fail(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def release(self) -> None:
        """Let held requests go on (their client is usually gone by then)."""
        self._release.set()

    def _take_fault(self, request: Request) -> Fault | None:
        chosen = None
        with self._lock:
            for fault in self.faults:
                if not fault.matches(request):
                    continue
                fault.seen += 1
                if chosen is None and fault.times > 0 and fault.seen > fault.skip:
                    fault.times -= 1
                    chosen = fault
        return chosen

    def _misbehave(self, fault: Fault) -> Response | None:
        if fault.hang:
            self.hung.set()
            self._release.wait(120)
            if not fault.after_apply:  # the client is gone: the request is dropped unprocessed
                return Response(499, {"error": "client closed the request"})
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status is None:
            return None
        return Response(fault.status, fault.body, dict(fault.headers), fault.content_type)

    def dispatch(self, request: Request) -> Response:
        with self._lock:
            self.requests.append(request)
        fault = self._take_fault(request)
        early = self._misbehave(fault) if fault and not fault.after_apply else None
        response = early
        if response is None:
            with self.transaction() as state:
                response = self.handle(request, state)
            if fault and fault.after_apply:
                response = self._misbehave(fault) or response
        request.status = response.status
        return response

    # -- state -------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[dict]:
        """The state, read and written whole under a lock (a file lock when it lives in a file)."""
        with self._lock:
            if self.state_file is None:
                yield self._state
                return
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            with open(self.state_file.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                state = json.loads(self.state_file.read_text()) if self.state_file.exists() else self.initial_state()
                yield state
                tmp = self.state_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(state, sort_keys=True))
                os.replace(tmp, self.state_file)

    def snapshot(self) -> dict:
        with self.transaction() as state:
            return json.loads(json.dumps(state))


def load_state(state_file: Path) -> dict:
    """A sandbox stand-in's state as it was left on disk."""
    return json.loads(Path(state_file).read_text()) if Path(state_file).exists() else {}
