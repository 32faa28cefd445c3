"""Artifact files: streamed uploads checked by SHA-256, and ranged downloads.

An upload is written chunk by chunk to a temporary file inside the artifacts directory while it
is hashed, so memory stays constant whatever the size; only a complete, checked file is renamed
into place. The router commits the version row right after and removes the file again when the
commit fails, so the row and the file appear together or not at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from fleet.audit import service as audit
from fleet.auth.deps import Principal
from fleet.errors import BadRequest, Conflict, DomainError, NotFound, ValidationFailed
from fleet.models import Software, SoftwareInstallation, SoftwareVersion
from fleet.settings import Settings
from fleet.state import state_of

ARTIFACT_DIR = "artifacts"
CHECKSUM_HEADER = "X-Checksum-SHA256"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")
_FIELD_MAX = 1024
_MAX_PARTS = 8


class PayloadTooLarge(DomainError):
    status_code = 413


class _TooLarge(Exception):
    pass


def artifact_dir(settings: Settings) -> Path:
    """Return (and create) the directory holding every artifact."""
    path = settings.data_dir / ARTIFACT_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def download_url(version_id: int) -> str:
    """Return the API path that streams a version's artifact."""
    return f"/api/v1/fleet-software/versions/{version_id}/artifact"


@dataclass
class StoredUpload:
    """A checked upload sitting in a temporary file, not yet in place."""

    temp_path: Path
    size: int
    sha256: str
    filename: str | None


class _Receiver:
    """Collect one file part (streamed to disk, hashed) and small text fields."""

    def __init__(self, temp_path: Path, max_bytes: int) -> None:
        self.temp_path = temp_path
        self.max_bytes = max_bytes
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.hasher = hashlib.sha256()
        self.files = 0
        self.parts = 0
        self.ended = False
        self._fh: Any = None
        self._header_field = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._buffer = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field_cb,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _end(self) -> None:
        self.ended = True

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > _MAX_PARTS:
            raise BadRequest(f"at most {_MAX_PARTS} form parts")
        self._headers = {}
        self._buffer = bytearray()

    def _header_field_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]
        if len(self._header_field) > _FIELD_MAX:
            raise BadRequest("a multipart header is too long")

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        if len(self._header_value) > _FIELD_MAX * 4:
            raise BadRequest("a multipart header is too long")

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field = b""
        self._header_value = b""

    def _headers_finished(self) -> None:
        _kind, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = b"filename" in options and self._name == "file"
        if self._is_file:
            self.files += 1
            if self.files > 1:
                raise BadRequest("send exactly one file part named 'file'")
            self.filename = options[b"filename"].decode("utf-8", "replace")[-255:]
            self._fh = open(self.temp_path, "xb")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise _TooLarge
            self.hasher.update(chunk)
            self._fh.write(chunk)
        else:
            self._buffer += chunk
            if len(self._buffer) > _FIELD_MAX:
                raise BadRequest(f"form field '{self._name}' is too long")

    def _part_end(self) -> None:
        if self._is_file:
            self._fh.close()
            self._fh = None
        elif self._name:
            self.fields[self._name] = self._buffer.decode("utf-8", "replace").strip()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


