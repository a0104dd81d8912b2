"""Conversions: the API with tokens, the pixel, the CSV import, points for them, and attribution in the redirect."""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image
from sqlalchemy import func, select

from app import caches
from app.analytics import services
from app.analytics.models import ApiToken, Conversion, PostDay
from app.audit import AuditEntry
from app.content import services as content
from app.content.models import Post
from app.database import write_intent
from app.extensions import db
from app.gamification.models import PointEntry
from app.ratelimit import sign_in_limits
from app.timeutil import utcnow
from tests.helpers import (
    balance_and_ledger,
    code_of,
    get,
    make_api_token,
    make_post,
    report_conversion,
    run_parallel,
    share,
    visit,
)

PIXEL = "/api/v1/conversions/pixel.gif"


@dataclass
class Linked:
    """A campaign post the employee shared on LinkedIn: the code of their link, and who is who."""

    code: str
    post_id: int
    campaign_id: int
    sharer_id: int
    admin_id: int


@pytest.fixture
def linked(app, client, auth, users) -> Linked:
    with app.test_request_context(method="POST"):
        campaign = content.create_campaign("Hiring", "share", "shares", 10, None)
        db.session.commit()
        campaign_id = campaign.id
    post_id = make_post(app, title="We are hiring", url="https://jobs.example.com/open?team=web",
                        campaign_id=campaign_id)  # fmt: skip
    auth.login(users["employee"])
    code = code_of(share(client, post_id, "linkedin")["link"])
    auth.logout()
    return Linked(code, post_id, campaign_id, users["employee"], users["admin"])


@pytest.fixture
def token(app) -> str:
    return make_api_token(app)[1]


def count(app, model=Conversion) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def conversion_points(app, user_id) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
                PointEntry.user_id == user_id, PointEntry.reason == "conversion"
            )
        )


def set_attribution(app, on: bool, param: str = "herald_ref") -> None:
    with app.app_context(), write_intent():
        services.save_settings({**services.get_settings(), "attribution": on, "attribution_param": param})
        db.session.commit()
    caches.clear(app)


# --- tokens --------------------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_hash_is_stored(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/analytics/tokens", data={"name": "Careers site"})
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    with app.app_context():
        stored = db.session.scalars(select(ApiToken)).one()
        plain = re.search(r'id="new-token">(herald_[A-Za-z0-9_-]{43})<', html).group(1)
        assert stored.token_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert stored.prefix == plain[:12] and stored.name == "Careers site"
        assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == stored.id)) == (
            "api_token.create"
        )
    page = client.get("/admin/analytics/tokens").get_data(as_text=True)
    assert plain not in page  # never shown again
    assert plain[:12] in page and "Careers site" in page and "Never" in page


