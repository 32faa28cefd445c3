"""The audit log: listing with filters, and events recorded by clients."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import add_user, bearer, login


async def test_list_filters_and_client_events(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "boss", "admin")
    await add_user(sessionmaker, "op", "operator")
    h = bearer(await login(client, "boss"))
    op = bearer(await login(client, "op"))
    await client.post("/api/v1/auth/login", json={"username": "op", "password": "wrong-pass"})

    r = await client.post(
        "/api/v1/logs",
        headers=op,
        json={
            "log_level": "HELP",
            "action": "client.help",
            "details": {"bench": "B-1", "token": "x"},
        },
    )
    assert r.status_code == 201
    assert r.json()["details"] == {"bench": "B-1", "token": "[redacted]"}

    everything = await client.get("/api/v1/logs", headers=h)
    assert everything.status_code == 200
    actions = [row["action"] for row in everything.json()]
    assert actions[0] == "client.help"  # newest first
    assert {"auth.login", "auth.login_failed", "client.help"} <= set(actions)

    help_rows = (await client.get("/api/v1/logs", headers=h, params={"level": "HELP"})).json()
    assert [row["action"] for row in help_rows] == ["client.help"]
    failed = (
        await client.get("/api/v1/logs", headers=h, params={"action": "auth.login_failed"})
    ).json()
    assert len(failed) == 1 and failed[0]["log_level"] == "WARNING"
    # the action filter is a prefix, and each row names its user
    auth = (await client.get("/api/v1/logs", headers=h, params={"action": "auth."})).json()
    assert {row["action"] for row in auth} == {"auth.login", "auth.login_failed"}
    assert {row["username"] for row in auth if row["action"] == "auth.login"} == {"boss", "op"}
    assert (await client.get("/api/v1/logs", headers=h, params={"action": "auth%"})).json() == []
    me = (await client.get("/api/v1/auth/me", headers=op)).json()
    mine = (await client.get("/api/v1/logs", headers=h, params={"user_id": me["id"]})).json()
    assert {row["action"] for row in mine} == {"auth.login", "auth.login_failed", "client.help"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get("/api/v1/logs", headers=h, params={"from": future})).json() == []
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    assert (await client.get("/api/v1/logs", headers=h, params={"to": past})).json() == []


async def test_bad_log_input(client: httpx.AsyncClient, sessionmaker) -> None:
    await add_user(sessionmaker, "op", "operator")
    op = bearer(await login(client, "op"))
    for body in [
        {"action": ""},
        {"action": "client." + "x" * 256},
        {"action": "client.a", "log_level": "PANIC"},
        {"action": "client.a", "log_level": "DEBUG"},
        {"action": "client.a", "details": {"blob": "x" * 20000}},
        {"action": "client.a", "details": []},
        # only the client namespace: nothing that could pass for a row the server writes
        {"action": "user.update"},
        {"action": "auth.login"},
        {"action": "bench.help"},
        {"action": "client."},
        {"action": "client"},
        {"action": "Client.help"},
        {"action": "xclient.help"},
        {"action": "client.help\nuser.update"},
        {"action": "client.a b"},
        {"action": "client.help\n"},
    ]:
        r = await client.post("/api/v1/logs", headers=op, json=body)
        assert r.status_code == 422, (body, r.text)
    boss_rows = await client.get("/api/v1/logs", headers={})
    assert boss_rows.status_code == 401
    for level in ("INFO", "WARNING", "ERROR", "HELP"):
        r = await client.post(
            "/api/v1/logs", headers=op, json={"action": "client.bench:help-1", "log_level": level}
        )
        assert r.status_code == 201, r.text
    assert (await client.get("/api/v1/logs", headers=op)).status_code == 403
    assert (await client.post("/api/v1/logs", json={"action": "client.a"})).status_code == 401
    await add_user(sessionmaker, "boss", "admin")
    h = bearer(await login(client, "boss"))
    assert (
        await client.get("/api/v1/logs", headers=h, params={"level": "nope"})
    ).status_code == 422
    assert (
        await client.get("/api/v1/logs", headers=h, params={"from": "yesterday"})
    ).status_code == 422
