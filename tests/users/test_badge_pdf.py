"""The printable badge card: a PDF with the user's name, roles and QR code."""

from __future__ import annotations

import io

import httpx
from pypdf import PdfReader

from tests.conftest import add_user


async def test_badge_pdf(client: httpx.AsyncClient, sessionmaker, role_headers) -> None:
    user = await add_user(sessionmaker, "carded", "operator", ["manager"], qr_code="QR-CARD-1")
    admin = role_headers["admin"]
    r = await client.get(f"/api/v1/users/{user.id}/badge", headers=admin, params={"format": "pdf"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    page = PdfReader(io.BytesIO(r.content)).pages[0]
    text = page.extract_text()
    assert "carded" in text and "operator, manager" in text
    assert len(page.images) == 1
    bare = await add_user(sessionmaker, "nocode", "operator")
    r = await client.get(f"/api/v1/users/{bare.id}/badge", headers=admin, params={"format": "pdf"})
    assert r.status_code == 404
    op = role_headers["operator"]
    r = await client.get(f"/api/v1/users/{user.id}/badge", headers=op, params={"format": "pdf"})
    assert r.status_code == 403
