"""hawkBit DDI answers as hawkBit shapes them: vocabulary, JSON bodies, ETags and links.

Pure functions of what ``ddi_service`` answers: no database, no request. The resources in
``ddi`` call the service, then these to shape the answer.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from fastapi import Response

from fleet.devices_api.artifacts import ArtifactInfo
from fleet.devices_api.ddi_service import ActionDescription
from fleet.devices_api.options import HANDLING
from fleet.errors import DomainError
from fleet.models import DdiActionStatus, DeviceAutoConfirm, SoftwareInstallation

# Our software categories as hawkBit software module types (the chunk's ``part``).
MODULE_TYPES = {"firmware": "os", "application": "bApp", "driver": "bApp", "tool": "bApp"}
# Our installation statuses in hawkBit's action status vocabulary (``actionHistory.status``).
ACTION_STATUS = {
    "pending": "RUNNING",
    "in_progress": "RUNNING",
    "completed": "FINISHED",
    "failed": "ERROR",
    "canceled": "CANCELED",
}


def module_type(category: str | None) -> str:
    """The hawkBit module type (DDI ``part``) of a software category."""
    return MODULE_TYPES.get((category or "").strip().lower(), "bApp")


def resource_hash(installation: SoftwareInstallation, extra: str = "") -> str:
    """The ``?c=`` of an action link: it changes whenever what the link describes changes."""
    key = f"{installation.id}:{installation.version_id}:{installation.action}:{extra}"
    return str(int(hashlib.sha1(key.encode()).hexdigest()[:8], 16))  # noqa: S324


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` / ``If-Match`` header names ``etag`` (weak or not)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def json_with_etag(if_none_match: str | None, body: Any) -> Response:
    """Answer JSON with an ``ETag``; ``304`` when the client's ``If-None-Match`` names it."""
    raw = json.dumps(body, separators=(",", ":"), default=str).encode()
    etag = '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'
    if etag_matches(if_none_match, etag):
        return Response(status_code=304, headers={"ETag": etag})
    return Response(raw, media_type="application/json", headers={"ETag": etag})


def artifact_json(info: ArtifactInfo, base: str, module_id: int) -> dict[str, Any]:
    """One artifact of a software module with its hashes and download links."""
    href = f"{base}/softwaremodules/{module_id}/artifacts/{info.filename}"
    links: dict[str, Any] = {
        "download-http": {"href": href},
        "md5sum-http": {"href": f"{href}.MD5SUM"},
    }
    if href.startswith("https://"):
        links["download"] = {"href": href}
        links["md5sum"] = {"href": f"{href}.MD5SUM"}
    return {
        "filename": info.filename,
        "hashes": {"sha1": info.sha1, "md5": info.md5, "sha256": info.sha256},
        "size": info.size,
        "_links": links,
    }


def history_message(row: DdiActionStatus) -> str:
    """One entry of an action's history as a line of ``actionHistory.messages``."""
    text = f"{row.reported_at.isoformat(timespec='seconds')} {row.kind} {row.execution}"
    if row.finished and row.finished != "none":
        text += f" ({row.finished})"
    if row.code is not None:
        text += f" code {row.code}"
    if row.details:
        text += ": " + "; ".join(row.details)
    return text


def auto_confirm_json(row: DeviceAutoConfirm | None) -> dict[str, Any]:
    """The device's auto-confirmation state as ``confirmationBase.autoConfirm``."""
    if row is None:
        return {"state": "inactive"}
    out: dict[str, Any] = {
        "state": "active",
        "activatedAt": int(row.activated_at.timestamp() * 1000),
    }
    if row.initiator:
        out["initiator"] = row.initiator
    if row.remark:
        out["remark"] = row.remark
    return out


class RangeNotSatisfiable(DomainError):
    status_code = 416


class PreconditionFailed(DomainError):
    status_code = 412


_RANGE_PART = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


def check_range(header: str | None, size: int) -> None:
    """Refuse (416, as hawkBit) a ``Range`` header that is malformed or outside the file."""
    if header is None:
        return
    unit, _, spec = header.partition("=")
    ok = unit.strip().lower() == "bytes" and bool(spec.strip())
    for part in spec.split(",") if ok else []:
        m = _RANGE_PART.match(part)
        if m is None or (not m.group(1) and not m.group(2)):
            ok = False
            break
        start, end = m.group(1), m.group(2)
        if start and (int(start) >= size or (end and int(end) < int(start))):
            ok = False
            break
        if not start and int(end) == 0:
            ok = False
            break
    if not ok:
        raise RangeNotSatisfiable(
            f"Range {header[:100]!r} is not satisfiable for {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )


def action_json(action: ActionDescription, key: str, base: str) -> dict[str, Any]:
    """An action as hawkBit describes it under ``deployment`` (deploymentBase, installedBase)
    or ``confirmation`` (confirmationBase), with its ``actionHistory`` when asked for."""
    installation, version, software = action.installation, action.version, action.software
    artifacts = (
        [] if action.artifact is None else [artifact_json(action.artifact, base, version.id)]
    )
    download, update = HANDLING[action.options.update_type]
    deployment: dict[str, Any] = {"download": download, "update": update}
    if action.window_available is not None:
        available = action.window_available
        deployment["maintenanceWindow"] = "available" if available else "unavailable"
        if not available:
            deployment["update"] = "skip"  # hawkBit: outside the window, download only
    deployment["chunks"] = [
        {
            "part": module_type(software.category),
            "version": version.version_number,
            "name": software.name,
            "artifacts": artifacts,
            "metadata": [
                {"key": "action", "value": installation.action},
                {"key": "requires_reboot", "value": str(bool(version.requires_reboot)).lower()},
            ],
        }
    ]
    body: dict[str, Any] = {"id": str(installation.id), key: deployment}
    if action.history is not None:
        body["actionHistory"] = {
            "status": ACTION_STATUS.get(installation.status or "pending", "RUNNING"),
            "messages": [history_message(r) for r in action.history],
        }
    return body
