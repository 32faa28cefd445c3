"""What the tests and the benchmarks (``bench/``) share: a free port, a real ``fleet serve``
started and waited for, and PostgreSQL databases created, emptied or dropped.

The benchmarks run as plain scripts (``python bench/x.py``) and put the repository root on
``sys.path`` to import this module; so it imports neither pytest nor the tests' fixtures, only
the product and what the product itself depends on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from fleet.settings import sync_database_url

REPO = Path(__file__).resolve().parents[1]
FLEET = (sys.executable, "-m", "fleet.cli")
ROUNDS = 4  # bcrypt cost of the served apps: cheap, the tests sign in often


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment less any setting of the app (``FLEET_*``, ``DATABASE_URL``,
    ``PROMETHEUS_MULTIPROC_DIR``), plus ``settings``: what a served app should start from."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLEET_", "DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"))
    }
    env.update(settings)
    return env


def base_env(database_url: str | None, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a served app in development mode with cheap password hashes, on
    ``database_url`` (or the SQLite file in ``data_dir``), plus ``extra``."""
    env = clean_env(
        FLEET_DATA_DIR=str(data_dir), FLEET_ENV="development", FLEET_BCRYPT_ROUNDS=str(ROUNDS)
    )
    if database_url is not None:
        env["FLEET_DATABASE_URL"] = database_url
    env.update(extra)
    return env


# -- a served app -----------------------------------------------------------------------------


@dataclass
class Served:
    """A ``fleet serve`` child process on 127.0.0.1:``port``; ``base`` is its http:// URL."""

    base: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path | None

    @property
    def address(self) -> str:
        """``host:port``, for clients that want no scheme (DDI clients, WebSockets)."""
        return f"127.0.0.1:{self.port}"

    def lines(self) -> list[str]:
        assert self.log is not None
        return self.log.read_text(errors="replace").splitlines()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to the server and its workers (like systemd), SIGKILL if they linger."""
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def wait_healthy(
    base: str,
    proc: subprocess.Popen[bytes],
    log: Path | None = None,
    *,
    timeout: float = 90,
    interval: float = 0.2,
) -> None:
    """Wait until ``base``/health answers 200; RuntimeError (with the log's end) when the
    process ends first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log is not None else ""
            raise RuntimeError(f"server did not start ({base}):\n{tail}")
        time.sleep(interval)


def start_server(
    env: dict[str, str],
    log: Path | None,
    args: Sequence[str] = (),
    *,
    fleet: Sequence[str] = FLEET,
    port: int | None = None,
    timeout: float = 90,
) -> Served:
    """Start ``fleet serve`` on a free port (in a session of its own, so that its workers stop
    with it) and wait until it is healthy. Output goes to ``log`` (appended), or nowhere."""
    port = port or free_port()
    command = [*fleet, "serve", "--port", str(port), *args]
    if log is None:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    else:
        with open(log, "ab") as out:  # the child keeps a descriptor of its own
            proc = subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
    served = Served(f"http://127.0.0.1:{port}", port, proc, log)
    try:
        wait_healthy(served.base, proc, log, timeout=timeout)
    except BaseException:
        served.stop()
        raise
    return served


@contextmanager
def serve(
    env: dict[str, str],
    log: Path | None,
    args: Sequence[str] = (),
    *,
    fleet: Sequence[str] = FLEET,
    timeout: float = 90,
) -> Iterator[Served]:
    """``fleet serve`` on a free port until the block ends (then SIGTERM, like systemd)."""
    served = start_server(env, log, args, fleet=fleet, timeout=timeout)
    try:
        yield served
    finally:
        served.stop()


def run_fleet(
    *args: str,
    env: dict[str, str],
    check: bool = True,
    input: str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run one ``fleet`` command to its end (with ``check``, it must succeed)."""
    return subprocess.run(
        [*FLEET, *args],
        env=env,
        check=check,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
    )


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# -- SQL statements ---------------------------------------------------------------------------


def _sync(engine: Engine | AsyncEngine) -> Engine:
    return engine.sync_engine if isinstance(engine, AsyncEngine) else engine


def count_statements(app: Any) -> list[str]:
    """The SQL statements ``app``'s engine sends from now on (until it is disposed)."""
    statements: list[str] = []
    event.listen(
        _sync(app.state.engine),
        "before_cursor_execute",
        lambda _c, _cur, statement, *_a: statements.append(statement),
    )
    return statements


@contextmanager
def sql_statements(engine: Engine | AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sync = _sync(engine)
    event.listen(sync, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(sync, "before_cursor_execute", count)


# -- PostgreSQL -------------------------------------------------------------------------------


def ensure_database(url: str) -> None:
    """Create the database of ``url`` unless it exists (connecting to ``postgres``)."""
    sync = sync_database_url(url)
    admin = create_engine(sync.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": sync.database}
        )
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{sync.database}"'))
    admin.dispose()


def empty_postgres(url: str) -> None:
    """Drop everything in the database of ``url`` (its public schema, made again empty)."""
    engine = create_engine(sync_database_url(url))
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def fresh_postgres(url: str) -> None:
    """An empty database at ``url``: created if missing, emptied if not."""
    ensure_database(url)
    empty_postgres(url)


def recreate_database(url: str) -> None:
    """Drop the database of ``url`` (closing its connections) and create it again, empty."""
    drop_database(url)
    sync = sync_database_url(url)
    admin = create_engine(sync.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{sync.database}"'))
    admin.dispose()


def drop_database(url: str) -> None:
    """Drop the database of ``url`` if it exists, closing its connections."""
    sync = sync_database_url(url)
    admin = create_engine(sync.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{sync.database}" WITH (FORCE)'))
    admin.dispose()
