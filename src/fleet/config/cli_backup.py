"""``fleet backup create|restore``: the whole database to and from one file, with a progress
bar and one-line errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine

from fleet import migrate
from fleet.config import dbdump
from fleet.db import create_sync_engine
from fleet.settings import Settings


def _engine(settings: Settings) -> Engine:
    engine: Engine = create_sync_engine(settings)
    return engine


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def create(settings: Settings, file: Path) -> None:
    """Dump every table to ``file``; a partial file is removed on failure."""
    engine = _engine(settings)
    tmp = file.with_name(file.name + ".part")
    try:
        with engine.connect() as conn:
            total = sum(dbdump.count_rows(conn).values())
        with (
            open(tmp, "wb") as out,
            click.progressbar(length=total, label="Backing up", file=sys.stderr) as bar,
        ):
            dbdump.dump(engine, out, progress=bar.update)
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
        engine.dispose()
    click.echo(f"backup written to {file} ({total} rows, {file.stat().st_size} bytes)")


def restore(settings: Settings, file: Path, replace: bool) -> None:
    """Load ``file`` after migrating the database; exit 1 with one line when refused."""
    migrate.upgrade(settings)
    engine = _engine(settings)
    bar: Any = None
    try:
        with open(file, "rb") as stream:

            def started(header: dict[str, Any]) -> None:
                nonlocal bar
                total = sum(int(t.get("rows") or 0) for t in header.get("tables") or [])
                bar = click.progressbar(length=total, label="Restoring", file=sys.stderr)
                bar.__enter__()

            summary = dbdump.restore(
                engine,
                stream,
                replace=replace,
                progress=lambda n: bar.update(n) if bar is not None else None,
                on_header=started,
            )
    except dbdump.DumpError as exc:
        if bar is not None:
            bar.__exit__(None, None, None)
            click.echo("", err=True)
        _fail(str(exc))
        return
    finally:
        engine.dispose()
    if bar is not None:
        bar.__exit__(None, None, None)
    click.echo(f"restored {summary.rows} rows in {len(summary.tables)} tables from {file}")
