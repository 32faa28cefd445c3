"""HTTP API of the Fleet Software Manager under ``/api/v1/fleet-software``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse
from sqlalchemy import func, select

from fleet.auth.deps import CurrentPrincipal, Principal, require_module
from fleet.db import commit_early
from fleet.deps import ReadConnDep, SessionDep, SettingsDep
from fleet.errors import Forbidden, NotFound
from fleet.pagination import PageDep, paginate
from fleet.reads import json_page
from fleet.software import (
    artifacts,
    catalog,
    dashboard,
    delivery,
    installation_views,
    installations,
    rollout_views,
    rollouts,
    versions,
)
from fleet.software.policy import INSTALLATION_POLICY
from fleet.software.schemas import (
    SOFTWARE_ROWS,
    Action,
    Category,
    DeviceReport,
    DeviceSoftwareRead,
    InstallationCreate,
    InstallationDetail,
    InstallationRead,
    InstallationStatus,
    InstallationUpdate,
    RolloutCreate,
    RolloutDetail,
    RolloutRead,
    SoftwareCreate,
    SoftwareRead,
    SoftwareUpdate,
    VersionCreate,
    VersionRead,
    VersionUpdate,
)

router = APIRouter(prefix="/fleet-software", tags=["fleet-software"])
MakerDep = Annotated[Principal, Depends(require_module("FSM"))]


async def _fleet_reader(principal: CurrentPrincipal) -> Principal:
    if not (principal.can("FSM") or principal.can("FDM")):
        raise Forbidden(f"Role '{principal.active_role}' has no access to device software")
    return principal


FleetReaderDep = Annotated[Principal, Depends(_fleet_reader)]


# Catalog


@router.get("/software", response_model=list[SoftwareRead])
async def list_software(
    conn: ReadConnDep,
    _p: MakerDep,
    page: PageDep,
    category: Category | None = None,
    platform: str | None = None,
    vendor: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    is_active: bool | None = None,
) -> Response:
    """List the catalog with version count, latest stable version and installation count."""
    filters = catalog.CatalogFilters(
        category=category, platform=platform, vendor=vendor, q=q, is_active=is_active
    )
    items, total = await catalog.catalog_rows(conn, filters, page.skip, page.limit)
    return json_page(SOFTWARE_ROWS, items, total)


@router.post("/software", response_model=SoftwareRead, status_code=status.HTTP_201_CREATED)
async def create_software(
    data: SoftwareCreate, session: SessionDep, principal: MakerDep
) -> SoftwareRead:
    """Add a package to the catalog."""
    software = await catalog.create(session, data, actor=principal)
    return await catalog.read_one(session, software.id)


@router.get("/software/{software_id}", response_model=SoftwareRead)
async def get_software(software_id: int, session: SessionDep, _p: MakerDep) -> SoftwareRead:
    """Show one package with its counts."""
    return await catalog.read_one(session, software_id)


@router.patch("/software/{software_id}", response_model=SoftwareRead)
async def update_software(
    software_id: int, data: SoftwareUpdate, session: SessionDep, principal: MakerDep
) -> SoftwareRead:
    """Change a package's fields (only those sent), e.g. deactivate it."""
    await catalog.update(session, software_id, data, actor=principal)
    return await catalog.read_one(session, software_id)


@router.delete("/software/{software_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_software(
    software_id: int, session: SessionDep, settings: SettingsDep, principal: MakerDep
) -> Response:
    """Delete a package and its versions; refused (409) once any version was installed."""
    files = await catalog.delete(session, software_id, actor=principal)
    await commit_early(session, "software-delete")
    artifacts.remove_files(settings, files)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# Versions


@router.get("/software/{software_id}/versions", response_model=list[VersionRead])
async def list_versions(
    software_id: int, session: SessionDep, _p: MakerDep, page: PageDep, response: Response
) -> list[Any]:
    """List a package's versions, newest first in semantic order (2.10.0 before 2.9.0)."""
    rows = await versions.list_versions(session, software_id)
    response.headers["X-Total-Count"] = str(len(rows))
    return rows[page.skip : page.skip + page.limit]


@router.post(
    "/software/{software_id}/versions",
    response_model=VersionRead,
    status_code=status.HTTP_201_CREATED,
)
async def create_version(
    software_id: int, data: VersionCreate, session: SessionDep, principal: MakerDep
) -> Any:
    """Add a version with its metadata; upload its artifact next."""
    return await versions.create(session, software_id, data, actor=principal)


@router.get("/versions/{version_id}", response_model=VersionRead)
async def get_version(version_id: int, session: SessionDep, _p: MakerDep) -> Any:
    """Show one version."""
    return await versions.get(session, version_id)


@router.patch("/versions/{version_id}", response_model=VersionRead)
async def update_version(
    version_id: int, data: VersionUpdate, session: SessionDep, principal: MakerDep
) -> Any:
    """Change a version's metadata (release notes, flags, compatibility)."""
    return await versions.update_version(session, version_id, data, actor=principal)


