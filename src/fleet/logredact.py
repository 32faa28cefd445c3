"""Keep secrets out of log lines: a small filter for the server's own loggers.

Query strings that carry a secret (``token=``, ``access_token=``, ``refresh_token=``,
``qr_code=``, ``password=``, ...), ``Bearer`` credentials and anything shaped like a JWT are
replaced by ``[redacted]`` in every record of the uvicorn access and error loggers (which write
the request line, and the WebSocket handshake line, with its query string) and of ``fleet``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"
SECRET_PARAMS = (
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "qr_code",
    "password",
    "secret",
    "api_key",
    "apikey",
    "key",
    "signature",
)
_QUERY = re.compile(
    r"(?i)((?:^|[?&;\s])(?:" + "|".join(SECRET_PARAMS) + r")=)[^&;\s\"']*",
)
_BEARER = re.compile(r"(?i)\b(bearer[ .])[A-Za-z0-9\-_.~+/]+=*")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "fleet")


def redact(text: str) -> str:
    """Answer ``text`` with the secrets it carries replaced by ``[redacted]``."""
    text = _QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _JWT.sub(REDACTED, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrite a record's message and string arguments with the secrets redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, Mapping):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        return True


def _attach(target: logging.Filterer) -> None:
    if not any(isinstance(f, RedactSecrets) for f in target.filters):
        target.addFilter(RedactSecrets())


def install() -> None:
    """Attach the filter to the server's loggers and to every handler configured so far
    (a handler's filter also sees the records of child loggers, e.g. ``fleet.access``);
    once, however many apps are built."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        _attach(logger)
        for handler in logger.handlers:
            _attach(handler)
    for handler in logging.getLogger().handlers:
        _attach(handler)