async def receive(request: Request, settings: Settings) -> StoredUpload:
    """Stream a multipart upload (part ``file``, optional field ``sha256``) to a checked temp file.

    Raises 413 when the file exceeds ``max_upload_mb``, 422 when it is empty or its SHA-256
    differs from the one the client sent; nothing is left on disk then.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise BadRequest("send the artifact as multipart/form-data with a part named 'file'")
    max_bytes = settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise PayloadTooLarge(f"the artifact exceeds the limit of {settings.max_upload_mb} MB")
    temp_path = artifact_dir(settings) / f".upload-{uuid.uuid4().hex}.part"
    receiver = _Receiver(temp_path, max_bytes)
    parser = MultipartParser(boundary, receiver.callbacks())  # type: ignore[arg-type]
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        except _TooLarge:
            raise PayloadTooLarge(
                f"the artifact exceeds the limit of {settings.max_upload_mb} MB"
            ) from None
        except DomainError:
            raise
        except Exception as exc:  # the parser's own errors on a malformed body
            raise BadRequest(f"malformed multipart body: {exc}") from None
        finally:
            receiver.close()
        if not receiver.ended:
            raise BadRequest("the multipart body ended early (no closing boundary)")
        if receiver.files != 1:
            raise ValidationFailed("no file part named 'file' in the upload")
        if receiver.size == 0:
            raise ValidationFailed("the artifact is empty")
        digest = receiver.hasher.hexdigest()
        expected = receiver.fields.get("sha256")
        if expected:
            if not _SHA256.match(expected):
                raise ValidationFailed("sha256 must be 64 hexadecimal characters")
            if expected.lower() != digest:
                raise ValidationFailed(
                    f"checksum mismatch: the upload's SHA-256 is {digest}, expected {expected}"
                )
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return StoredUpload(temp_path, receiver.size, digest, receiver.filename)


async def check_replaceable(session: AsyncSession, version: SoftwareVersion) -> None:
    """Refuse to replace an artifact that devices already installed or are installing."""
    if version.file_path is None:
        return
    used = await session.scalar(
        select(func.count(SoftwareInstallation.id)).where(
            SoftwareInstallation.version_id == version.id
        )
    )
    if used:
        raise Conflict(
            f"version {version.version_number} has installations; its artifact cannot change "
            "(create a new version)"
        )


async def attach(
    session: AsyncSession,
    settings: Settings,
    version: SoftwareVersion,
    upload: StoredUpload,
    *,
    actor: Principal,
) -> tuple[Path, Path | None]:
    """Move a checked upload into place and fill the version's file columns.

    Answers the new file and the replaced one (to delete once the transaction committed).
    """
    suffix = Path(upload.filename or "").suffix
    suffix = suffix if _SUFFIX.match(suffix) else ".bin"
    name = f"v{version.id}-{upload.sha256}{suffix}"
    final = artifact_dir(settings) / name
    old = settings.data_dir / version.file_path if version.file_path else None
    os.replace(upload.temp_path, final)
    version.file_path = f"{ARTIFACT_DIR}/{name}"
    version.file_size = upload.size
    version.checksum = upload.sha256
    version.download_url = download_url(version.id)
    await session.flush()
    audit.audit_for(actor).record(
        session,
        "software.version.artifact",
        details={
            "entity": "software_version",
            "id": version.id,
            "file_size": upload.size,
            "checksum": upload.sha256,
            "filename": upload.filename,
        },
    )
    return final, (old if old is not None and old != final else None)


def remove_files(settings: Settings, paths: list[Path]) -> None:
    """Delete artifact files (relative to the data dir or absolute) that are no longer used."""
    root = (settings.data_dir / ARTIFACT_DIR).resolve()
    for path in paths:
        full = (path if path.is_absolute() else settings.data_dir / path).resolve()
        if full.parent == root:
            with contextlib.suppress(FileNotFoundError):
                full.unlink()


async def _filename(session: AsyncSession, version: SoftwareVersion) -> str:
    name = await session.scalar(select(Software.name).where(Software.id == version.software_id))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name or "artifact").strip("-") or "artifact"
    suffix = Path(version.file_path or "").suffix or ".bin"
    return f"{slug}-{version.version_number}{suffix}"


async def stream_response(
    version: SoftwareVersion, request: Request, session: AsyncSession | None = None
) -> FileResponse:
    """Stream a version's artifact with HTTP Range support and its SHA-256 in a header.

    The device API reuses this for its downloads. Answers 404 when the version has no artifact
    or the file is missing; 416 for an unsatisfiable range (from the file response).
    """
    settings = state_of(request).settings
    if not version.file_path or not version.checksum:
        raise NotFound(f"version {version.version_number} has no artifact")
    root = (settings.data_dir / ARTIFACT_DIR).resolve()
    path = (settings.data_dir / version.file_path).resolve()
    if path.parent != root or not path.is_file():
        raise NotFound(f"the artifact file of version {version.version_number} is missing")
    filename = (
        await _filename(session, version)
        if session is not None
        else f"{version.version_number}{path.suffix}"
    )
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=filename,
        headers={
            CHECKSUM_HEADER: version.checksum,
            "ETag": f'"{version.checksum}"',
            "Cache-Control": "private, no-transform",
        },
    )
