"""Versions: metadata, semantic order, artifact upload/download with SHA-256 and Range."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from fleet.settings import Settings
from tests.factories import add_devices, create_software, create_version, install, upload
from tests.software.conftest import API


def _artifact_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "artifacts"
    return sorted(root.iterdir()) if root.exists() else []


async def test_create_duplicate_and_semantic_order(
    client: httpx.AsyncClient, maker: dict[str, str]
) -> None:
    sw = await create_software(client, maker)
    for n in ["2.9.0", "2.10.0", "2.10.0-rc.1", "10.0", "1.0.0"]:
        await create_version(client, maker, sw["id"], n, artifact=False)
    r = await client.get(f"{API}/software/{sw['id']}/versions", headers=maker)
    assert [v["version_number"] for v in r.json()] == [
        "10.0",
        "2.10.0",
        "2.10.0-rc.1",
        "2.9.0",
        "1.0.0",
    ]
    assert r.headers["X-Total-Count"] == "5"
    r = await client.post(
        f"{API}/software/{sw['id']}/versions", json={"version_number": "2.9.0"}, headers=maker
    )
    assert r.status_code == 409
    for bad in ["", "../../etc", "1.0 beta", "x" * 60, "1,2"]:
        r = await client.post(
            f"{API}/software/{sw['id']}/versions", json={"version_number": bad}, headers=maker
        )
        assert r.status_code == 422, bad
    r = await client.post(
        f"{API}/software/999/versions", json={"version_number": "1.0"}, headers=maker
    )
    assert r.status_code == 404


async def test_compatibility_is_validated(client: httpx.AsyncClient, maker: dict[str, str]) -> None:
    sw = await create_software(client, maker)
    for compat in [
        {"device_types": "mask_tester"},
        {"device_types": [1]},
        {"kind_of_device": [""]},
        {"colour": "red"},
    ]:
        r = await client.post(
            f"{API}/software/{sw['id']}/versions",
            json={"version_number": "1.0.0", "compatibility": compat},
            headers=maker,
        )
        assert r.status_code == 422, compat
        assert r.json()["detail"]["errors"], r.json()
    r = await client.post(
        f"{API}/software/{sw['id']}/versions",
        json={"version_number": "1.0.0", "compatibility": ["mask_tester"]},
        headers=maker,
    )
    assert r.status_code == 422
    v = await create_version(
        client,
        maker,
        sw["id"],
        "1.0.0",
        artifact=False,
        compatibility={"device_types": ["mask_tester"], "kind_of_device": []},
    )
    r = await client.patch(
        f"{API}/versions/{v['id']}", json={"compatibility": {"device_types": 3}}, headers=maker
    )
    assert r.status_code == 422
    r = await client.patch(
        f"{API}/versions/{v['id']}",
        json={"release_notes": "Fixes", "compatibility": {"device_types": ["flow_meter"]}},
        headers=maker,
    )
    assert r.status_code == 200
    assert r.json()["compatibility"] == {"device_types": ["flow_meter"]}
    r = await client.patch(
        f"{API}/versions/{v['id']}", json={"version_number": "9.9"}, headers=maker
    )
    assert r.status_code == 422


async def test_upload_and_download_with_checksum_and_range(
    client: httpx.AsyncClient, maker: dict[str, str], settings: Settings
) -> None:
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0", artifact=False)
    content = bytes(range(256)) * 1000
    digest = hashlib.sha256(content).hexdigest()
    r = await upload(client, maker, v["id"], content, sha256=digest.upper())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["file_size"] == len(content) and body["checksum"] == digest
    assert body["download_url"] == f"{API}/versions/{v['id']}/artifact"
    assert body["file_path"].startswith("artifacts/")
    assert (settings.data_dir / body["file_path"]).read_bytes() == content
    assert [p.name for p in _artifact_files(settings)] == [Path(body["file_path"]).name]

    r = await client.get(body["download_url"], headers=maker)
    assert r.status_code == 200 and r.content == content
    assert r.headers["X-Checksum-SHA256"] == digest
    assert r.headers["accept-ranges"] == "bytes"
    assert "Tester-FW-1.0.0.swu" in r.headers["content-disposition"]
    r = await client.get(body["download_url"], headers={**maker, "Range": "bytes=1000-1999"})
    assert r.status_code == 206 and r.content == content[1000:2000]
    assert r.headers["content-range"] == f"bytes 1000-1999/{len(content)}"
    r = await client.get(body["download_url"], headers={**maker, "Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == content[-10:]
    r = await client.get(
        body["download_url"], headers={**maker, "Range": f"bytes={len(content) + 5}-"}
    )
    assert r.status_code == 416

    # Replacing an unused artifact removes the old file.
    r = await upload(client, maker, v["id"], b"second image")
    assert r.status_code == 200
    assert [p.name for p in _artifact_files(settings)] == [Path(r.json()["file_path"]).name]


async def test_bad_uploads_store_nothing(
    client: httpx.AsyncClient, maker: dict[str, str], settings: Settings
) -> None:
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0", artifact=False)
    r = await upload(client, maker, v["id"], b"image", sha256="0" * 64)
    assert r.status_code == 422 and "checksum mismatch" in r.json()["detail"]
    r = await upload(client, maker, v["id"], b"image", sha256="not-a-hash")
    assert r.status_code == 422
    r = await upload(client, maker, v["id"], b"")
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = await client.post(
        f"{API}/versions/{v['id']}/artifact",
        files={"other": ("x.bin", b"abc", "application/octet-stream")},
        headers=maker,
    )
    assert r.status_code == 422
    r = await client.post(
        f"{API}/versions/{v['id']}/artifact",
        content=b"raw",
        headers={**maker, "Content-Type": "application/octet-stream"},
    )
    assert r.status_code == 400
    r = await client.post(
        f"{API}/versions/{v['id']}/artifact",
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
        headers={**maker, "Content-Type": "multipart/form-data; boundary=xyz"},
    )
    assert r.status_code in (400, 422)
    r = await upload(client, maker, 999, b"image")
    assert r.status_code == 404
    assert _artifact_files(settings) == []
    r = await client.get(f"{API}/versions/{v['id']}", headers=maker)
    assert r.json()["checksum"] is None and r.json()["file_path"] is None
    r = await client.get(f"{API}/versions/{v['id']}/artifact", headers=maker)
    assert r.status_code == 404


async def test_oversized_upload_is_refused(
    client: httpx.AsyncClient, maker: dict[str, str], settings: Settings, app: Any
) -> None:
    app.state.settings = settings.model_copy(update={"max_upload_mb": 1})
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0", artifact=False)
    big = b"x" * (1024 * 1024 + 1)
    r = await upload(client, maker, v["id"], big)
    assert r.status_code == 413
    # Without a Content-Length the limit is enforced while streaming.

    async def chunks() -> Any:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\n'
        for _ in range(5):
            yield b"y" * 300_000
        yield b"\r\n--b--\r\n"

    r = await client.post(
        f"{API}/versions/{v['id']}/artifact",
        content=chunks(),
        headers={**maker, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    assert _artifact_files(settings) == []


async def test_artifact_of_installed_version_is_immutable_and_version_delete(
    client: httpx.AsyncClient,
    maker: dict[str, str],
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0")
    spare = await create_version(client, maker, sw["id"], "1.0.1")
    [dev] = await add_devices(sessionmaker, kind="bench")
    assert (await install(client, maker, dev, v["id"])).status_code == 201
    r = await upload(client, maker, v["id"], b"another")
    assert r.status_code == 409
    r = await client.delete(f"{API}/versions/{v['id']}", headers=maker)
    assert r.status_code == 409
    r = await client.delete(f"{API}/versions/{spare['id']}", headers=maker)
    assert r.status_code == 204
    assert len(_artifact_files(settings)) == 1


async def test_malicious_multipart_is_refused(
    client: httpx.AsyncClient, maker: dict[str, str], settings: Settings
) -> None:
    sw = await create_software(client, maker)
    v = await create_version(client, maker, sw["id"], "1.0.0", artifact=False)
    many = b"".join(
        b'--b\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(20)
    )
    long_header = (
        b'--b\r\nContent-Disposition: form-data; name="' + b"n" * 10000 + b'"\r\n\r\nx\r\n'
    )
    two_files = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="b"\r\n\r\ndef\r\n'
    )
    for body in (many, long_header, two_files):
        r = await client.post(
            f"{API}/versions/{v['id']}/artifact",
            content=body + b"--b--\r\n",
            headers={**maker, "Content-Type": "multipart/form-data; boundary=b"},
        )
        assert r.status_code == 400, r.text
    assert _artifact_files(settings) == []
