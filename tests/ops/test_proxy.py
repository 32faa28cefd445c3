"""nginx (the deploy/ site, TLS with a throwaway certificate) in front of
`fleet serve --proxy-headers`: links, redirects and WebSockets keep https and the public host;
the client address comes from X-Forwarded-For only when the proxy is trusted."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import ssl
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from fleet.db import create_engine as create_async
from fleet.db import create_sessionmaker
from fleet.models import Device
from fleet.settings import Settings
from tests.factories import add_installation, add_version
from tests.ops.harness import PASSWORD, add_devices, add_users, live_events, nginx
from tests.support import base_env, serve

pytestmark = pytest.mark.ops


def _client(base: str, cert: Path, source: str = "127.0.0.1") -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(cert))
    transport = httpx.HTTPTransport(verify=verify, local_address=source)
    return httpx.Client(base_url=base, transport=transport, timeout=30)


def _failed_logins(base: str, cert: Path, source: str, names: list[str]) -> list[int]:
    with _client(base, cert, source) as http:
        return [
            http.post("/api/v1/auth/login", json={"username": n, "password": "nope"}).status_code
            for n in names
        ]


def test_behind_nginx(settings: Settings, tmp_path: Path) -> None:
    url = settings.resolved_database_url()
    add_users(url, {"boss": "manager", "mk": "maker"})
    device = add_devices(url, 1, "PRX")[0]

    async def installation() -> int:
        engine = create_async(settings)
        factory = create_sessionmaker(engine)
        try:
            version = await add_version(factory, settings)
            async with factory() as session:
                dev_id = await session.scalar(
                    select(Device.id).where(Device.device_number == device.controller_id))
            assert dev_id is not None
            return (await add_installation(factory, dev_id, version.id)).id
        finally:
            await engine.dispose()

    installation_id = asyncio.run(installation())
    limits = {"FLEET_LOGIN_MAX_FAILURES_PER_IP": "3", "FLEET_LOGIN_MAX_FAILURES_PER_USER": "50",
              "FLEET_SECRET_KEY": "p" * 48}

    # -- the proxy is trusted ------------------------------------------------------------------
    env = base_env(url, settings.data_dir, FLEET_FORWARDED_ALLOW_IPS="127.0.0.1", **limits)
    with (
        serve(env, tmp_path / "trusted.log", ["--proxy-headers"]) as served,
        nginx(tmp_path / "nginx1", [served.port]) as base,
    ):
        cert = tmp_path / "nginx1" / "cert.pem"
        with _client(base, cert) as http:
            r = http.post("/api/v1/auth/login", json={"username": "boss", "password": PASSWORD})
            assert r.status_code == 200, r.text
            token = r.json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            assert r.headers["X-Request-ID"]  # nginx's $request_id, kept by the app

            r = http.get("/api/v1/fleet-data/devices/", headers=auth)
            assert r.status_code in (307, 308)
            assert r.headers["location"] == f"{base}/api/v1/fleet-data/devices"

            ddi = f"/DEFAULT/controller/v1/{device.controller_id}"
            target = {"Authorization": f"TargetToken {device.token}"}
            r = http.get(ddi, headers=target)
            assert r.status_code == 200, r.text
            links = r.json()["_links"]
            assert links["configData"]["href"] == f"{base}{ddi}/configData"
            deployment = links["deploymentBase"]["href"]
            assert deployment.startswith(f"{base}{ddi}/deploymentBase/{installation_id}?")
            r = http.get(deployment.removeprefix(base), headers=target)
            assert r.status_code == 200, r.text
            artifact = r.json()["deployment"]["chunks"][0]["artifacts"][0]
            download = artifact["_links"]["download"]["href"]  # offered on https only
            assert download.startswith(f"{base}{ddi}/softwaremodules/")
            r = http.get(download.removeprefix(base), headers=target)
            assert r.status_code == 200 and len(r.content) == artifact["size"]

            # A firmware artifact far beyond nginx's default body limit, streamed through.
            maker = {"Authorization": "Bearer " + http.post(
                "/api/v1/auth/login", json={"username": "mk", "password": PASSWORD}
            ).json()["access_token"]}
            sw = http.post("/api/v1/fleet-software/software", headers=maker, json={
                "name": "Big FW", "category": "firmware", "vendor": "Acme", "platform": "arm"})
            assert sw.status_code == 201, sw.text
            ver = http.post(f"/api/v1/fleet-software/software/{sw.json()['id']}/versions",
                            headers=maker, json={"version_number": "9.0.0"})
            assert ver.status_code == 201, ver.text
            image = os.urandom(24 * 1024 * 1024)
            r = http.post(f"/api/v1/fleet-software/versions/{ver.json()['id']}/artifact",
                          headers=maker,
                          files={"file": ("big.swu", image, "application/octet-stream")})
            assert r.status_code == 200, r.text[:300]
            assert r.json()["checksum"] == hashlib.sha256(image).hexdigest()

        context = ssl.create_default_context(cafile=str(cert))
        with live_events(base, token, "fleet", context) as ws:
            ack = json.loads(ws.recv(timeout=10))
            assert ack["event"] == "subscribed" and ack["data"]["topics"] == ["fleet"]

        # Throttling counts per client address: the one nginx saw, passed on and believed.
        assert _failed_logins(base, cert, "127.0.0.2", ["a1", "a2", "a3", "a4"]) == [
            401, 401, 401, 429]
        assert _failed_logins(base, cert, "127.0.0.3", ["b1"]) == [401]

    # -- the same proxy, not trusted: every client is the proxy's address, links say http ------
    env = base_env(url, settings.data_dir, FLEET_FORWARDED_ALLOW_IPS="10.255.255.1", **limits)
    with (
        serve(env, tmp_path / "untrusted.log", ["--proxy-headers"]) as served,
        nginx(tmp_path / "nginx2", [served.port]) as base,
    ):
        cert = tmp_path / "nginx2" / "cert.pem"
        assert _failed_logins(base, cert, "127.0.0.4", ["c1", "c2", "c3"]) == [401, 401, 401]
        assert _failed_logins(base, cert, "127.0.0.5", ["d1"]) == [429]
        with _client(base, cert) as http:
            r = http.get("/api/v1/fleet-data/devices/")
            assert r.headers["location"].startswith("http://")
