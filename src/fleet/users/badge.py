"""The printable badge: a card (85.6 x 54 mm, ID-1) with the user's name, roles and QR login
code, as a PDF to print and cut out."""

from __future__ import annotations

import io

import segno
from fpdf import FPDF

from fleet.models import User

CARD_W, CARD_H = 85.6, 54.0


def badge_pdf(user: User, title: str = "Fleet Management System") -> bytes:
    """Render the user's badge card; the QR code is the one the sign-in page scans."""
    if not user.qr_code:
        raise ValueError("user has no QR code")
    png = io.BytesIO()
    segno.make(user.qr_code, error="m").save(png, kind="png", scale=10, border=2)
    png.seek(0)
    pdf = FPDF(orientation="L", unit="mm", format=(CARD_H, CARD_W))
    pdf.set_auto_page_break(False)
    pdf.set_margins(4, 4, 4)
    pdf.set_title(f"Badge {user.username}")
    pdf.set_creator(title)
    pdf.add_page()
    pdf.set_draw_color(11, 110, 79)
    pdf.set_line_width(0.6)
    pdf.rect(1.5, 1.5, CARD_W - 3, CARD_H - 3)
    pdf.set_fill_color(11, 110, 79)
    pdf.rect(1.5, 1.5, CARD_W - 3, 9, style="F")
    pdf.set_text_color(255, 255, 255)
    pdf.set_font("Helvetica", "B", 9)
    pdf.set_xy(4, 3.2)
    pdf.cell(CARD_W - 8, 5, title)
    pdf.image(png, x=CARD_W - 4 - 34, y=14, w=34, h=34)
    pdf.set_text_color(0, 0, 0)
    name = user.username.encode("latin-1", "replace").decode("latin-1")
    pdf.set_font("Helvetica", "B", 14 if len(name) <= 14 else 10)
    pdf.set_xy(5, 16)
    pdf.multi_cell(CARD_W - 46, 7, name)
    roles = ", ".join(user.all_roles)
    pdf.set_font("Helvetica", "", 8)
    pdf.set_xy(5, pdf.get_y() + 2)
    pdf.multi_cell(CARD_W - 46, 4, roles)
    pdf.set_font("Helvetica", "", 6)
    pdf.set_xy(5, CARD_H - 9)
    pdf.cell(CARD_W - 46, 3, "Scan at the sign-in page")
    return bytes(pdf.output())