@router.delete("/versions/{version_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_version(
    version_id: int, session: SessionDep, settings: SettingsDep, principal: MakerDep
) -> Response:
    """Delete a version that no installation or roll-out uses, with its artifact."""
    path = await versions.delete(session, version_id, actor=principal)
    await commit_early(session, "version-delete")
    artifacts.remove_files(settings, [path] if path else [])
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/versions/{version_id}/artifact",
    response_model=VersionRead,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "sha256": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                        },
                    }
                }
            },
        }
    },
)
async def upload_artifact(
    version_id: int,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: MakerDep,
) -> Any:
    """Upload a version's artifact (streamed); the server computes size and SHA-256.

    A differing optional ``sha256`` field, an empty or oversized file → 4xx and nothing stored.
    """
    version = await versions.get(session, version_id)
    await artifacts.check_replaceable(session, version)
    upload = await artifacts.receive(request, settings)
    final: Path | None = None
    try:
        final, old = await artifacts.attach(session, settings, version, upload, actor=principal)
        # Commit here rather than after the response so a failed commit can take the file away.
        await commit_early(session, "artifact-upload")
    except BaseException:
        upload.temp_path.unlink(missing_ok=True)
        if final is not None:
            artifacts.remove_files(settings, [final])
        raise
    if old is not None:
        artifacts.remove_files(settings, [old])
    return version


@router.get("/versions/{version_id}/artifact", response_class=FileResponse)
async def download_artifact(
    version_id: int, request: Request, session: SessionDep, _p: MakerDep
) -> FileResponse:
    """Download a version's artifact (HTTP Range supported; SHA-256 in X-Checksum-SHA256)."""
    version = await versions.get(session, version_id)
    return await artifacts.stream_response(version, request, session)


# Installations


async def _installation_row(session: SessionDep, installation_id: int) -> Any:
    row = (await session.execute(installation_views.ONE_BY_ID, {"iid": installation_id})).first()
    if row is None:
        raise NotFound(f"Installation {installation_id} not found")
    return row


async def _installation_read(session: SessionDep, installation_id: int) -> dict[str, Any]:
    return installation_views.row_dict(await _installation_row(session, installation_id))


async def _installation_detail(session: SessionDep, installation_id: int) -> dict[str, Any]:
    out = await _installation_read(session, installation_id)
    out["delivery"] = await delivery.installation_options(session, installation_id)
    out["device_reports"] = [
        DeviceReport.model_validate(r)
        for r in await delivery.device_reports(session, installation_id)
    ]
    return out


