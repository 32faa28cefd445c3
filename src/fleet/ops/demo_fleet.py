"""The living demo (``fleet serve --demo``): the demo's testers come alive inside the server.

``fleet demo`` writes devices nobody operates, so without this nothing ever polls and a started
roll-out would wait in its first group for ever. With ``--demo`` (or ``FLEET_DEMO_FLEET=1``)
``fleet serve`` first makes sure the demo data exists, then runs the simulated fleet of
``fleet simulate`` in a thread of its own process: every active demo tester polls the DDI API
of this very server every ``FLEET_DEMO_POLL_SECONDS``, installs what a roll-out sends it and
reports back, so roll-outs move from group to group and finish. The simulated testers stream no
telemetry: Connect++ runs its tests on the built-in simulated bench, whose curve would otherwise
be mixed with theirs.

The devices' DDI tokens are kept in the data dir (``demo-fleet.tokens``) and reused while they
are valid, so restarts do not pile up tokens.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.devices_api import simulator
from fleet.devices_api.credentials import digest, new_token
from fleet.models import Device, DeviceToken
from fleet.settings import ConfigError, Settings

log = logging.getLogger("fleet.demo_fleet")

TOKENS_FILE = "demo-fleet.tokens"
SEED = 17  # the demo behaves the same on every start
STARTUP_SECONDS = 120  # how long the fleet waits for its server to answer


def demo_numbers() -> list[str]:
    """The demo devices that poll: every active one of ``fleet demo``'s devices."""
    from fleet.fleet_data.demo import DEVICES

    return [number for number, _type, _kind, _customer, status in DEVICES if status == "active"]


def seed(settings: Settings) -> None:
    """Create the demo data that is missing (what ``fleet demo`` does; idempotent)."""
    from fleet import demo
    from fleet.db import create_sync_engine

    engine = create_sync_engine(settings)
    try:
        with Session(engine) as session, session.begin():
            demo.run(session, settings.bcrypt_rounds)
    finally:
        engine.dispose()


def credentials(session: Session, path: Path, numbers: list[str]) -> list[simulator.SimDevice]:
    """The demo devices with a valid DDI token each: the saved ones if valid, else fresh ones."""
    saved = simulator.read_tokens(path.read_text()) if path.is_file() else []
    devices = {d.device_number: d for d in session.scalars(
        select(Device).where(Device.device_number.in_(numbers))
    )}
    valid = {
        row.token_hash
        for row in session.scalars(
            select(DeviceToken).where(
                DeviceToken.token_hash.in_([digest(s.token) for s in saved]),
                DeviceToken.revoked_at.is_(None),
                DeviceToken.expires_at.is_(None),
            )
        )
    }
    chosen = {s.controller_id: s for s in saved if digest(s.token) in valid}
    for number, device in devices.items():
        if number in chosen:
            continue
        token = new_token()
        session.add(DeviceToken(device_id=device.id, token_hash=digest(token), prefix=token[:12]))
        chosen[number] = simulator.SimDevice(number, token)
    session.flush()
    answer = [chosen[n] for n in numbers if n in chosen and n in devices]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{d.controller_id} {d.token}\n" for d in answer))
    path.chmod(0o600)
    return answer


class DemoFleet:
    """The simulated demo testers, polling ``base`` from a thread until ``stop``."""

    def __init__(self, settings: Settings, base: str) -> None:
        self.settings = settings
        self.base = base
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="demo-fleet", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:  # the demo must never take the server down with it
            log.exception("the demo fleet stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if not await self._server_up():
            return
        from fleet.db import create_sync_engine

        engine = create_sync_engine(self.settings)
        try:
            with Session(engine) as session, session.begin():
                devices = credentials(
                    session, self.settings.data_dir / TOKENS_FILE, demo_numbers()
                )
        finally:
            engine.dispose()
        log.info(
            "demo fleet: %d simulated testers poll every %s s",
            len(devices),
            self.settings.demo_poll_seconds,
        )
        await simulator.run(
            self.base,
            devices,
            tenant=self.settings.tenant,
            poll_interval=self.settings.demo_poll_seconds,
            telemetry=False,
            stop=self._stop,
            seed=SEED,
        )

    async def _server_up(self) -> bool:
        """Wait until the server answers /health (or the fleet is stopped first)."""
        assert self._stop is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        async with httpx.AsyncClient(base_url=self.base, timeout=2) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    if (await client.get("/health")).status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        return False


def start(settings: Settings, host: str, port: int) -> DemoFleet:
    """Seed the demo data and start its fleet against the server about to listen on host:port."""
    if settings.env == "production":
        raise ConfigError("the demo fleet is for development only (FLEET_ENV=production)")
    seed(settings)
    reach = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104
    if ":" in reach:
        reach = f"[{reach}]"
    fleet = DemoFleet(settings, f"http://{reach}:{port}")
    fleet.start()
    return fleet
