"""Sign-in by password and magic link, invitations, password reset, deactivation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.accounts import services
from app.accounts.models import AuthToken, User
from app.extensions import db
from app.ratelimit import sign_in_limits
from app.timeutil import utcnow
from tests.helpers import REDIS_RATE_LIMITS, get, link_in, mail_text, path_of

PASSWORD = "correct horse battery"


def login(client, email, password, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def test_password_sign_in_lands_on_feed(client, factory):
    factory.user("ola@example.com", "Ola Nowak", password=PASSWORD)
    response = login(client, "OLA@example.com ", PASSWORD)
    assert response.status_code == 302
    assert response.headers["Location"] == "/feed"
    assert "Hi Ola" in client.get("/feed").get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message(client, factory):
    factory.user("ola@example.com", "Ola Nowak", password=PASSWORD)
    response = login(client, "ola@example.com", "wrong password!")
    assert response.status_code == 400
    assert "do not match an active account" in response.get_data(as_text=True)
    assert client.get("/feed").status_code == 302


def test_password_is_stored_with_a_modern_kdf(app, factory):
    uid = factory.user("ola@example.com", "Ola", password=PASSWORD)
    stored = get(app, User, uid).password_hash
    assert stored.startswith("scrypt:") and PASSWORD not in stored


def test_short_password_is_refused(app_ctx):
    with pytest.raises(services.AccountError, match="at least 10"):
        services.create_user("a@example.com", "A", password="short", status="active")


def test_next_parameter_cannot_redirect_off_site(client, factory):
    factory.user("ola@example.com", "Ola", password=PASSWORD)
    response = client.post("/login?next=//evil.example/x", data={"email": "ola@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/feed"
    client.post("/logout")
    response = client.post("/login?next=/me", data={"email": "ola@example.com", "password": PASSWORD})
    assert response.headers["Location"] == "/me"


def test_magic_link_signs_in_once(client, factory, outbox):
    factory.user("ola@example.com", "Ola Nowak")
    response = client.post("/login/magic", data={"email": "ola@example.com", "remember": "y"})
    assert "Check your e-mail" in response.get_data(as_text=True)
    assert len(outbox) == 1 and outbox[0]["To"] == "ola@example.com"
    assert "expires in 15 minutes" in mail_text(outbox[0])
    path = path_of(link_in(outbox[0]))

    # Opening the link (as a mail scanner would) does not use it up.
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    response = client.post(path)
    assert response.headers["Location"] == "/feed"
    assert "remember_token" in response.headers.get("Set-Cookie", "") or any(
        "remember_token" in c for c in response.headers.getlist("Set-Cookie")
    )
    assert "Hi Ola" in client.get("/feed").get_data(as_text=True)

    client.post("/logout")
    reused = client.post(path)
    assert reused.status_code == 410
    assert "expired" in reused.get_data(as_text=True)
    assert client.get("/feed").status_code == 302


def test_magic_link_expires(app, client, factory, outbox):
    factory.user("ola@example.com", "Ola Nowak")
    client.post("/login/magic", data={"email": "ola@example.com"})
    with app.app_context():
        db.session.execute(db.update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    path = path_of(link_in(outbox[0]))
    assert client.get(path).status_code == 410
    assert client.post(path).status_code == 410
    assert client.get("/feed").status_code == 302


def test_magic_link_for_unknown_or_deactivated_sends_nothing_and_says_the_same(client, factory, outbox):
    factory.user("gone@example.com", "Gone", status="deactivated")
    unknown = client.post("/login/magic", data={"email": "nobody@example.com"}).get_data(as_text=True)
    gone = client.post("/login/magic", data={"email": "gone@example.com"}).get_data(as_text=True)
    assert "Check your e-mail" in unknown and "Check your e-mail" in gone
    assert outbox == []


def test_magic_link_for_invited_person_resends_the_invitation(client, factory, outbox):
    factory.user("new@example.com", "New Person", status="invited")
    client.post("/login/magic", data={"email": "new@example.com"})
    assert len(outbox) == 1
    assert "/invite/" in link_in(outbox[0])


def test_invalid_email_gets_a_clear_error(client):
    response = client.post("/login/magic", data={"email": "not-an-email"})
    assert response.status_code == 400
    assert "Enter a valid e-mail address." in response.get_data(as_text=True)


def test_deactivated_account_cannot_sign_in_and_loses_its_session(app, client, factory, auth, users):
    uid = factory.user("ola@example.com", "Ola", password=PASSWORD)
    auth.login(uid)
    assert client.get("/feed").status_code == 200
    admin = app.test_client()
    Auth = type(auth)
    Auth(app, admin).login(users["admin"])
    response = admin.post(f"/admin/users/{uid}/deactivate")
    assert response.status_code == 302
    assert get(app, User, uid).status == "deactivated"
    # The open session ends at once; the password no longer works; history (the row) stays.
    assert client.get("/feed").status_code == 302
    assert login(app.test_client(), "ola@example.com", PASSWORD).status_code == 400


def test_invitation_activates_the_account(app, client, factory, auth, users, outbox):
    auth.login(users["admin"])
    response = client.post(
        "/admin/users/new",
        data={"email": "New.Person@Example.com", "display_name": "New Person", "department_id": 0,
              "location_id": 0, "timezone": "", "roles": ["employee"], "send_invite": "y"},
    )  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        user = services.get_user_by_email("new.person@example.com")
        assert user.status == "invited"
    assert outbox[-1]["To"] == "new.person@example.com"
    assert "Ada Admin invited you" in mail_text(outbox[-1])
    path = path_of(link_in(outbox[-1]))

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and "Activate my account" in page.get_data(as_text=True)
    response = visitor.post(path, data={"display_name": "Nova Person", "password": ""})
    assert response.headers["Location"] == "/feed"
    with app.app_context():
        user = services.get_user_by_email("new.person@example.com")
        assert (user.status, user.display_name, user.password_hash) == ("active", "Nova Person", None)
    assert visitor.get(path).status_code == 410


def test_invitation_with_short_password_changes_nothing(app, factory, outbox):
    uid = factory.user("new@example.com", "New", status="invited")
    with app.test_request_context():
        services.send_invite(db.session.get(User, uid))
        db.session.commit()
    path = path_of(link_in(outbox[-1]))
    client = app.test_client()
    response = client.post(path, data={"display_name": "New", "password": "short"})
    assert response.status_code == 400
    assert "at least 10 characters" in response.get_data(as_text=True)
    assert get(app, User, uid).status == "invited"


def test_password_reset(app, client, factory, outbox):
    uid = factory.user("ola@example.com", "Ola", password=PASSWORD)
    client.post("/password/forgot", data={"email": "ola@example.com"})
    path = path_of(link_in(outbox[-1]))
    mismatch = client.post(path, data={"password": "a new password 1", "confirm": "different"})
    assert mismatch.status_code == 400 and "do not match" in mismatch.get_data(as_text=True)
    response = client.post(path, data={"password": "a new password 1", "confirm": "a new password 1"})
    assert response.headers["Location"] == "/feed"
    assert client.post(path, data={"password": "another one 123", "confirm": "another one 123"}).status_code == 410
    fresh = app.test_client()
    assert login(fresh, "ola@example.com", PASSWORD).status_code == 400
    assert login(fresh, "ola@example.com", "a new password 1").status_code == 302
    assert get(app, User, uid).session_version > 1


def test_sign_out_clears_session_and_device_cache(client, factory, auth):
    auth.login(factory.user())
    response = client.post("/logout")
    assert response.headers["Location"] == "/login"
    assert '"cache"' in response.headers["Clear-Site-Data"]
    assert client.get("/feed").status_code == 302


def test_token_can_be_used_only_once_even_when_raced(app, factory):
    import threading

    uid = factory.user("ola@example.com", "Ola")
    with app.app_context():
        token = services.issue_token(db.session.get(User, uid), "magic")
        db.session.commit()
    wins = []
    barrier = threading.Barrier(8)

    def attempt():
        with app.app_context():
            barrier.wait()
            row = services.consume_token(token, "magic")
            db.session.commit()
            if row is not None:
                wins.append(row.id)
            db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1


def test_login_is_rate_limited(app, client, factory):
    factory.user("ola@example.com", "Ola", password=PASSWORD)
    app.config.update(LOGIN_RATE_LIMIT="3 per minute", RATELIMIT_ENABLED=True)
    sign_in_limits(app).reset()
    codes = [login(client, "ola@example.com", "wrong password!").status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    response = login(client, "ola@example.com", PASSWORD)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)


def test_login_limit_also_applies_per_address_across_ips(app, factory):
    factory.user("ola@example.com", "Ola", password=PASSWORD)
    app.config.update(LOGIN_RATE_LIMIT="3 per minute", RATELIMIT_ENABLED=True)
    sign_in_limits(app).reset()
    codes = []
    for i in range(4):
        c = app.test_client()
        codes.append(
            c.post(
                "/login",
                data={"email": "ola@example.com", "password": "nope nope nope"},
                environ_base={"REMOTE_ADDR": f"10.0.0.{i + 1}"},
            ).status_code
        )
    assert codes[-1] == 429


def test_emails_are_unique_case_insensitively(app_ctx):
    services.create_user("Ola@Example.com", "Ola")
    with pytest.raises(services.AccountError, match="already exists"):
        services.create_user("ola@example.COM", "Ola again")
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_profile_update_and_avatar(app, client, factory, auth):
    import io

    from PIL import Image

    uid = auth.login(factory.user("ola@example.com", "Ola Nowak"))
    assert "ON" in client.get("/me").get_data(as_text=True)  # initials fallback
    buf = io.BytesIO()
    Image.new("RGB", (800, 600), (200, 30, 30)).save(buf, "PNG")
    buf.seek(0)
    response = client.post(
        "/me",
        data={"display_name": "Ola N.", "timezone": "Europe/Warsaw", "locale": "pl", "avatar": (buf, "me.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    user = get(app, User, uid)
    assert (user.display_name, user.timezone, user.locale) == ("Ola N.", "Europe/Warsaw", "pl")
    assert user.avatar_path.endswith(".webp")
    served = client.get(f"/media/{user.avatar_path}")
    assert served.status_code == 200
    assert Image.open(io.BytesIO(served.data)).size == (256, 256)


def test_profile_rejects_a_fake_image_and_changes_nothing(app, client, factory, auth):
    import io

    uid = auth.login(factory.user("ola@example.com", "Ola Nowak"))
    response = client.post(
        "/me",
        data={"display_name": "Changed", "timezone": "UTC", "locale": "en",
              "avatar": (io.BytesIO(b"<?php echo 1; ?>"), "evil.png")},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 400
    assert "not an image we can read" in response.get_data(as_text=True)
    user = get(app, User, uid)
    assert user.display_name == "Ola Nowak" and user.avatar_path is None


def test_profile_rejects_unknown_timezone(app, client, factory, auth):
    uid = auth.login(factory.user("ola@example.com", "Ola Nowak"))
    response = client.post("/me", data={"display_name": "X", "timezone": "Mars/Olympus", "locale": "en"})
    assert response.status_code == 400
    assert get(app, User, uid).display_name == "Ola Nowak"


def test_rate_limits_live_in_redis_when_configured(app, factory, tmp_path):
    """With HERALD_REDIS_URL every web host shares one count of sign-in attempts."""
    import redis

    from app import create_app

    url = f"redis://127.0.0.1:6379/{REDIS_RATE_LIMITS}"
    r = redis.Redis.from_url(url)
    r.flushdb()
    try:
        factory.user("ola@example.com", "Ola", password=PASSWORD)
        hosts = [
            create_app({**app.config, "REDIS_URL": url, "RATELIMIT_ENABLED": True,
                        "RATELIMIT_STORAGE_URI": url, "LOGIN_RATE_LIMIT": "3 per minute"})
            for _ in range(2)
        ]  # fmt: skip
        codes = [login(hosts[i % 2].test_client(), "ola@example.com", "wrong password!").status_code for i in range(4)]
        assert codes == [400, 400, 400, 429]
        keys = {k.decode() for k in r.keys("*")}
        assert "LIMITS:LIMITER/herald/email:ola@example.com/accounts.login/3/1/minute" in keys
    finally:
        r.flushdb()
