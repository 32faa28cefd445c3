"""Read the text back out of a protocol PDF (pypdf: core fonts and embedded Unicode fonts)."""

from __future__ import annotations

import io

from pypdf import PdfReader


def pdf_text(data: bytes) -> str:
    """Answer the text of every page, line by line."""
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() or "" for page in reader.pages)
