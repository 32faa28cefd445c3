"""Count the statements that write (INSERT, UPDATE, DELETE, UPSERT) an app sends to its
database while a block runs: a read must send none."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE")


@contextmanager
def recorded_writes(app: Any) -> Iterator[list[str]]:
    """Collect, in a list, every writing statement sent through the app's engine (the read-only
    engine shares it) while the block runs."""
    seen: list[str] = []
    engine = app.state.engine.sync_engine

    def _before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, _many: bool
    ) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in WRITES:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", _before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _before)
