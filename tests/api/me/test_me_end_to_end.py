"""Through the real auth routes: register, sign in, read, rectify, change the password, export."""

from __future__ import annotations

from examstutor_testing import LiveApi

NEW_PASSWORD = "a brand new passphrase"


async def test_register_login_rectify_change_password_and_export(api: LiveApi) -> None:
    registered = await api.register(
        "Funke.Ade@example.ng", consents={"terms": True, "progress_emails": True}
    )
    assert registered.status_code == 201, registered.text
    wrong = await api.client.post(
        "/v1/auth/login", json={"email": "funke.ade@example.ng", "password": "not it at all"}
    )
    assert wrong.status_code == 401
    token = await api.login("funke.ade@example.ng")
    headers = api.bearer(token)
    other = api.bearer(await api.login("funke.ade@example.ng"))

    me = await api.client.get("/v1/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["email"] == "Funke.Ade@example.ng"
    rectified = await api.client.patch("/v1/me", json={"phone": "0803 123 4567"}, headers=headers)
    assert rectified.json()["phone"] == "0803 123 4567"

    changed = await api.client.post(
        "/v1/me/password",
        json={"current_password": "correct horse battery", "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    assert (await api.client.get("/v1/me", headers=other)).status_code == 401
    old = await api.client.post(
        "/v1/auth/login",
        json={"email": "funke.ade@example.ng", "password": "correct horse battery"},
    )
    assert old.status_code == 401
    await api.login("funke.ade@example.ng", NEW_PASSWORD)

    export = (await api.client.get("/v1/me/export", headers=headers)).json()["categories"]
    assert {(c["purpose"], c["granted"]) for c in export["consents"]} == {
        ("terms", True),
        ("progress_emails", True),
    }
    assert [r["type"] for r in export["requests"]] == ["access", "rectification"]
    actions = [event["action"] for event in export["access_log"]]
    # sign-ins name the account by its email's pseudonym: they are in the access log too
    assert "auth.login_failed" in actions
    assert "student.registration" in actions
    assert actions.count("auth.login") == 3
    assert "auth.password_change" in actions
    assert len(export["sessions"]) == 3
    assert sum(1 for s in export["sessions"] if s["revoked_at"] is None) == 2
