"""A short per-process memory of login checks, dropped at once when accounts or logins change.

Every request re-checks its login session against the database (account active, role still
held, session not revoked). Within ``TTL_SECONDS`` the answer of that check is reused for the
same session id (see ``fleet.memo`` for when it is forgotten: every committed change of a
``users`` or ``auth_sessions`` row — logout, switch of role, refresh-token reuse, role change,
deactivation, password change — in any session of any worker).

So a revocation takes effect at once in the worker that made it (before its answer) and, in the
others, as soon as PostgreSQL delivers the notification, which is sent before that answer;
were one lost anyway, no entry outlives ``TTL_SECONDS``. On SQLite nothing is remembered.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.memo import Memo, watch

TTL_SECONDS = 2.0
TOPIC = "auth.changed"
# New rows (a login starting a session) change no remembered check.
watch(TOPIC, frozenset({"users", "auth_sessions"}), inserts=False)


@dataclass(frozen=True)
class CheckedLogin:
    """What the login check read: the session's user and active role."""

    user_id: int
    username: str
    email: str | None
    role: str
    roles: tuple[str, ...]
    is_active: bool
    active_role: str
    revoked: bool


PrincipalCache = Memo[CheckedLogin]


def new_cache() -> PrincipalCache:
    """Create an app's memory of login checks."""
    return Memo(TOPIC, TTL_SECONDS)