def test_a_token_needs_a_name(client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/analytics/tokens", data={"name": "  "})
    assert response.status_code == 400
    assert "Give the token a name" in response.get_data(as_text=True)


def test_the_tokens_page_says_when_there_are_none(client, auth, users):
    auth.login(users["admin"])
    assert "No tokens yet" in client.get("/admin/analytics/tokens").get_data(as_text=True)


# --- the API -------------------------------------------------------------------------------------------------


def test_a_report_is_credited_to_the_post_campaign_network_and_sharer(app, client, linked, token):
    response = report_conversion(client, token, code=linked.code, kind="application", value="120.50",
                                 idempotency_key="ATS-1042")  # fmt: skip

    assert response.status_code == 201
    body = response.get_json()
    assert body["created"] is True
    with app.app_context():
        conversion = db.session.get(Conversion, body["id"])
        post = db.session.get(Post, conversion.post_id)
        stored = db.session.scalars(select(ApiToken)).one()
        assert (conversion.post_id, post.campaign_id, conversion.network, conversion.sharer_id) == (
            linked.post_id, linked.campaign_id, "linkedin", linked.sharer_id,
        )  # fmt: skip
        assert (conversion.kind, conversion.value, conversion.source) == ("application", Decimal("120.50"), "api")
        assert conversion.token_id == stored.id and conversion.idempotency_key == "api:ATS-1042"
        assert conversion.day == utcnow().date()
        assert stored.last_used_at is not None


def test_the_api_needs_no_csrf_token_but_the_admin_pages_do(app, client, auth, linked, token):
    app.config["WTF_CSRF_ENABLED"] = True
    assert report_conversion(client, token, code=linked.code, kind="lead").status_code == 201
    auth.login(linked.admin_id)
    assert client.post("/admin/analytics/tokens", data={"name": "Shop"}).status_code == 400
    assert count(app, ApiToken) == 1


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer herald_not-a-real-token", "Bearer ", "Basic dXNlcjpwYXNz", "herald_no-scheme",
     "Bearer " + "x" * 500],
)  # fmt: skip
def test_a_missing_or_bad_token_gets_401_and_stores_nothing(app, client, linked, token, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.post("/api/v1/conversions", json={"code": linked.code, "kind": "lead"}, headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "valid API token" in response.get_json()["error"]
    assert count(app) == 0
    assert get(app, ApiToken, 1) is None or get(app, ApiToken, 1).last_used_at is None


def test_a_revoked_token_gets_401_and_stores_nothing(app, client, auth, linked):
    token_id, token = make_api_token(app)
    assert report_conversion(client, token, code=linked.code, kind="lead").status_code == 201
    auth.login(linked.admin_id)

    response = client.post(f"/admin/analytics/tokens/{token_id}/revoke", follow_redirects=True)
    assert "revoked" in response.get_data(as_text=True)
    auth.logout()

    refused = report_conversion(client, token, code=linked.code, kind="lead")
    assert refused.status_code == 401
    assert count(app) == 1  # the one from before the revocation stays
    assert get(app, ApiToken, token_id).revoked_at is not None
    auth.login(linked.admin_id)
    again = client.post(f"/admin/analytics/tokens/{token_id}/revoke", follow_redirects=True)
    assert "revoked already" in again.get_data(as_text=True)


def test_an_unknown_code_gets_404_and_stores_nothing(app, client, linked, token):
    for code in ("Zz9Zz9Zz9Z", "no", "../../etc", "x" * 40):
        response = report_conversion(client, token, code=code, kind="lead")
        assert response.status_code == 404, code
        assert response.get_json()["error"] == "No tracked link has this code."
    assert count(app) == 0
    assert conversion_points(app, linked.sharer_id) == 0
    with app.app_context():  # the refused requests rolled back, the token's last use too
        assert db.session.scalars(select(ApiToken)).one().last_used_at is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"kind": "lead"}, "The code is missing"),
        ({"code": 12345678, "kind": "lead"}, "The code is missing"),
        ({"code": "{code}", "kind": "refund"}, "The kind must be one of"),
        ({"code": "{code}"}, "The kind must be one of"),
        ({"code": "{code}", "kind": "lead", "value": -1}, "The value must be a number"),
        ({"code": "{code}", "kind": "lead", "value": "12.505"}, "The value must be a number"),
        ({"code": "{code}", "kind": "lead", "value": 1e30}, "The value must be a number"),
        ({"code": "{code}", "kind": "lead", "value": True}, "The value must be a number"),
        ({"code": "{code}", "kind": "lead", "value": "ten"}, "The value must be a number"),
        ({"code": "{code}", "kind": "lead", "idempotency_key": "has space"}, "The idempotency key"),
        ({"code": "{code}", "kind": "lead", "idempotency_key": "k" * 101}, "The idempotency key"),
        ({"code": "{code}", "kind": "lead", "idempotency_key": 7}, "The idempotency key"),
        (["{code}", "lead"], "Send a JSON object"),
    ],
)
def test_a_bad_body_gets_400_with_a_clear_message_and_stores_nothing(app, client, linked, token, body, message):
    if isinstance(body, dict):
        body = {k: (v.format(code=linked.code) if isinstance(v, str) else v) for k, v in body.items()}
    response = client.post("/api/v1/conversions", json=body, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)
    assert count(app) == 0


