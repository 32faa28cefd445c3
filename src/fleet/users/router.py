"""``/api/v1/users``: the users admin area (admin, superuser, maker)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from fleet.auth.deps import AdminPrincipal
from fleet.deps import SessionDep, SettingsDep
from fleet.errors import NotFound
from fleet.pagination import PageDep, paginate
from fleet.users import service
from fleet.users.badge import badge_pdf
from fleet.users.schemas import GrantableRoles, QRCodeRead, UserCreate, UserRead, UserUpdate

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserRead])
async def list_users(
    _: AdminPrincipal,
    session: SessionDep,
    page: PageDep,
    response: Response,
    role: Annotated[str | None, Query(max_length=50)] = None,
    is_active: bool | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> list[UserRead]:
    """List users, filtered by role, active flag and a search on username/email."""
    rows = await paginate(session, service.query_users(role, is_active, q), page, response)
    return [service.to_read(u) for u in rows]


@router.get("/grantable-roles", response_model=GrantableRoles)
async def grantable_roles(actor: AdminPrincipal) -> GrantableRoles:
    """The roles the caller may grant or remove, and find on an account he changes."""
    return GrantableRoles(roles=service.grantable_roles(actor))


@router.post("", response_model=UserRead, status_code=201)
async def create_user(
    body: UserCreate, actor: AdminPrincipal, session: SessionDep, settings: SettingsDep
) -> UserRead:
    """Create a user."""
    user = await service.create_user(session, actor, body, settings.bcrypt_rounds)
    return service.to_read(user)


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: int, _: AdminPrincipal, session: SessionDep) -> UserRead:
    """Return one user."""
    return service.to_read(await service.get_user(session, user_id))


@router.patch("/{user_id}", response_model=UserRead)
async def update_user(
    user_id: int,
    body: UserUpdate,
    actor: AdminPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> UserRead:
    """Change the fields given; roles can only be granted by someone who holds them."""
    user = await service.get_user(session, user_id)
    return service.to_read(
        await service.update_user(session, actor, user, body, settings.bcrypt_rounds)
    )


@router.delete("/{user_id}", response_model=UserRead)
async def deactivate_user(user_id: int, actor: AdminPrincipal, session: SessionDep) -> UserRead:
    """Deactivate a user (accounts are never deleted: the audit trail refers to them)."""
    user = await service.get_user(session, user_id)
    return service.to_read(await service.deactivate_user(session, actor, user))


@router.post("/{user_id}/qr-code", response_model=QRCodeRead)
async def regenerate_qr_code(
    user_id: int, actor: AdminPrincipal, session: SessionDep
) -> QRCodeRead:
    """Issue a new QR login code for the user; the old badge stops working."""
    user = await service.get_user(session, user_id)
    code = await service.regenerate_qr(session, actor, user)
    return QRCodeRead(user_id=user.id, qr_code=code)


@router.get("/{user_id}/qr-code", response_model=QRCodeRead)
async def get_qr_code(user_id: int, actor: AdminPrincipal, session: SessionDep) -> QRCodeRead:
    """Return the user's current QR login code (it logs in as him: same rule as changing him)."""
    user = await service.get_user(session, user_id)
    service.guard_manage(actor, user)
    if not user.qr_code:
        raise NotFound("User has no QR code; regenerate one")
    return QRCodeRead(user_id=user.id, qr_code=user.qr_code)


@router.get(
    "/{user_id}/badge",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}, "application/pdf": {}}}},
)
async def badge(
    user_id: int,
    actor: AdminPrincipal,
    session: SessionDep,
    format: Literal["png", "svg", "pdf"] = "png",
) -> Response:
    """Render the user's QR login badge as PNG or SVG, or as a printable card (PDF) with the
    user's name and roles (same rule as changing him)."""
    user = await service.get_user(session, user_id)
    service.guard_manage(actor, user)
    if not user.qr_code:
        raise NotFound("User has no QR code; regenerate one")
    if format == "pdf":
        return Response(
            content=badge_pdf(user),
            media_type="application/pdf",
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'inline; filename="badge-{user.username}.pdf"',
            },
        )
    data, media_type = service.badge_image(user.qr_code, format)
    return Response(content=data, media_type=media_type, headers={"Cache-Control": "no-store"})