@router.get("/installations", response_model=list[InstallationRead])
async def list_installations(
    session: SessionDep,
    _p: MakerDep,
    page: PageDep,
    response: Response,
    device_id: int | None = None,
    software_id: int | None = None,
    version_id: int | None = None,
    status: InstallationStatus | None = None,
    action: Action | None = None,
    rollout_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[dict[str, Any]]:
    """List installations, newest first, filtered by device, software, status, action, dates."""
    stmt = installation_views.list_query(
        device_id=device_id,
        software_id=software_id,
        version_id=version_id,
        status=status,
        action=action,
        rollout_id=rollout_id,
        since=since,
        until=until,
    )
    total = await session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    response.headers["X-Total-Count"] = str(total or 0)
    rows = (await session.execute(stmt.offset(page.skip).limit(page.limit))).all()
    return [installation_views.row_dict(r) for r in rows]


@router.post(
    "/installations", response_model=InstallationDetail, status_code=status.HTTP_201_CREATED
)
async def create_installation(
    data: InstallationCreate, session: SessionDep, principal: MakerDep
) -> dict[str, Any]:
    """Start an installation (install, update, uninstall or rollback) on a device; 409 with
    the reason when it cannot start."""
    delivery.check(data)
    installation = await installations.create_installation(
        session,
        device_id=data.device_id,
        version_id=data.version_id,
        action=data.action,
        initiated_by=principal.user_id,
        ip=principal.ip,
    )
    delivery.add_installation_options(session, installation.id, data)
    await session.flush()
    return await _installation_detail(session, installation.id)


@router.get("/installations/{installation_id}", response_model=InstallationDetail)
async def get_installation(
    installation_id: int, session: SessionDep, _p: MakerDep
) -> dict[str, Any]:
    """Show one installation with its log, its delivery options and the device's reports
    (DDI feedback: execution, result, code and details of each)."""
    return await _installation_detail(session, installation_id)


@router.patch("/installations/{installation_id}", response_model=InstallationDetail)
async def update_installation(
    installation_id: int, data: InstallationUpdate, session: SessionDep, principal: MakerDep
) -> dict[str, Any]:
    """Report progress or move the status (pending → in_progress → completed | failed, or
    canceled); an illegal move → 409. Same code path as the device API's feedback."""
    # One query loads the installation with its names; they do not change, the status does.
    row = await _installation_row(session, installation_id)
    installation = row[0]
    if data.status is None:
        await installations.record_progress(
            session, installation, log_line=data.log_line, progress=data.progress
        )
    else:
        await installations.transition(
            session,
            installation,
            data.status,
            policy=INSTALLATION_POLICY,
            log_line=data.log_line,
            error_message=data.error_message,
            progress=data.progress,
            actor_user_id=principal.user_id,
            ip=principal.ip,
        )
    return installation_views.row_dict(row)


@router.get("/devices/{device_id}/software", response_model=list[DeviceSoftwareRead])
async def device_software(
    device_id: int, session: SessionDep, _p: FleetReaderDep, response: Response
) -> list[dict[str, Any]]:
    """List what a device runs: each package with version, status and newest stable version."""
    rows = await installation_views.device_software(session, device_id)
    response.headers["X-Total-Count"] = str(len(rows))
    return rows


# Roll-outs


async def _rollout_detail(
    session: SessionDep, rollout: Any, excluded: list[dict[str, Any]] | None = None
) -> RolloutDetail:
    read = (await _rollout_reads(session, [rollout]))[0]
    groups = await rollout_views.group_details(session, rollout)
    return RolloutDetail(
        **read.model_dump(),
        groups=groups,
        excluded=excluded or [],
        delivery=await delivery.rollout_options(session, rollout.id),
    )


async def _rollout_reads(session: SessionDep, items: list[Any]) -> list[RolloutRead]:
    sums = await rollout_views.summaries(session, items)
    out = []
    for r in items:
        s = sums[r.id]
        done = s["completed"] + s["failed"] + s["canceled"]
        out.append(
            RolloutRead.model_validate(r).model_copy(
                update={
                    "completed": s["completed"],
                    "failed": s["failed"],
                    "canceled": s["canceled"],
                    "group_count": s["groups"],
                    "progress_percent": round(done * 100 / r.total_devices, 1)
                    if r.total_devices
                    else 0.0,
                }
            )
        )
    return out


@router.get("/rollouts", response_model=list[RolloutRead])
async def list_rollouts(
    session: SessionDep,
    _p: MakerDep,
    page: PageDep,
    response: Response,
    status: Annotated[str | None, Query(max_length=20)] = None,
    version_id: int | None = None,
) -> list[RolloutRead]:
    """List roll-outs, newest first, with overall progress."""
    items = await paginate(session, rollout_views.list_query(status, version_id), page, response)
    return await _rollout_reads(session, items)


@router.post("/rollouts", response_model=RolloutDetail, status_code=status.HTTP_201_CREATED)
async def create_rollout(
    data: RolloutCreate, session: SessionDep, principal: MakerDep
) -> RolloutDetail:
    """Create a draft roll-out of one version to explicit devices or a device filter, in
    groups; incompatible devices are left out and listed in ``excluded``."""
    delivery.check(data)
    rollout, excluded = await rollouts.create_rollout(
        session,
        name=data.name,
        version_id=data.version_id,
        device_ids=data.device_ids,
        flt=data.filter.model_dump(exclude_none=True) if data.filter else None,
        group_size=data.group_size,
        success_threshold=data.success_threshold,
        error_threshold=data.error_threshold,
        user_id=principal.user_id,
        ip=principal.ip,
    )
    delivery.add_rollout_options(session, rollout.id, data)
    await session.flush()
    return await _rollout_detail(session, rollout, excluded)


@router.get("/rollouts/{rollout_id}", response_model=RolloutDetail)
async def get_rollout(rollout_id: int, session: SessionDep, _p: MakerDep) -> RolloutDetail:
    """Show a roll-out with its groups and each group's devices counted by status."""
    return await _rollout_detail(session, await rollouts.get_rollout(session, rollout_id))


def _rollout_action(name: str, doc: str, **extra: Any) -> None:
    command = getattr(rollouts, name)

    async def endpoint(rollout_id: int, session: SessionDep, principal: MakerDep) -> RolloutDetail:
        rollout = await command(
            session, rollout_id, user_id=principal.user_id, ip=principal.ip, **extra
        )
        return await _rollout_detail(session, rollout)

    endpoint.__name__ = f"{name}_rollout"
    endpoint.__doc__ = doc
    router.add_api_route(
        f"/rollouts/{{rollout_id}}/{name}",
        endpoint,
        methods=["POST"],
        response_model=RolloutDetail,
    )


_rollout_action("start", "Start a draft roll-out: its first group's installations are created.")
_rollout_action("pause", "Pause a running roll-out: no further group starts.")
_rollout_action("resume", "Resume a paused roll-out.")
_rollout_action(
    "cancel", "Cancel a roll-out and its unfinished installations.", policy=INSTALLATION_POLICY
)


# Dashboard


@router.get("/dashboard/stats")
async def dashboard_stats(session: SessionDep, _p: MakerDep) -> dict[str, Any]:
    """Answer totals, software by category, installations by status, recent releases and
    outdated devices per software."""
    return await dashboard.stats(session)
