"""Employee CSV import: all rows or none, every bad row reported, re-import updates."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from app.accounts.models import User
from app.extensions import db
from app.org.models import Department, Location
from tests.helpers import mail_text

HEADER = "email,name,department,location,roles\n"


def people_csv(n: int, bad_line: int | None = None) -> bytes:
    """A CSV of n employees; if bad_line is given, that file line gets an invalid e-mail."""
    lines = [HEADER]
    for i in range(n):
        email = f"person{i}@example.com"
        if bad_line is not None and i + 2 == bad_line:
            email = "not-an-email"
        dept = ["Sales", "Marketing", "Engineering", "Finance", "Support"][i % 5]
        loc = ["Warsaw", "Berlin", "New York"][i % 3]
        roles = "employee;admin" if i == 0 else "employee"
        lines.append(f"{email},Person {i},{dept},{loc},{roles}\n")
    return "".join(lines).encode()


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def upload(client, data: bytes, **extra):
    return client.post(
        "/admin/users/import",
        data={"file": (io.BytesIO(data), "people.csv"), **extra},
        content_type="multipart/form-data",
    )


def test_one_bad_row_among_100_imports_nothing_and_reports_it(app, client, auth, users):
    auth.login(users["admin"])
    before = count(app, User)
    response = upload(client, people_csv(100, bad_line=57))
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was imported" in body
    assert "<td>57</td>" in body and "“not-an-email” is not a valid e-mail address." in body
    assert count(app, User) == before
    assert count(app, Department) == 0 and count(app, Location) == 0


def test_a_good_file_imports_everyone(app, client, auth, users, outbox):
    auth.login(users["admin"])
    response = upload(client, people_csv(100))
    assert response.status_code == 200
    assert "Imported: 100 new, 0 updated, 0 unchanged." in response.get_data(as_text=True)
    assert count(app, User) == 103
    assert count(app, Department) == 5 and count(app, Location) == 3
    with app.app_context():
        first = db.session.scalar(select(User).where(User.email == "person0@example.com"))
        assert first.roles == {"employee", "admin"}
        assert first.status == "invited" and first.department.name == "Sales"
    assert outbox == []  # invitations only when asked


def test_reimport_updates_instead_of_duplicating(app, client, auth, users):
    auth.login(users["admin"])
    upload(client, people_csv(10))
    changed = people_csv(10).decode().replace("Person 2,Engineering", "Person Two,Finance").encode()
    response = upload(client, changed)
    assert "Imported: 0 new, 1 updated, 9 unchanged." in response.get_data(as_text=True)
    assert count(app, User) == 13
    with app.app_context():
        p2 = db.session.scalar(select(User).where(User.email == "person2@example.com"))
        assert (p2.display_name, p2.department.name) == ("Person Two", "Finance")


def test_every_bad_row_is_reported_with_its_line_and_reason(app, client, auth, users):
    auth.login(users["admin"])
    data = (
        HEADER + "ok@example.com,Okay,Sales,Warsaw,employee\n"
        "bad,Bad Email,Sales,Warsaw,employee\n"
        "noname@example.com,,Sales,Warsaw,employee\n"
        "ok@example.com,Duplicate,Sales,Warsaw,employee\n"
        "role@example.com,Role,Sales,Warsaw,superuser\n"
    ).encode()
    body = upload(client, data).get_data(as_text=True)
    assert "Fix these 4 problems" in body
    for line, reason in [
        (3, "“bad” is not a valid e-mail address."),
        (4, "The name is empty."),
        (5, "ok@example.com also appears on line 2."),
        (6, "Unknown role(s) superuser"),
    ]:
        assert f"<td>{line}</td><td>{reason}" in body
    assert count(app, User) == 3


def test_missing_column_and_wrong_encoding_are_explained(client, auth, users):
    auth.login(users["admin"])
    body = upload(client, b"email,name\na@example.com,A\n").get_data(as_text=True)
    assert "Missing column(s): department, location, roles." in body
    body = upload(client, HEADER.encode() + "é@example.com,Zoë,X,Y,employee\n".encode("latin-1")).get_data(as_text=True)
    assert "not UTF-8" in body


def test_semicolon_separated_excel_export_with_bom_imports(app, client, auth, users):
    auth.login(users["admin"])
    data = "\ufeffEmail;Name;Department;Location;Roles\nzofia@example.com;Zofia Wiśniewska;Sprzedaż;Kraków;employee\n"
    response = upload(client, data.encode("utf-8"))
    assert response.status_code == 200
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "zofia@example.com"))
        assert user.display_name == "Zofia Wiśniewska" and user.location.name == "Kraków"


def test_import_can_send_invitations(client, auth, users, outbox):
    auth.login(users["admin"])
    upload(client, people_csv(3), send_invites="y")
    assert sorted(m["To"] for m in outbox) == ["person0@example.com", "person1@example.com", "person2@example.com"]
    assert "/invite/" in mail_text(outbox[0])


def test_cli_import_users(app, runner, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(people_csv(5))
    result = runner.invoke(args=["import-users", str(good)])
    assert result.exit_code == 0, result.output
    assert "Imported 5 new, 0 updated, 0 unchanged." in result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(people_csv(5, bad_line=4).replace(b"person0", b"new0"))
    result = runner.invoke(args=["import-users", str(bad)])
    assert result.exit_code == 1
    assert "line 4:" in result.output and "nothing imported" in result.output
    assert count(app, User) == 5
