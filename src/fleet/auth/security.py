"""Password hashing, token minting and token checking."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import bcrypt
import jwt

from fleet.errors import Unauthorized

ALGORITHM = "HS256"
BCRYPT_MAX_BYTES = 72


def _hash_sync(password: str, rounds: int) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def _verify_sync(password: str, hashed: str) -> bool:
    data = password.encode()
    if len(data) > BCRYPT_MAX_BYTES:
        return False
    try:
        return bcrypt.checkpw(data, hashed.encode())
    except ValueError:
        return False


# bcrypt at cost 12 is a quarter second of CPU. Hashes run on one thread per process of their
# own (bcrypt releases the GIL), not in the shared thread pool: a wave of logins queues there,
# one hash at a time per worker, and takes at most the share of the CPU any one busy thread
# gets, so the event loop keeps the rest and other requests go on being answered. The thread
# runs at the normal priority: at a lower one a login waited behind every other runnable
# thread of the machine and, under load, logins all but stopped (about one per second).
BCRYPT_THREADS = 1
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _bcrypt_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=BCRYPT_THREADS, thread_name_prefix="bcrypt")
        return _executor


async def _run_bcrypt(func: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_bcrypt_executor(), func, *args)


def hash_password_sync(password: str, rounds: int) -> str:
    """Hash a password with bcrypt (blocking; for the CLI)."""
    return _hash_sync(password, rounds)


async def hash_password(password: str, rounds: int) -> str:
    """Hash a password with bcrypt off the event loop."""
    hashed: str = await _run_bcrypt(_hash_sync, password, rounds)
    return hashed


@lru_cache
def _dummy_hash(rounds: int) -> str:
    return _hash_sync(secrets.token_urlsafe(16), rounds)


async def verify_password(password: str, hashed: str | None, rounds: int) -> bool:
    """Check a password; with no hash, spend the same time so unknown users look alike."""
    target = hashed or await _run_bcrypt(_dummy_hash, rounds)
    ok: bool = await _run_bcrypt(_verify_sync, password, target)
    return ok and hashed is not None


def new_opaque_token() -> str:
    """Return a fresh high-entropy token for refresh tokens."""
    return secrets.token_urlsafe(48)


def new_qr_code() -> str:
    """Return a fresh high-entropy QR login code (256 bits)."""
    return "FLQR-" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Return the SHA-256 hex digest under which an opaque token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_session_id() -> str:
    """Return an id for a login session (refresh-token family)."""
    return str(uuid.uuid4())


def create_access_token(
    secret: str, *, user_id: int, session_id: str, role: str, minutes: int
) -> str:
    """Sign a short-lived access token naming the user, the login session and the active role."""
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "sid": session_id,
        "role": role,
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# Tokens already verified, by (secret, token): the same bytes verify the same way every time,
# only the expiry is checked again. Bounded; forgotten as a whole when full.
_VERIFIED_MAX = 4096
_verified: dict[tuple[str, str], dict[str, Any]] = {}


def decode_access_token(secret: str, token: str) -> dict[str, Any]:
    """Verify signature, algorithm and expiry; raise ``Unauthorized`` on anything else."""
    known = _verified.get((secret, token))
    if known is not None and known["exp"] > time.time():
        return known
    claims = _decode_access_token(secret, token)
    if len(_verified) >= _VERIFIED_MAX:
        _verified.clear()
    _verified[(secret, token)] = claims
    return claims


def _decode_access_token(secret: str, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "iat", "sub", "sid", "type"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Token expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("Invalid token") from None
    if claims.get("type") != "access" or not _readable(claims):
        raise Unauthorized("Invalid token")
    return claims


def _readable(claims: dict[str, Any]) -> bool:
    """The claims the server reads must have the types it wrote: a token signed with the
    right key but carrying anything else is refused like a forged one."""
    sub, sid, role = claims.get("sub"), claims.get("sid"), claims.get("role")
    return (
        isinstance(sub, str)
        and sub.isascii()
        and sub.isdigit()
        and len(sub) <= 10
        and isinstance(sid, str)
        and 0 < len(sid) <= 64
        and "\x00" not in sid
        and (role is None or isinstance(role, str))
    )
