"""Substring search with SQL LIKE, the user's text taken literally.

Every ``q`` (and any other user text matched with LIKE) goes through here: ``%`` and ``_``
in what the user typed are escaped, so they match themselves and not "anything".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func

LIKE_ESCAPE = "\\"


def escape_like(text: str) -> str:
    """Escape LIKE's wildcards (and the escape character itself) in user text."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def like_pattern(text: str) -> str:
    """A case-insensitive substring pattern (lower case) for ``lower(column) LIKE``."""
    return f"%{escape_like(text.lower())}%"


def icontains(expr: Any, text: str) -> ColumnElement[bool]:
    """``lower(expr) LIKE '%text%'`` with the text taken literally (indexable by pg_trgm)."""
    return func.lower(expr).like(like_pattern(text), escape=LIKE_ESCAPE)


def contains_literal(expr: Any, text: str) -> ColumnElement[bool]:
    """``expr LIKE '%text%'`` (case as given) with the text taken literally."""
    return expr.like(f"%{escape_like(text)}%", escape=LIKE_ESCAPE)
