"""Processes starting at once on one data dir agree on the development secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys
from pathlib import Path
from fleet.settings import Settings
print(Settings(env="development", data_dir=Path(sys.argv[1])).jwt_secret())
"""


def test_concurrent_starts_share_one_secret(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    procs = [
        subprocess.Popen([sys.executable, "-c", SCRIPT, str(data)], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _out, err in results]
    secrets = {out.strip() for out, _err in results}
    assert len(secrets) == 1
    assert secrets == {(data / "secret_key").read_text().strip()}
    assert [p.name for p in data.iterdir()] == ["secret_key"]  # no drafts left behind
