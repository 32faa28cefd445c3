"""Request and response bodies of the auth API."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)


class QRLoginRequest(BaseModel):
    qr_code: str = Field(min_length=1, max_length=255)


class RefreshRequest(BaseModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class LogoutRequest(BaseModel):
    refresh_token: str | None = Field(default=None, max_length=512)


class SwitchRoleRequest(BaseModel):
    new_role: str = Field(min_length=1, max_length=50)


class TokenUser(BaseModel):
    id: int
    username: str
    email: str | None
    role: str
    roles: list[str]
    active_role: str


class TokenResponse(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
    user: TokenUser


class MeResponse(TokenUser):
    modules: list[str]
    is_active: bool
