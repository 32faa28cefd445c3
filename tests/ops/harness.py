"""Real servers for the operations tests: `fleet serve` processes and nginx in front of them."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from fleet.auth.security import hash_password_sync
from fleet.devices_api.simulator import SimDevice, provision
from fleet.models import User
from fleet.settings import sync_database_url
from tests.support import REPO, ROUNDS, free_port

PASSWORD = "correct-horse"


def add_users(database_url: str, users: dict[str, str]) -> None:
    """Insert users (username -> role) with the test password."""
    engine = create_engine(sync_database_url(database_url))
    digest = hash_password_sync(PASSWORD, ROUNDS)
    with Session(engine) as session, session.begin():
        for username, role in users.items():
            session.add(
                User(username=username, role=role, roles=[role], is_active=True,
                     password_hash=digest)
            )
    engine.dispose()


def add_devices(database_url: str, count: int, prefix: str) -> list[SimDevice]:
    """Create simulated testers with fresh DDI tokens."""
    engine = create_engine(sync_database_url(database_url))
    with Session(engine) as session, session.begin():
        devices = provision(session, count, prefix)
    engine.dispose()
    return devices


# -- nginx ------------------------------------------------------------------------------------
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )
    return cert, key


def site_config(
    upstreams: Sequence[int], https_port: int, http_port: int, cert: Path, key: Path
) -> str:
    """The deploy/ nginx site with this test's ports, upstreams and certificate."""
    text = (REPO / "deploy" / "nginx" / "fleet.conf").read_text()
    servers = "\n".join(f"    server 127.0.0.1:{p};" for p in upstreams)
    text = text.replace("    server 127.0.0.1:5000;\n", servers + "\n")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("/etc/ssl/fleet/fullchain.pem", str(cert))
    text = text.replace("/etc/ssl/fleet/privkey.pem", str(key))
    text = text.replace("fleet.example.com", "localhost")
    return text


@contextmanager
def nginx(directory: Path, upstreams: Sequence[int]) -> Iterator[str]:
    """nginx in the foreground with its own prefix and config; answers https://localhost:PORT."""
    directory.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "scratch"):
        (directory / sub).mkdir(exist_ok=True)
    cert, key = self_signed(directory)
    https_port, http_port = free_port(), free_port()
    site = site_config(upstreams, https_port, http_port, cert, key)
    conf = directory / "nginx.conf"
    conf.write_text(
        f"""daemon off;
{"user root root;" if os.geteuid() == 0 else ""}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/logs/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {directory}/logs/access.log;
    client_body_temp_path {directory}/scratch/body;
    proxy_temp_path {directory}/scratch/proxy;
    fastcgi_temp_path {directory}/scratch/fastcgi;
    uwsgi_temp_path {directory}/scratch/uwsgi;
    scgi_temp_path {directory}/scratch/scgi;
    types {{ text/html html; }}
{site}
}}
"""
    )
    proc = subprocess.Popen(
        [NGINX, "-p", str(directory), "-c", str(conf), "-e", str(directory / "logs/error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"https://localhost:{https_port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", https_port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError("nginx did not start: " + err) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def live_events(
    base: str, access_token: str, topics: str, context: ssl.SSLContext | None = None
) -> ClientConnection:
    """A WebSocket to /api/v1/ws of ``base`` (http(s) URL), signed in, subscribed to ``topics``.

    The one place these tests say how a WebSocket client signs in.
    """
    url = base.replace("http", "ws", 1) + f"/api/v1/ws?topics={topics}"
    return ws_connect(url, ssl=context, subprotocols=["fleet.v1", f"bearer.{access_token}"])  # type: ignore[list-item]
