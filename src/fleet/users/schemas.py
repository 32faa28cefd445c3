"""Bodies of the users admin API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from fleet.auth.roles import ROLES
from fleet.auth.security import BCRYPT_MAX_BYTES

Password = Field(min_length=8, max_length=BCRYPT_MAX_BYTES)


def _check_role(value: str) -> str:
    if value not in ROLES:
        raise ValueError(f"unknown role '{value}'; expected one of {', '.join(ROLES)}")
    return value


def _check_password(value: str | None) -> str | None:
    if value is not None and len(value.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"password must be at most {BCRYPT_MAX_BYTES} bytes")
    return value


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    email: EmailStr | None = Field(default=None, max_length=255)
    password: str = Password
    role: str = Field(max_length=50)
    roles: list[str] | None = Field(default=None, max_length=len(ROLES))
    is_active: bool = True

    _role = field_validator("role")(_check_role)
    _pw = field_validator("password")(_check_password)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_role(r) for r in value]


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr | None = Field(default=None, max_length=255)
    password: str | None = Field(default=None, min_length=8, max_length=BCRYPT_MAX_BYTES)
    role: str | None = Field(default=None, max_length=50)
    roles: list[str] | None = Field(default=None, max_length=len(ROLES))
    is_active: bool | None = None

    _pw = field_validator("password")(_check_password)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        return None if value is None else _check_role(value)

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_check_role(r) for r in value]


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str | None
    role: str
    roles: list[str]
    is_active: bool
    has_qr_code: bool
    created_at: datetime | None
    updated_at: datetime | None


class QRCodeRead(BaseModel):
    user_id: int
    qr_code: str


class GrantableRoles(BaseModel):
    roles: list[str] = Field(description="Roles the caller may grant or remove, in role order")