def test_a_body_that_is_not_json_gets_415(app, client, linked, token):
    response = client.post("/api/v1/conversions", data={"code": linked.code, "kind": "lead"},
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]
    broken = client.post("/api/v1/conversions", data="{not json", content_type="application/json",
                         headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    assert broken.status_code == 400
    assert count(app) == 0


def test_a_replayed_report_with_the_same_key_stores_one(app, client, linked, token):
    first = report_conversion(client, token, code=linked.code, kind="signup", idempotency_key="order-1")
    again = report_conversion(client, token, code=linked.code, kind="signup", idempotency_key="order-1")
    by_header = report_conversion(client, token, {"Idempotency-Key": "order-1"}, code=linked.code, kind="signup")

    assert first.status_code == 201 and again.status_code == 200 and by_header.status_code == 200
    assert first.get_json()["id"] == again.get_json()["id"] == by_header.get_json()["id"]
    assert again.get_json()["created"] is False
    assert count(app) == 1
    assert conversion_points(app, linked.sharer_id) == 25  # awarded once


def test_two_different_keys_in_one_request_are_refused(app, client, linked, token):
    response = report_conversion(client, token, {"Idempotency-Key": "b"}, code=linked.code, kind="lead",
                                 idempotency_key="a")  # fmt: skip
    assert response.status_code == 400
    assert count(app) == 0


def test_reports_without_a_key_are_each_a_new_conversion(app, client, linked, token):
    for _ in range(2):
        assert report_conversion(client, token, code=linked.code, kind="lead").status_code == 201
    assert count(app) == 2


def test_concurrent_replays_of_one_report_store_one_conversion(app, linked, token):
    def report(_i):
        response = report_conversion(app.test_client(), token, code=linked.code, kind="lead", idempotency_key="race")
        return response.status_code, response.get_json()["id"]

    results = run_parallel(8, report)

    assert sorted(code for code, _id in results) == [200] * 7 + [201]
    assert len({conversion_id for _code, conversion_id in results}) == 1
    assert count(app) == 1
    assert conversion_points(app, linked.sharer_id) == 25


def test_conversions_earn_points_once_each_within_the_daily_cap(app, client, linked, token):
    for i in range(7):
        response = report_conversion(client, token, code=linked.code, kind="lead", idempotency_key=f"k{i}")
        assert response.status_code == 201

    assert conversion_points(app, linked.sharer_id) == 5 * 25  # default: 25 points, 5 a day
    with app.app_context():
        awarded = db.session.scalars(select(Conversion.points_awarded).order_by(Conversion.id)).all()
    assert awarded == [True] * 5 + [False] * 2
    assert balance_and_ledger(app, linked.sharer_id)[0] == balance_and_ledger(app, linked.sharer_id)[1]


def test_the_points_page_names_the_conversion(app, client, auth, linked, token):
    report_conversion(client, token, code=linked.code, kind="lead", idempotency_key="k1")
    auth.login(linked.sharer_id)
    assert "conversion through your link to “We are hiring”" in client.get("/me/points").get_data(as_text=True)


def test_admins_set_the_conversion_rule_and_its_cap(app, client, auth, linked, token):
    auth.login(linked.admin_id)
    page = client.get("/admin/points").get_data(as_text=True)
    assert 'name="points-conversion"' in page and 'name="cap-conversion-count"' in page

    response = client.post("/admin/points", data={"points-conversion": "40", "cap-conversion-count": "1",
                                                  "streak-period": "weekly"})  # fmt: skip
    assert response.status_code == 302
    auth.logout()
    for key in ("a", "b"):
        report_conversion(client, token, code=linked.code, kind="lead", idempotency_key=key)
    assert conversion_points(app, linked.sharer_id) == 40


def test_the_api_is_rate_limited_per_address(app, client, linked, token):
    app.config.update(RATELIMIT_ENABLED=True, CONVERSION_RATE_LIMIT="2 per minute")
    sign_in_limits(app).reset()
    codes = [report_conversion(client, token, code=linked.code, kind="lead").status_code for _ in range(3)]
    sign_in_limits(app).reset()

    assert codes == [201, 201, 429]
    assert count(app) == 2


# --- the pixel -----------------------------------------------------------------------------------------------


def _is_a_transparent_pixel(response) -> bool:
    image = Image.open(io.BytesIO(response.data))
    return response.mimetype == "image/gif" and image.size == (1, 1)


def test_the_pixel_records_nothing_while_attribution_is_off(app, client, linked):
    response = client.get(PIXEL, query_string={"code": linked.code, "kind": "signup"})

    assert response.status_code == 200 and _is_a_transparent_pixel(response)
    assert response.headers["Cache-Control"] == "no-store"
    assert count(app) == 0


def test_the_pixel_records_once_per_visitor_and_earns_no_points(app, client, linked):
    set_attribution(app, True)
    answers = [client.get(PIXEL, query_string={"code": linked.code, "kind": "signup", "value": "9.99"})
               for _ in range(2)]  # fmt: skip
    other_visitor = client.get(PIXEL, query_string={"code": linked.code, "kind": "signup"},
                               environ_base={"REMOTE_ADDR": "198.51.100.9"})  # fmt: skip

    assert all(_is_a_transparent_pixel(r) for r in [*answers, other_visitor])
    with app.app_context():
        rows = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
        assert [(c.source, c.kind, c.sharer_id, c.points_awarded) for c in rows] == [
            ("pixel", "signup", linked.sharer_id, False)
        ] * 2
        assert rows[0].value == Decimal("9.99") and rows[0].token_id is None
    assert conversion_points(app, linked.sharer_id) == 0


def test_the_pixel_keeps_the_page_s_own_key(app, client, linked):
    set_attribution(app, True)
    for ip in ("198.51.100.1", "198.51.100.2"):
        client.get(PIXEL, query_string={"code": linked.code, "kind": "lead", "key": "order-9"},
                   environ_base={"REMOTE_ADDR": ip})  # fmt: skip
    assert count(app) == 1


@pytest.mark.parametrize(
    "query",
    [{"code": "Zz9Zz9Zz9Z", "kind": "lead"}, {"kind": "lead"}, {"code": "{code}"}, {"code": "{code}", "kind": "x"},
     {"code": "{code}", "kind": "lead", "value": "-5"}, {"code": "{code}", "kind": "lead", "key": "a b"}],
)  # fmt: skip
def test_the_pixel_answers_the_same_image_for_anything_it_cannot_record(app, client, linked, query):
    set_attribution(app, True)
    good = client.get(PIXEL, query_string={"code": linked.code, "kind": "lead"})
    response = client.get(PIXEL, query_string={k: v.format(code=linked.code) for k, v in query.items()})

    assert response.status_code == 200 and response.data == good.data
    assert response.headers["Content-Type"] == good.headers["Content-Type"]
    assert count(app) == 1  # only the good one


def test_the_pixel_is_rate_limited_per_address_and_still_answers_the_image(app, client, linked):
    set_attribution(app, True)
    app.config.update(RATELIMIT_ENABLED=True, PIXEL_RATE_LIMIT="1 per minute")
    sign_in_limits(app).reset()
    answers = [client.get(PIXEL, query_string={"code": linked.code, "kind": "lead", "key": f"k{i}"}) for i in range(2)]
    sign_in_limits(app).reset()

    assert [r.status_code for r in answers] == [200, 200]
    assert count(app) == 1


# --- CSV import ----------------------------------------------------------------------------------------------


def upload(client, body: bytes, filename="conversions.csv"):
    return client.post("/admin/analytics/conversions", data={"file": (io.BytesIO(body), filename)},
                       content_type="multipart/form-data")  # fmt: skip


def test_an_import_credits_every_row_and_a_second_import_adds_nothing(app, client, auth, linked):
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    body = (
        "code;kind;value;occurred_at;id\n"
        f"{linked.code};application;;{yesterday};ATS-1\n"
        f"{linked.code};Lead;120,50;2026-01-05T10:00:00+01:00;CRM-7\n"
        f"{linked.code};signup;;;\n"
        "\n"
    ).encode()
    auth.login(linked.admin_id)

    first = upload(client, body)
    html = first.get_data(as_text=True)
    assert first.status_code == 200
    assert "3 conversions imported" in html and "0 were already there" in html
    with app.app_context():
        rows = db.session.scalars(select(Conversion).order_by(Conversion.id)).all()
        assert [(c.kind, c.source, c.sharer_id, c.post_id) for c in rows] == [
            ("application", "import", linked.sharer_id, linked.post_id),
            ("lead", "import", linked.sharer_id, linked.post_id),
            ("signup", "import", linked.sharer_id, linked.post_id),
        ]
        assert rows[0].day.isoformat() == yesterday and rows[0].idempotency_key == "import:ATS-1"
        assert rows[1].occurred_at == datetime(2026, 1, 5, 9, tzinfo=UTC) and rows[1].value == Decimal("120.50")
        assert rows[2].day == utcnow().date()
        # Yesterday was rolled up again: the dashboard (which reads roll-ups for past days) sees the import.
        day = date.fromisoformat(yesterday)
        assert (
            db.session.scalar(select(func.sum(PostDay.conversions)).where(PostDay.day == day, PostDay.scope == "all"))
            == 1
        )
    assert conversion_points(app, linked.sharer_id) == 3 * 25

    again = upload(client, body)
    assert "0 conversions imported" in again.get_data(as_text=True)
    assert "3 were already there" in again.get_data(as_text=True)
    assert count(app) == 3
    assert conversion_points(app, linked.sharer_id) == 3 * 25


def test_an_import_with_bad_rows_imports_nothing_and_lists_every_problem(app, client, auth, linked):
    body = (
        "code,kind,value,occurred_at,id\n"
        f"{linked.code},application,,,ATS-1\n"
        "Zz9Zz9Zz9Z,lead,,,\n"
        f"{linked.code},refund,,,\n"
        f"{linked.code},lead,-3,,\n"
        f"{linked.code},lead,,2026-02-30,\n"
        f"{linked.code},lead,,2999-01-01,\n"
        f"{linked.code},lead,,,has space\n"
        "not a code!,lead,,,\n"
    ).encode()
    auth.login(linked.admin_id)

    response = upload(client, body)
    html = response.get_data(as_text=True)

    assert response.status_code == 400
    assert "Nothing was imported" in html and "Fix these 7 problems" in html
    problems = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td></tr>", html)
    expected = [(3, "No tracked link has the code"), (4, "The kind must be one of"), (5, "The value must be a number"),
                (6, "is not a date"), (7, "before 2000 or in the future"), (8, "The idempotency key"),
                (9, "is not a tracked link")]  # fmt: skip
    assert [int(line) for line, _text in problems] == [line for line, _text in expected]
    assert all(text in found for (_line, found), (_l, text) in zip(problems, expected, strict=True)), problems
    assert count(app) == 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The file is empty."),
        (b"code,value\nabc,1\n", "Missing column(s): kind."),
        (b"code,kind\n", "The file has a header but no rows."),
        ("code,kind\n\xff\xfe".encode("latin-1"), "The file is not UTF-8 text."),
    ],
)
def test_a_malformed_file_is_refused_with_its_reason(app, client, auth, linked, body, message):
    auth.login(linked.admin_id)
    response = upload(client, body)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).replace("&#34;", '"')
    assert count(app) == 0


