"""What the app keeps on ``app.state``, named and typed in one place.

Starlette's ``app.state`` takes any attribute and types none. Code does not read it directly:
``app_state(app)`` (lifespan tasks, WebSocket handlers, installers) and ``state_of(request)``
answer an ``AppState``, a typed view of the same attributes (nothing is copied, so what one part
sets, every other part and every test sees at once). Endpoints take the typed dependencies
below (``EventBusDep``, ``SessionmakerDep``, ...), or ``SettingsDep``/``SessionDep`` from
``fleet.deps``.

Who sets what: ``fleet.app.create_app`` the settings, engines, session factory, memos, signing
secret and a first event bus; ``fleet.devices_api.runtime`` the device API's settings, the
cross-worker event bus and the feedback batcher; ``fleet.overload`` the connection gate;
``fleet.ops.web`` the database collector of /metrics. The rest is created on first use.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar, cast, overload

from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.datastructures import State

from fleet.devices_api.quotas import Quota
from fleet.events import EventBus
from fleet.fleet_data.cache import DashboardCache
from fleet.memo import Memo
from fleet.ops.metrics import DatabaseCollector
from fleet.settings import DdiSettings, Settings

T = TypeVar("T")
_MISSING = object()


class _Slot(Generic[T]):
    """One attribute of ``app.state``: read and written under its own name, with its type.

    ``default`` is answered while the attribute was never set; ``default_factory`` creates it
    then and keeps it."""

    def __init__(
        self, default: Any = _MISSING, default_factory: Callable[[], T] | None = None
    ) -> None:
        self.default, self.default_factory = default, default_factory

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Slot[T]: ...
    @overload
    def __get__(self, obj: AppState, owner: type) -> T: ...
    def __get__(self, obj: AppState | None, owner: type) -> T | _Slot[T]:
        if obj is None:
            return self
        state = obj.state
        if self.default_factory is not None:
            value = getattr(state, self.name, _MISSING)
            if value is _MISSING:
                value = self.default_factory()
                setattr(state, self.name, value)
            return cast(T, value)
        if self.default is not _MISSING:
            return getattr(state, self.name, self.default)
        return getattr(state, self.name)

    def __set__(self, obj: AppState, value: T) -> None:
        setattr(obj.state, self.name, value)


class AppState:
    """A typed view of one app's ``app.state``."""

    __slots__ = ("state",)

    settings: _Slot[Settings] = _Slot()
    engine: _Slot[AsyncEngine] = _Slot()
    sessionmaker: _Slot[async_sessionmaker[AsyncSession]] = _Slot()
    # The same database without transactions, for endpoints that only read (fleet.deps).
    read_engine: _Slot[AsyncEngine] = _Slot()
    # Requests take their turn for a connection here (fleet.overload).
    db_gate: _Slot[asyncio.Semaphore] = _Slot()
    jwt_secret: _Slot[str] = _Slot()
    # The event bus: in-process at first, the cross-worker FanoutBus once the device API is in.
    events: _Slot[EventBus] = _Slot()
    principal_cache: _Slot[Memo[Any]] = _Slot()
    device_totals: _Slot[Memo[Any]] = _Slot()
    # The device API: its settings (settings.ddi), batched action feedback, per-worker quotas.
    device_api: _Slot[DdiSettings] = _Slot()
    # fleet.devices_api.feedback.FeedbackBatcher. Its module sits above this one (it needs the
    # database and the models), so the readers name the type: ``batcher: FeedbackBatcher = ...``.
    feedback: _Slot[Any] = _Slot()
    ddi_quotas: _Slot[dict[str, Quota]] = _Slot(default_factory=dict)
    metrics_collector: _Slot[DatabaseCollector | None] = _Slot(default=None)
    fleet_dashboard: _Slot[DashboardCache | None] = _Slot(default=None)
    # fleet.runs.live.BenchRunner, typed by its owner (``runner_for``), as ``feedback`` above.
    bench_runner: _Slot[Any] = _Slot(default=None)

    def __init__(self, state: State) -> None:
        self.state = state


def app_state(app: FastAPI) -> AppState:
    """The typed view of an app's state (for code outside a request: lifespan, WebSockets)."""
    return AppState(app.state)


def state_of(request: Request) -> AppState:
    """The typed view of the state of the app serving this request."""
    return AppState(request.app.state)


# Dependencies are coroutines even when they only read: FastAPI runs a plain function in a
# worker thread, a hop that costs more than the work on every request.
async def _state(request: Request) -> AppState:
    return state_of(request)


async def _events(request: Request) -> EventBus:
    return state_of(request).events


async def _sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return state_of(request).sessionmaker


async def _device_api(request: Request) -> DdiSettings:
    return state_of(request).device_api


async def _jwt_secret(request: Request) -> str:
    return state_of(request).jwt_secret


async def _device_totals(request: Request) -> Memo[Any]:
    return state_of(request).device_totals


StateDep = Annotated[AppState, Depends(_state)]
EventBusDep = Annotated[EventBus, Depends(_events)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessionmaker)]
DeviceApiDep = Annotated[DdiSettings, Depends(_device_api)]
JwtSecretDep = Annotated[str, Depends(_jwt_secret)]
DeviceTotalsDep = Annotated[Memo[Any], Depends(_device_totals)]
