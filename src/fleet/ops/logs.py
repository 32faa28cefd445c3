"""Structured logs: text (for a terminal) or JSON lines, every line of a request with its id,
user and route, and nothing secret in any line.

The formatters add the request context themselves (from ``fleet.ops.context``), so every
logger's lines carry it — the app's, uvicorn's and the access log's alike — and they pass the
finished line through ``redact`` as their last step, whatever logged it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from fleet.ops import context

REDACTED = "[REDACTED]"
# The names of secrets, not secrets.
SECRET_NAMES = "|".join(
    [
        *("access_token", "refresh_token", "id_token", "token", "api_key"),
        *("password", "new_password", "old_password", "current_password", "passwd"),
        *("secret", "secret_key", "qr_code", "qr", "badge", "badge_code", "code"),
    ]
)
_RULES: list[tuple[re.Pattern[str], str]] = [
    # key=value in query strings, form bodies and "key=value" log text
    (re.compile(rf"(?i)\b({SECRET_NAMES})=([^&\s\"',;]+)"), rf"\1={REDACTED}"),
    # "key": "value" in JSON text, and key: value
    (
        re.compile(rf"(?i)([\"']?\b(?:{SECRET_NAMES})[\"']?\s*:\s*)([\"'])(?:(?!\2).)*\2"),
        rf"\1\2{REDACTED}\2",
    ),
    # Authorization header values of every scheme the service knows
    (
        re.compile(r"(?i)\b(Bearer|TargetToken|GatewayToken|Basic)\s+[A-Za-z0-9._~+/=-]+"),
        rf"\1 {REDACTED}",
    ),
    # JSON web tokens wherever they stand
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
]
# The record attributes every LogRecord has; anything else was passed through ``extra``.
# (uvicorn adds ``color_message``, the message again with terminal colours.)
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


# Every text a rule above matches holds one of these, in lower case: a secret's name (or a
# part all the names that hold it share), a scheme, or a web token's start. A line without any
# (most access lines) is returned as it is, at a small part of the rules' cost (measured: 5 µs
# against 120 µs for an access line, about 5 % of a worker's time on a busy list page).
NEEDLES = ("token", "api_key", "passw", "secret", "qr", "badge", "code", "bearer", "basic", "eyj")


def redact(text: str) -> str:
    """Blank out tokens, passwords and badge codes in one finished log line."""
    lowered = text.lower()
    if not any(needle in lowered for needle in NEEDLES):
        return text
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


def _context() -> dict[str, Any]:
    info = context.current.get()
    if info is None:
        return {}
    return {"request_id": info.request_id, "user_id": info.user_id, "route": info.route}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the request context, extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            **_context(),
            **_extras(record),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """``time level logger [request_id user route] message key=value ...``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s %(message)s")
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        ctx = _context()
        if ctx:
            head, _, rest = base.partition(f" {record.name} ")
            user = ctx["user_id"] if ctx["user_id"] is not None else "-"
            base = f"{head} {record.name} [{ctx['request_id']} user={user} {ctx['route']}] {rest}"
        extras = _extras(record)
        if extras:
            base += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return redact(base)


def log_config(fmt: str, level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server (uvicorn applies it in every worker)."""
    formatter = "fleet.ops.logs.JsonFormatter" if fmt == "json" else "fleet.ops.logs.TextFormatter"
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"fleet": {"()": formatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "fleet",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            # uvicorn's own lines go through the same formatter; its access log is replaced by
            # fleet.access (same format, route template, no query string).
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