def test_the_import_refuses_a_file_that_is_not_csv(client, auth, users):
    auth.login(users["admin"])
    response = upload(client, b"\x89PNG\r\n", filename="photo.png")
    assert response.status_code == 400
    assert "Upload a .csv file." in response.get_data(as_text=True)


def test_the_sample_file_has_every_column(client, auth, users):
    auth.login(users["admin"])
    response = client.get("/admin/analytics/conversions/template.csv")
    assert response.status_code == 200
    assert response.get_data(as_text=True).lstrip("\ufeff").splitlines()[0] == "code,kind,value,occurred_at,id"


def test_the_conversions_page_lists_them_newest_first_or_says_there_are_none(app, client, auth, linked, token):
    auth.login(linked.admin_id)
    assert "No conversions yet" in client.get("/admin/analytics/conversions").get_data(as_text=True)
    report_conversion(client, token, code=linked.code, kind="application", value=80, idempotency_key="a")
    report_conversion(client, token, code=linked.code, kind="lead", idempotency_key="b")

    html = client.get("/admin/analytics/conversions").get_data(as_text=True)
    assert html.index("<td>Lead</td>") < html.index("<td>Application</td>")
    assert "Erin Employee" in html and "We are hiring" in html and "80.00 EUR" in html


# --- attribution in the redirect -----------------------------------------------------------------------------


