"""Admin screens: people, departments, locations."""

from __future__ import annotations

from sqlalchemy import select

from app.accounts.models import User
from app.audit import AuditEntry
from app.extensions import db
from app.org.models import Department, Location
from tests.helpers import get


def test_admin_edits_roles_department_and_timezone(app, client, auth, users, factory):
    auth.login(users["admin"])
    dept = factory.department("Sales")
    loc = factory.location("Berlin", "Europe/Berlin")
    uid = factory.user("p@example.com", "Pat")
    response = client.post(
        f"/admin/users/{uid}",
        data={"email": "p@example.com", "display_name": "Pat Smith", "department_id": dept, "location_id": loc,
              "timezone": "Europe/Berlin", "roles": ["employee", "hr"]},
    )  # fmt: skip
    assert response.status_code == 302
    user = get(app, User, uid)
    assert (user.display_name, user.department_id, user.location_id, user.timezone) == (
        "Pat Smith", dept, loc, "Europe/Berlin",
    )  # fmt: skip
    with app.app_context():
        assert db.session.get(User, uid).roles == {"employee", "hr"}
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.update"))
        assert entry.actor_id == users["admin"] and entry.target_id == uid


def test_admin_cannot_take_an_email_already_used(app, client, auth, users, factory):
    auth.login(users["admin"])
    uid = factory.user("p@example.com", "Pat")
    response = client.post(
        f"/admin/users/{uid}",
        data={"email": "HR@example.com", "display_name": "Pat", "department_id": 0, "location_id": 0,
              "timezone": "", "roles": ["employee"]},
    )  # fmt: skip
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)
    assert get(app, User, uid).email == "p@example.com"


def test_admin_cannot_drop_own_admin_role_or_deactivate_self(app, client, auth, users):
    me = auth.login(users["admin"])
    response = client.post(
        f"/admin/users/{me}",
        data={"email": "admin@example.com", "display_name": "Ada", "department_id": 0, "location_id": 0,
              "timezone": "", "roles": ["employee"]},
    )  # fmt: skip
    assert "cannot remove your own admin role" in response.get_data(as_text=True)
    client.post(f"/admin/users/{me}/deactivate")
    assert get(app, User, me).status == "active"
    with app.app_context():
        assert "admin" in db.session.get(User, me).roles


def test_deactivate_and_reactivate_keep_history(app, client, auth, users, factory):
    auth.login(users["admin"])
    uid = factory.user("p@example.com", "Pat")
    client.post(f"/admin/users/{uid}/deactivate")
    assert get(app, User, uid).status == "deactivated"
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert "Deactivated. Their history is kept" in page
    client.post(f"/admin/users/{uid}/reactivate")
    assert get(app, User, uid).status == "active"


def test_resend_invitation(client, auth, users, factory, outbox):
    auth.login(users["admin"])
    uid = factory.user("p@example.com", "Pat", status="invited")
    response = client.post(f"/admin/users/{uid}/invite", follow_redirects=True)
    assert "A new invitation is on its way to p@example.com." in response.get_data(as_text=True)
    assert outbox[-1]["To"] == "p@example.com"


def test_people_list_search_and_filters(client, auth, users, factory):
    auth.login(users["admin"])
    factory.user("zofia@example.com", "Zofia Wiśniewska", status="invited")
    page = client.get("/admin/users?q=zofia").get_data(as_text=True)
    assert "Zofia Wiśniewska" in page and "Erin Employee" not in page
    assert "Zofia" in client.get("/admin/users?status=invited").get_data(as_text=True)
    assert "Zofia" not in client.get("/admin/users?status=active").get_data(as_text=True)
    partial = client.get("/admin/users?q=zofia", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and "Zofia" in partial
    assert "Nobody matches" in client.get("/admin/users?q=nobody-at-all").get_data(as_text=True)


def test_departments_create_rename_delete(app, client, auth, users, factory):
    auth.login(users["admin"])
    assert client.post("/admin/departments", data={"name": "Sales"}).status_code == 302
    duplicate = client.post("/admin/departments", data={"name": "sales"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.get_data(as_text=True)
    with app.app_context():
        dept = db.session.scalar(select(Department))
        dept_id = dept.id
    client.post(f"/admin/departments/{dept_id}", data={"name": "Sales & Partners"})
    assert get(app, Department, dept_id).name == "Sales & Partners"
    factory.user("m@example.com", "Member", department=None)
    with app.app_context():
        member = db.session.scalar(select(User).where(User.email == "m@example.com"))
        member.department_id = dept_id
        db.session.commit()
    response = client.post(f"/admin/departments/{dept_id}/delete", follow_redirects=True)
    assert "Move its people elsewhere" in response.get_data(as_text=True)
    assert get(app, Department, dept_id) is not None


def test_location_needs_a_real_timezone(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/locations", data={"name": "Mars Base", "timezone": "Mars/Olympus"})
    assert response.status_code == 400 and "Unknown time zone." in response.get_data(as_text=True)
    client.post("/admin/locations", data={"name": "Warsaw", "timezone": "Europe/Warsaw"})
    with app.app_context():
        assert [(loc.name, loc.timezone) for loc in db.session.scalars(select(Location))] == [
            ("Warsaw", "Europe/Warsaw")
        ]
