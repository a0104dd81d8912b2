"""Security baseline: CSRF on forms and htmx posts, headers, strict CSP, escaping."""

from __future__ import annotations

import re

import pytest

from app.accounts.models import User
from tests.helpers import get

PASSWORD = "correct horse battery"


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True


def token_from(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_form_post_without_csrf_token_is_refused_and_changes_nothing(app, client, csrf_on, factory, auth):
    uid = auth.login(factory.user("ola@example.com", "Ola Nowak"))
    response = client.post("/me", data={"display_name": "Hacked", "timezone": "UTC", "locale": "en"})
    assert response.status_code == 400
    assert "session expired" in response.get_data(as_text=True)
    assert get(app, User, uid).display_name == "Ola Nowak"


def test_form_post_with_csrf_token_works(app, client, csrf_on, factory, auth):
    uid = auth.login(factory.user("ola@example.com", "Ola Nowak"))
    token = token_from(client.get("/me").get_data(as_text=True))
    response = client.post(
        "/me", data={"csrf_token": token, "display_name": "Ola N", "timezone": "UTC", "locale": "en"}
    )
    assert response.status_code == 302
    assert get(app, User, uid).display_name == "Ola N"


def test_htmx_posts_carry_the_token_in_a_header(app, client, csrf_on, factory, auth, users):
    auth.login(users["admin"])
    target = factory.user("t@example.com", "Target")
    page = client.get("/admin/").get_data(as_text=True)
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    refused = client.post(f"/admin/users/{target}/deactivate", headers={"HX-Request": "true"})
    assert refused.status_code == 400
    assert get(app, User, target).status == "active"
    accepted = client.post(
        f"/admin/users/{target}/deactivate", headers={"HX-Request": "true", "X-CSRFToken": header_token}
    )
    assert accepted.status_code == 302
    assert get(app, User, target).status == "deactivated"


def test_sign_in_form_needs_the_token_too(client, csrf_on, factory):
    factory.user("ola@example.com", "Ola", password=PASSWORD)
    response = client.post("/login", data={"email": "ola@example.com", "password": PASSWORD})
    assert response.status_code == 400
    token = token_from(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"csrf_token": token, "email": "ola@example.com", "password": PASSWORD})
    assert response.status_code == 302


def test_security_headers_and_strict_csp(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "HX-Request" in response.headers["Vary"]


def test_session_cookie_is_httponly_and_lax(client, factory):
    factory.user("ola@example.com", "Ola", password=PASSWORD)
    response = client.post("/login", data={"email": "ola@example.com", "password": PASSWORD, "remember": "y"})
    cookies = response.headers.getlist("Set-Cookie")
    session = next(c for c in cookies if c.startswith("session="))
    remember = next(c for c in cookies if c.startswith("remember_token="))
    for cookie in (session, remember):
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_templates_have_no_inline_script_or_style():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "templates"
    for path in root.rglob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), f"inline script in {path}"
        assert not re.search(r"\sstyle=", html), f"style attribute in {path}"
        assert not re.search(r"\son[a-z]+=", html), f"inline event handler in {path}"
        assert "<style" not in html, f"style element in {path}"


def test_user_input_is_escaped(client, factory, auth, users):
    factory.user("x@example.com", "<script>alert(1)</script>")
    auth.login(users["admin"])
    body = client.get("/admin/users").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_uploads_are_size_capped(app, client, factory, auth):
    import io

    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    auth.login(factory.user())
    response = client.post(
        "/me",
        data={
            "display_name": "X",
            "timezone": "UTC",
            "locale": "en",
            "avatar": (io.BytesIO(b"0" * 2_000_000), "a.png"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True)