def test_the_redirect_adds_no_attribution_by_default(app, linked):
    target = visit(app, linked.code).headers["Location"]
    assert "herald_ref" not in target
    assert parse_qs(urlsplit(target).query)["team"] == ["web"]


def test_the_redirect_adds_the_code_when_attribution_is_on(app, client, auth, linked):
    auth.login(linked.admin_id)
    response = client.post("/admin/analytics/settings", data={"currency": "eur", "attribution": "1",
                                                              "attribution_param": "ref"})  # fmt: skip
    assert response.status_code == 302

    query = parse_qs(urlsplit(visit(app, linked.code).headers["Location"]).query)
    assert query["ref"] == [linked.code]
    assert query["team"] == ["web"] and query["utm_source"] == ["linkedin"]
    with app.app_context():
        saved = services.get_settings()
    assert (saved["attribution"], saved["attribution_param"], saved["currency"]) == (True, "ref", "EUR")

    set_attribution(app, False)
    assert "ref=" not in visit(app, linked.code).headers["Location"]


def test_the_code_replaces_a_parameter_of_the_same_name_in_the_post_s_address(app, client, auth, users):
    post_id = make_post(app, url="https://example.com/a?herald_ref=spoofed")
    auth.login(users["employee"])
    code = code_of(share(client, post_id)["link"])
    set_attribution(app, True)
    assert parse_qs(urlsplit(visit(app, code).headers["Location"]).query)["herald_ref"] == [code]


