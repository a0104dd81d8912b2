"""Inputs that used to crash (status 500): huge numbers, far dates, control characters, wrong bodies.

Each case gets a clear 4xx or a form error, or has the control characters stripped
before anything is stored (PostgreSQL cannot store a NUL byte in text).
"""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import JSON, String, Text, func, select

from app.accounts.models import User
from app.extensions import db
from app.forms import Form
from tests.helpers import get, make_targets

HUGE = "9" * 30  # beyond 64 bits
JUST_ABOVE_INTEGER = str(2**31)  # beyond PostgreSQL's INTEGER
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture
def targets(app, users):
    """Real rows for every route argument."""
    return make_targets(app, users)


def row_counts(app) -> dict[str, int]:
    """Rows per table (to show a refused request added nothing)."""
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in db.metadata.sorted_tables}


def _texts(value):
    """Every string inside a column value (JSON columns hold dicts and lists)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)


def stored_texts(app) -> list[tuple[str, str]]:
    """(table.column, text) for every text in the database, JSON values included."""
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if isinstance(column.type, String | Text | JSON):
                    for value in db.session.scalars(select(column).where(column.is_not(None))):
                        found.extend((f"{table.name}.{column.name}", text) for text in _texts(value))
    return found


def control_characters_stored(app) -> list[str]:
    """Every stored text that holds a control character other than tab and newline."""
    return [f"{where}={text!r}" for where, text in stored_texts(app) if CONTROL.search(text)]


def int_routes(app):
    """(rule, methods) for every route with an ``<int:...>`` argument."""
    for rule in app.url_map.iter_rules():
        if "<int:" in rule.rule:
            yield rule, sorted(rule.methods & {"GET", "POST"})


@pytest.mark.parametrize("number", [HUGE, JUST_ABOVE_INTEGER])
def test_huge_ids_in_paths_are_404_everywhere(app, client, auth, users, targets, number):
    auth.login(users["admin"])
    checked = []
    for rule, methods in int_routes(app):
        path = re.sub(r"<int:\w+>", number, rule.rule)
        for method in methods:
            checked.append((method, path, client.open(path, method=method).status_code))
    assert checked and all(code == 404 for _m, _p, code in checked), [c for c in checked if c[2] != 404]


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("employee", f"/feed?page={HUGE}"),
        ("employee", "/feed?page=1e20"),
        ("employee", f"/kudos?before={HUGE}"),
        ("admin", f"/admin/users?department={HUGE}"),
        ("admin", f"/admin/redemptions?reward={HUGE}"),
        ("admin", f"/admin/redemptions?location={JUST_ABOVE_INTEGER}"),
        ("admin", f"/admin/posts/new?suggestion={HUGE}"),
        ("admin", f"/admin/posts/new?item={HUGE}"),
    ],
)
def test_huge_numbers_in_query_strings_are_400(client, auth, users, who, path):
    auth.login(users[who])
    assert client.get(path).status_code == 400


def test_redeeming_with_an_unknown_pickup_location_is_refused(app, client, auth, users, targets):
    auth.login(users["employee"])
    before = row_counts(app)
    for pickup in ("1e20", HUGE, JUST_ABOVE_INTEGER, "999999", ""):
        response = client.post(f"/rewards/{targets['reward_id']}/redeem", data={
            "key": "fresh-key-123456", "variant_id": targets["variant_id"], "delivery": "pickup",
            "pickup_location_id": pickup,
        })  # fmt: skip
        assert response.status_code == 409, pickup
        assert "Choose a pickup location." in response.get_data(as_text=True)
        assert row_counts(app) == before


REWARD = {"kind": "merch", "title": "Mug", "cost": "10", "variants": "M: 3", "active": "1"}


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("cost", {}),
        ("limit_per_month", {}),
        ("limit_total", {}),
        ("low_stock_at", {}),
        ("quantity", {"kind": "experience"}),
        ("variants", {}),
    ],
)
def test_reward_numbers_beyond_the_range_are_a_form_error(app, client, auth, users, field, extra):
    auth.login(users["admin"])
    before = row_counts(app)
    for number in ("1e30", HUGE, JUST_ABOVE_INTEGER, "1000001"):
        value = f"M: {number}" if field == "variants" else number
        response = client.post("/admin/rewards/new", data={**REWARD, **extra, field: value})
        body = response.get_data(as_text=True)
        assert response.status_code == 400, number
        assert "1,000,000" in body or "label: stock" in body
        assert row_counts(app) == before


def test_point_adjustments_beyond_the_range_are_a_form_error(app, client, auth, users):
    auth.login(users["admin"])
    before = row_counts(app)
    for delta in ("1e30", HUGE, JUST_ABOVE_INTEGER, "-1000001"):
        response = client.post(
            "/admin/points/adjust", data={"email": "employee@example.com", "delta": delta, "note": "Bonus"}
        )
        assert response.status_code == 400, delta
        assert "from -1,000,000 to 1,000,000" in response.get_data(as_text=True)
        assert row_counts(app) == before


def test_badge_thresholds_beyond_the_range_are_a_form_error(app, client, auth, users):
    auth.login(users["admin"])
    client.get("/admin/badges")  # the built-in badges exist before counting
    before = row_counts(app)
    for threshold in ("1e30", HUGE, JUST_ABOVE_INTEGER, "1000001"):
        response = client.post("/admin/badges", data={"name": "Talker", "condition": "comments",
                                                      "threshold": threshold})  # fmt: skip
        assert response.status_code == 400, threshold
        assert re.search(r"whole number|at most 1,000,000", response.get_data(as_text=True))
        assert row_counts(app) == before


FAR_DATES = [("Europe/Warsaw", "0001-01-01T00:00"), ("America/New_York", "9999-12-31T23:59"),
             ("Pacific/Kiritimati", "0001-01-01T00:00"), ("UTC", "1999-12-31T23:59")]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "data", "field"),
    [
        (
            "/admin/posts/new",
            {"url": "https://example.com/x", "title": "T", "language": "en", "campaign_id": "0", "action": "schedule"},
            "publish_at",
        ),  # fmt: skip
        (
            "/admin/posts/new",
            {"url": "https://example.com/x", "title": "T", "language": "en", "campaign_id": "0", "action": "publish"},
            "expire_at",
        ),  # fmt: skip
        (
            "/admin/posts/new",
            {
                "url": "https://example.com/x",
                "title": "T",
                "language": "en",
                "campaign_id": "0",
                "action": "publish",
                "is_cta": "y",
            },
            "cta_deadline",
        ),  # fmt: skip
        ("/admin/campaigns", {"name": "C", "kind": "share", "goal_metric": "shares", "goal_target": "5"}, "ends_at"),
        ("/admin/rewards/new", REWARD, "starts_at"),
        ("/admin/rewards/new", REWARD, "ends_at"),
    ],
)
def test_dates_outside_2000_to_2100_are_a_form_error(app, client, auth, factory, path, data, field):
    before = row_counts(app)
    for n, (timezone, value) in enumerate(FAR_DATES):
        auth.login(factory.user(f"zone{n}@example.com", "Zoe Zone", roles=("employee", "admin"), timezone=timezone))
        counts = row_counts(app)
        response = client.post(path, data={**data, field: value})
        assert response.status_code == 400, (timezone, value)
        assert "between the years 2000 and 2100" in response.get_data(as_text=True)
        assert row_counts(app) == counts
    assert before["post"] == row_counts(app)["post"]


def test_the_date_error_sits_next_to_its_field(client, auth, users):
    auth.login(users["admin"])
    body = client.post("/admin/campaigns", data={"name": "C", "kind": "share", "goal_metric": "shares",
                                                  "ends_at": "0001-01-01T00:00"}).get_data(as_text=True)  # fmt: skip
    assert re.search(r'id="ends_at-err">Enter a date between the years 2000 and 2100\.', body)


NASTY = "Ola\x00 No\x07wak\x1b\x7f\x85"  # NUL, BEL, ESC, DEL and a C1 control
CLEAN = "Ola Nowak"


def _cases():
    """(who, path or path template, form data) posting ``NASTY`` into a text field; ``CLEAN`` must be stored."""
    post = {"url": "https://example.com/x", "language": "en", "campaign_id": "0", "action": "publish"}
    return [
        ("employee", "/me", {"display_name": NASTY, "timezone": "UTC", "locale": "en"}),
        ("employee", "/posts/{post_id}/comments", {"body": NASTY}),
        ("employee", "/comments/{comment_id}/edit", {"body": NASTY}),
        ("employee", "/suggest", {"url": "https://example.com/s", "comment": NASTY}),
        (
            "employee",
            "/kudos",
            {"recipient": "target@example.com", "message": NASTY, "points": "", "key": "kudos-key-123456"},
        ),  # fmt: skip
        (
            "employee",
            "/rewards/{reward_id}/redeem",
            {
                "key": "redeem-key-123456",
                "variant_id": "{variant_id}",
                "delivery": "ship",
                "name": NASTY,
                "line1": "Main St 1",
                "postcode": "00-001",
                "city": "Warsaw",
                "country": "PL",
            },
        ),  # fmt: skip
        ("admin", "/admin/departments", {"name": NASTY}),
        ("admin", "/admin/locations", {"name": NASTY, "timezone": "UTC"}),
        ("admin", "/admin/departments/{department_id}", {"name": NASTY}),
        (
            "admin",
            "/admin/users/new",
            {
                "email": "new@example.com",
                "display_name": NASTY,
                "department_id": "0",
                "location_id": "0",
                "roles": "employee",
            },
        ),  # fmt: skip
        ("admin", "/admin/posts/new", {**post, "title": NASTY, "caption-0-text": NASTY}),
        ("admin", "/admin/campaigns", {"name": NASTY, "kind": "share", "goal_metric": "shares"}),
        ("admin", "/admin/points/adjust", {"email": "employee@example.com", "delta": "5", "note": NASTY}),
        ("admin", "/admin/badges", {"name": NASTY, "condition": "comments", "threshold": "3"}),
        (
            "admin",
            "/admin/kudos",
            {
                "form": "shoutout",
                "recipient": "employee@example.com",
                "message": NASTY,
                "points": "",
                "key": "shout-key-123456",
            },
        ),  # fmt: skip
        ("admin", "/admin/rewards/new", {**REWARD, "title": NASTY, "description": NASTY}),
        ("admin", "/admin/suggestions/{suggestion_id}/reject", {"reason": NASTY}),
        ("admin", "/admin/redemptions/{redemption_id}", {"action": "rejected", "reason": NASTY}),
    ]


@pytest.mark.parametrize(("who", "path", "data"), _cases(), ids=[c[1] for c in _cases()])
def test_control_characters_are_stripped_before_anything_is_stored(app, client, auth, users, targets, who, path,
                                                                   data):  # fmt: skip
    auth.login(users[who])
    data = {name: value.format(**targets) for name, value in data.items()}
    response = client.post(path.format(**targets), data=data)
    assert response.status_code < 400, response.get_data(as_text=True)[:2000]
    assert control_characters_stored(app) == []
    assert any(CLEAN in text for _where, text in stored_texts(app))


def test_control_characters_in_an_employee_import_are_stripped(app, client, auth, users):
    auth.login(users["admin"])
    csv = "email,name,department,location,roles\r\nola@example.com,Ola\x00 Nowak,Sa\x01les,Wa\x7fw,employee\r\n"
    response = client.post("/admin/users/import", data={"file": (io.BytesIO(csv.encode()), "people.csv")},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 200
    assert control_characters_stored(app) == []
    with app.app_context():
        assert db.session.scalar(select(User.display_name).where(User.email == "ola@example.com")) == CLEAN


@pytest.mark.parametrize("q", ["%00", "a%00b", "%1b%5b31m", "%ff%fe"])
def test_control_characters_in_a_search_are_harmless(client, auth, users, q):
    auth.login(users["admin"])
    assert client.get(f"/admin/users?q={q}").status_code == 200
    auth.login(users["employee"])
    assert client.get(f"/kudos/people?q={q}").status_code == 200


@pytest.mark.parametrize(
    "path", ["/login/magic/%00abc", "/invite/%00abc", "/password/reset/%00abc", "/media/avatars/%00.webp"]
)
def test_control_characters_in_path_tokens_are_not_found(client, auth, users, path):
    if path.startswith("/media"):
        auth.login(users["employee"])
    assert client.get(path).status_code in (404, 410)


JSON_BODIES = [{"display_name": 5, "timezone": "UTC", "locale": "en"}, {"display_name": ["a", "b"]},
               {"display_name": {"a": 1}}, [1, 2], "x", 5]  # fmt: skip


@pytest.mark.parametrize("body", JSON_BODIES)
def test_a_json_body_is_not_a_form(app, client, auth, users, body):
    uid = auth.login(users["employee"])
    assert client.post("/me", json=body).status_code < 500  # the form reads no JSON: nothing to change
    assert get(app, User, uid).display_name == "Erin Employee"
    auth.login(users["admin"])
    before = row_counts(app)
    assert client.post("/admin/departments", json={"name": body}).status_code == 400  # no name typed
    assert row_counts(app) == before


def test_a_file_stands_in_for_no_text_field(app, client, auth, users):
    uid = auth.login(users["employee"])
    response = client.post(
        "/me",
        data={"display_name": (io.BytesIO(b"Mallory"), "name.txt"), "timezone": "UTC", "locale": "en"},
        content_type="multipart/form-data",
    )
    assert response.status_code < 500
    assert get(app, User, uid).display_name == "Erin Employee"
    auth.login(users["admin"])
    before = row_counts(app)
    response = client.post("/admin/departments", data={"name": (io.BytesIO(b"Sales"), "name.txt")},
                           content_type="multipart/form-data")  # fmt: skip
    assert response.status_code == 400
    assert row_counts(app) == before


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_form_inherits_the_base_form(app):
    from flask_wtf import FlaskForm

    herald = [f for f in _subclasses(FlaskForm) if f.__module__.split(".")[0] in ("app", "rewards", "surveys")]
    assert herald, "no forms found"
    assert [f"{f.__module__}.{f.__name__}" for f in herald if not issubclass(f, Form)] == []


@pytest.mark.parametrize("path", ["/admin/departments", "/admin/locations"])
def test_a_name_with_non_ascii_capitals_is_a_duplicate_not_a_crash(app, client, auth, users, path):
    # SQLite's lower() folds only ASCII, so "ÖLSTADT" once slipped past the duplicate check (found by fuzzing).
    auth.login(users["admin"])
    assert client.post(path, data={"name": "ÖLSTADT Ürümqi"}).status_code == 302
    before = row_counts(app)
    response = client.post(path, data={"name": "ÖLSTADT Ürümqi"})
    assert response.status_code == 400
    assert "already exists" in response.get_data(as_text=True)
    assert row_counts(app) == before
