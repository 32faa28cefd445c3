"""Read the text back out of a PDF written by fpdf2 (core fonts, Flate streams)."""

from __future__ import annotations

import re
import zlib

_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_TEXT = re.compile(rb"\(((?:\\.|[^\\)])*)\)\s*Tj")


def pdf_text(data: bytes) -> str:
    """Answer the page text, one shown string per line."""
    out: list[str] = []
    for raw in _STREAM.findall(data):
        # A stream whose compressed bytes end in CR loses that byte to the optional CR of the
        # pattern; it is the checksum's last byte, so decompress without insisting on it.
        try:
            content = zlib.decompressobj().decompress(raw)
        except zlib.error:
            content = raw
        for match in _TEXT.findall(content):
            text = re.sub(rb"\\(.)", rb"\1", match)
            out.append(text.decode("latin-1"))
    return "\n".join(out)