def test_attribution_costs_the_redirect_no_statement_of_its_own(app, linked, count_queries):
    set_attribution(app, True)
    assert visit(app, linked.code).status_code == 302  # today's visitor salt is known from here on
    app.extensions["herald_redirects"].forget(linked.code)

    with count_queries() as miss:
        assert "herald_ref" in visit(app, linked.code).headers["Location"]
    with count_queries() as hit:
        visit(app, linked.code)

    assert miss.total == 1, miss  # the link's lookup reads the setting in the same statement
    assert hit.total == 0, hit


# --- settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("attribution_param", "utm_source", "not with utm_"),
        ("attribution_param", "a b", "not with utm_"),
        ("attribution_param", "x" * 33, "not with utm_"),
        ("attribution_param", "", "This field is required."),
        ("currency", "EURO", "three-letter currency code"),
        ("cost-linkedin", "-1", "from 0 to 10,000"),
        ("cost-linkedin", "10000.01", "from 0 to 10,000"),
        ("cost-x", "1e3", "from 0 to 10,000"),
    ],
)
def test_the_settings_refuse_bad_values_and_change_nothing(app, client, auth, users, field, value, message):
    auth.login(users["admin"])
    data = {"currency": "EUR", "attribution_param": "herald_ref", field: value}
    response = client.post("/admin/analytics/settings", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    with app.app_context():
        assert services.get_settings() == services.DEFAULT_SETTINGS


def test_the_settings_save_costs_and_keep_the_ones_left_empty(app, client, auth, users):
    auth.login(users["admin"])
    page = client.get("/admin/analytics/settings").get_data(as_text=True)
    assert 'name="cost-linkedin"' in page and 'value="5.00"' in page and "pixel.gif?code=" in page

    response = client.post("/admin/analytics/settings", data={"currency": "pln", "attribution_param": "herald_ref",
                                                              "cost-linkedin": "7,25", "cost-x": ""})  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        saved = services.get_settings()
        assert db.session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "analytics.settings"
    assert saved["currency"] == "PLN" and saved["attribution"] is False
    assert saved["cost_per_click"]["linkedin"] == 7.25 and saved["cost_per_click"]["x"] == 0.5


def test_the_conversion_pages_speak_polish(app, client, auth, factory):
    auth.login(factory.user("ola@example.com", "Ola Nowak", roles=("employee", "admin"), locale="pl"))
    for path in ("/admin/analytics/tokens", "/admin/analytics/conversions", "/admin/analytics/settings"):
        html = client.get(path).get_data(as_text=True)
        assert '<html lang="pl">' in html
        assert "API tokens" not in html and "Import a CSV" not in html and "Save settings" not in html
