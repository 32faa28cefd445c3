"""Demo software: packages with artifacts on disk, a finished roll-out and a draft; idempotent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from fleet import demo
from fleet.models import Rollout, SoftwareVersion
from fleet.settings import Settings, sync_database_url


def test_demo_software(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("fleet.software.demo.get_settings", lambda: settings)
    engine = create_engine(sync_database_url(settings.resolved_database_url()))
    try:
        with Session(engine) as session:
            first: dict[str, Any] = demo.run(session, 4)
            session.commit()
            second: dict[str, Any] = demo.run(session, 4)
            session.commit()
            assert first["software"] > 0 and second["software"] == 0
            statuses = sorted(session.scalars(select(Rollout.status)).all())
            assert statuses == ["draft", "finished"]
            paths = session.scalars(select(SoftwareVersion.file_path)).all()
            assert paths and all((Path(settings.data_dir) / p).is_file() for p in paths)
            assert session.scalar(select(func.count(SoftwareVersion.id))) == len(paths)
    finally:
        engine.dispose()
