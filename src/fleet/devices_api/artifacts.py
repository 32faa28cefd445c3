"""Artifact files as DDI describes them: name, size and sha256 / sha1 / md5 hashes.

hawkBit clients verify MD5 or SHA-1 (rauc-hawkbit checks MD5); the catalog keeps SHA-256 only,
so the other two are computed once from the stored file and cached in ``artifact_hashes``. A
file whose SHA-256 no longer matches the catalog is never offered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from sqlalchemy.ext.asyncio import AsyncSession

from fleet import dialect
from fleet.models import ArtifactHashes, SoftwareVersion
from fleet.settings import Settings

CHUNK = 1 << 20


@dataclass(frozen=True)
class ArtifactInfo:
    path: Path
    filename: str
    size: int
    sha256: str
    sha1: str
    md5: str


def artifact_path(settings: Settings, version: SoftwareVersion) -> Path | None:
    """Where a version's artifact file lives (absolute, or relative to the data dir)."""
    if not version.file_path:
        return None
    path = Path(version.file_path)
    if not path.is_absolute():
        path = settings.data_dir / path
    return path


def _digest_file(path: Path) -> tuple[str, str, str]:
    sha256, sha1, md5 = hashlib.sha256(), hashlib.sha1(), hashlib.md5()  # noqa: S324
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            sha256.update(block)
            sha1.update(block)
            md5.update(block)
    return sha256.hexdigest(), sha1.hexdigest(), md5.hexdigest()


async def describe(
    session: AsyncSession, settings: Settings, version: SoftwareVersion
) -> ArtifactInfo | None:
    """Describe a version's artifact, or None when it has no intact file to offer."""
    path = artifact_path(settings, version)
    if path is None or not path.is_file():
        return None
    stat = path.stat()
    cached = await session.get(ArtifactHashes, version.id)
    if (
        cached is not None
        and cached.file_path == str(path)
        and cached.file_size == stat.st_size
        and cached.mtime_ns == stat.st_mtime_ns
    ):
        sha256, sha1, md5 = cached.sha256, cached.sha1, cached.md5
    else:
        sha256, sha1, md5 = await anyio.to_thread.run_sync(_digest_file, path)
        values = {
            "file_path": str(path),
            "file_size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "sha256": sha256,
            "sha1": sha1,
            "md5": md5,
        }
        # Several devices may ask for a new artifact at once: last writer wins, same values.
        await session.execute(
            dialect.insert(session, ArtifactHashes)
            .values(version_id=version.id, **values)
            .on_conflict_do_update(index_elements=["version_id"], set_=values)
        )
    if version.checksum and sha256 != version.checksum.lower():
        return None
    return ArtifactInfo(
        path=path,
        filename=path.name,
        size=stat.st_size,
        sha256=sha256,
        sha1=sha1,
        md5=md5,
    )
