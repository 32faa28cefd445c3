"""Spreadsheet formula neutralisation for the CSV files we write, reversible by our import.

A text cell that a spreadsheet would run as a formula — one starting with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return (OWASP's list) — is written with a leading ``'``, which
spreadsheets take as "this is text" and do not show. So that our own import gives back exactly
what was exported, a cell that already starts with apostrophes followed by one of those
characters gets one more; the import removes exactly one ``'`` from a cell of that shape and
leaves every other cell alone (a hand-written ``'abc`` stays ``'abc``). Values that are numbers
(not text) are never touched.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")


def neutralise(value: str) -> str:
    """Answer the text to write into a CSV cell for ``value``."""
    return "'" + value if _NEEDS_QUOTE.match(value) else value


def restore(cell: str) -> str:
    """Answer the value a cell written by ``neutralise`` stands for (the inverse)."""
    return cell[1:] if _QUOTED.match(cell) else cell


def cell(value: Any) -> Any:
    """Neutralise text; numbers, dates and ``None`` pass unchanged."""
    return neutralise(value) if isinstance(value, str) else value
