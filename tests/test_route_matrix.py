"""Every registered route, for anonymous, employee, admin and HR users.

A new route fails this test until it is classified in ``ACCESS``, so no page
ships without a decided role check.
"""

from __future__ import annotations

import pytest

from app.accounts.models import User
from app.extensions import db
from tests.conftest import Auth

PUBLIC, LOGIN, ADMIN, HR = "public", "login", "admin", "hr"

ACCESS = {
    "static": PUBLIC,
    "main.index": PUBLIC,
    "main.offline": PUBLIC,
    "main.manifest": PUBLIC,
    "main.service_worker": PUBLIC,
    "main.healthz": PUBLIC,
    "main.feed": LOGIN,
    "main.leaderboard": LOGIN,
    "main.media": LOGIN,
    "accounts.login": PUBLIC,
    "accounts.request_magic_link": PUBLIC,
    "accounts.magic_landing": PUBLIC,
    "accounts.logout": PUBLIC,
    "accounts.forgot_password": PUBLIC,
    "accounts.reset_password": PUBLIC,
    "accounts.accept_invite": PUBLIC,
    "accounts.me": LOGIN,
    "admin.dashboard": ADMIN,
    "admin.users": ADMIN,
    "admin.new_user": ADMIN,
    "admin.edit_user": ADMIN,
    "admin.deactivate_user": ADMIN,
    "admin.reactivate_user": ADMIN,
    "admin.resend_invite": ADMIN,
    "admin.import_users": ADMIN,
    "admin.import_template": ADMIN,
    "admin.departments": ADMIN,
    "admin.update_department": ADMIN,
    "admin.delete_department": ADMIN,
    "admin.locations": ADMIN,
    "admin.update_location": ADMIN,
    "admin.delete_location": ADMIN,
    "rewards.catalog": LOGIN,
    "surveys.inbox": LOGIN,
    "surveys.hr_home": HR,
}

ROLES_OF = {"employee": {"employee"}, "admin": {"employee", "admin"}, "hr": {"employee", "hr"}}


def allowed(access: str, who: str | None) -> bool:
    if access == PUBLIC:
        return True
    if who is None:
        return False
    return access == LOGIN or access in ROLES_OF[who]


def test_every_route_is_classified(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - ACCESS.keys() == set(), "classify new routes in ACCESS"
    assert ACCESS.keys() - endpoints == set(), "ACCESS lists routes that no longer exist"


def test_declared_roles_match_the_classification(app):
    for endpoint, view in app.view_functions.items():
        declared = getattr(view, "required_roles", None)
        expected = {PUBLIC: None, LOGIN: (), ADMIN: ("admin",), HR: ("hr",)}[ACCESS[endpoint]]
        assert declared == expected, endpoint


@pytest.fixture
def targets(app, factory):
    """Real ids and files for URL parameters."""
    from app.org.models import Department, Location

    target = factory.user("target@example.com", "Target Person")
    dept = factory.department("Empty Team")
    loc = factory.location("Empty Office")
    with app.app_context():
        user = db.session.get(User, target)
        user.avatar_path = "avatars/test.webp"
        db.session.commit()
        assert db.session.get(Department, dept) and db.session.get(Location, loc)
    media = app.config["MEDIA_ROOT"] + "/avatars"
    import os

    os.makedirs(media, exist_ok=True)
    with open(media + "/test.webp", "wb") as fh:
        fh.write(b"RIFF0000WEBP")
    return {"user_id": target, "obj_id": None, "_dept": dept, "_loc": loc, "token": "not-a-real-token",
            "filename": "avatars/test.webp"}  # fmt: skip


def build_url(app, rule, targets):
    values = {}
    for arg in rule.arguments:
        if arg == "obj_id":
            values[arg] = targets["_dept"] if "department" in rule.endpoint else targets["_loc"]
        else:
            values[arg] = targets[arg]
    with app.test_request_context():
        from flask import url_for

        if rule.endpoint == "static":
            return url_for("static", filename="css/app.css")
        return url_for(rule.endpoint, **values)


@pytest.mark.parametrize("who", [None, "employee", "hr", "admin"])
def test_route_role_matrix(app, users, targets, who):
    client = app.test_client()
    failures = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint):
        url = build_url(app, rule, targets)
        access = ACCESS[rule.endpoint]
        for method in sorted(rule.methods & {"GET", "POST"}):
            if who is not None:  # again each time: the sign-out route ends the session
                Auth(app, client).login(users[who])
            response = client.open(url, method=method)
            code = response.status_code
            if allowed(access, who):
                ok = (
                    code < 500
                    and code != 403
                    and not (code == 302 and response.headers["Location"].startswith("/login?"))
                )
            elif who is None:
                ok = code == 302 and response.headers["Location"].startswith("/login")
            else:
                ok = code == 403
            if not ok:
                failures.append(f"{who or 'anonymous'} {method} {url} ({rule.endpoint}, {access}) -> {code}")
    assert failures == []


def test_anonymous_is_sent_to_sign_in_with_next(client):
    response = client.get("/admin/users?q=x")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=%2Fadmin%2Fusers%3Fq%3Dx"


def test_forbidden_page_is_friendly(client, auth, users):
    auth.login(users["employee"])
    response = client.get("/admin/")
    assert response.status_code == 403
    assert "not available to your account" in response.get_data(as_text=True)


def test_json_clients_get_json_errors(client, auth, users):
    auth.login(users["employee"])
    response = client.get("/admin/", headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.get_json()["error"] == "This page is not available to your account."
    assert client.get("/no-such-page", headers={"Accept": "application/json"}).get_json()["status"] == 404
