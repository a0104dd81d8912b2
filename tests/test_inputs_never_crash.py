"""Inputs that never crash: Hypothesis posts generated values to every state-changing route.

Every POST route in the URL map has an entry in ``FUZZ`` (a plain test fails when one
is missing, so a new route cannot ship unfuzzed). Each example signs in with the role
that may use the route (the view's declared roles; the route matrix checks those), sends
a real CSRF token, and posts a mix of plausible and hostile values (empty, very long,
NUL and other control characters, invalid UTF-8, negative and huge numbers, 1e30, far
dates, unknown time zones) as a form, a multipart body with a file where text belongs, a
JSON body or plain text. The answer is never a 5xx, and a refused request (a 4xx, or a
page or redirect carrying an error message) leaves every table exactly as it was.

CI runs ``EXAMPLES`` generated inputs per route; ``HERALD_FUZZ_EXAMPLES=500`` runs more.
The number tried per route (and how many of those were accepted) is printed at the end.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from urllib.parse import urlencode

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    FileField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    URLField,
)
from wtforms.fields.core import UnboundField

from app.extensions import db
from tests.helpers import FUZZ_TRIED, link_in, make_targets, path_of

EXAMPLES = 25  # per route in CI: about 35 s for the whole module on SQLite
settings.register_profile(
    "ci",
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the work tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "long", settings.get_profile("ci"), max_examples=int(os.environ.get("HERALD_FUZZ_EXAMPLES") or EXAMPLES)
)
PROFILE = settings.get_profile("long" if os.environ.get("HERALD_FUZZ_EXAMPLES") else "ci")


# --- values ------------------------------------------------------------------------------------------------------

# What a hostile or careless client sends, whatever the field.
# fmt: off
HOSTILE_SAMPLES = [
    "", " ", "\x00", "a\x00b", "\r\n", "\t", "\x1b[31m", "\u202e", "\ufeff", "\uffff",  # empty, controls
    "0", "-1", "-0", "2147483647", "2147483648", "-2147483649", "9" * 30, "-" + "9" * 30,  # integer edges
    "1e30", "1e20", "-1e30", "1.5", "NaN", "inf", "0x10", "1_000", "١٢", "²",  # not whole numbers
    "0001-01-01T00:00", "9999-12-31T23:59", "2030-02-30T10:00", "2030-01-01T25:61", "10000-01-01T00:00",
    "2030-01-01T09:00+14:00", "2030-01-01",  # dates
    "Not/AZone", "../../etc/passwd", "UTC\x00", "Europe/Warsaw\n",  # time zones
    "<script>alert(1)</script>", "' OR 1=1 --", "%00", "{link}{{7*7}}{0}%s", "javascript:alert(1)",
    "http://[::1]:99999/", "http://user:pw@x/",  # injection and address tricks
    "x" * 5_000, "é" * 70_000,  # very long
]
# fmt: on
HOSTILE = st.one_of(
    st.sampled_from(HOSTILE_SAMPLES),
    st.text(max_size=40),
    st.binary(max_size=40),  # mostly invalid UTF-8
    st.integers(min_value=-(10**40), max_value=10**40).map(str),
    st.floats().map(str),
)


@dataclass
class Value:
    """A field's plausible values (so validation sometimes passes and the view's logic runs)."""

    plausible: list | None = None  # strings; "{name}" is filled from the targets
    many: bool = False  # a multi-valued field (checkboxes)
    file: bytes | None = None  # a file field: this content is the plausible upload
    filename: str = "upload.png"

    def good(self, targets: dict):
        """Values a person would send."""
        if self.file is not None:
            return st.just(_Upload(self.file, self.filename))
        one = self._one(targets)
        return st.lists(one, max_size=3, unique=True) if self.many else one

    def _one(self, targets: dict):
        return st.sampled_from([p.format(**targets) for p in self.plausible or [""]])

    def hostile(self, targets: dict):
        """Hostile values, or plausible ones mixed with hostile ones for a multi-valued field."""
        if self.file is not None:
            names = st.sampled_from([self.filename, "a.exe", "../../x.png", "x\x00.csv", ""])
            return st.builds(_Upload, st.one_of(st.binary(max_size=300), HOSTILE.map(_as_bytes)), names)
        return st.lists(st.one_of(self._one(targets), HOSTILE), min_size=1, max_size=3) if self.many else HOSTILE


@dataclass(frozen=True)
class _Upload:
    content: bytes
    filename: str = "upload.bin"


def _as_bytes(value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


TEXT = Value(["Hello", "Ola Nowak", "Zażółć gęślą jaźń", "Read {{link}} now"])
EMAIL = Value(
    ["employee@example.com", "target@example.com", "admin@example.com", "new@example.com", "EMPLOYEE@example.com "]
)
NUMBER = Value(["0", "1", "5", "25", "100"])
DATE = Value(["2030-06-01T09:00", "2031-01-01T00:00", "2000-01-01T00:00", "2100-12-31T23:59"])
ZONE = Value(["UTC", "Europe/Warsaw", "America/New_York", "Pacific/Kiritimati"])
URL = Value(["https://example.com/new", "http://example.org/a?b=c", "https://example.com/a"])
FLAG = Value(["1", "y", "on", "0"])
MULTIPLIER = Value(["", "100", "250", "1000", "99", "1001"])  # points multiplier, percent
KEY = Value(["key-{post_id}-{reward_id}-abcdef", "targets-key-1", "short"])
PASSWORD = Value(["correct horse battery", "short"])


def _png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


PNG = Value(file=_png(), filename="photo.png")
CSV_PEOPLE = Value(
    file=b"email,name,department,location,roles,timezone\nnew@example.com,New Person,Sales,Warsaw,employee,UTC\n",
    filename="people.csv",
)
CSV_CODES = Value(file=b"code\nGIFT-0001-AAAA\nGIFT-0002-BBBB\n", filename="codes.csv")
CSV_CONVERSIONS = Value(
    file=b"code,kind,value,occurred_at,id\nZz9Zz9Zz9Z,application,,2026-11-03,ATS-1\n", filename="conversions.csv"
)


def choice(*values) -> Value:
    """One of these values."""
    return Value(list(values))


def ids(*names, many=False) -> Value:
    """Real ids from the targets (and 0, "none")."""
    return Value([f"{{{name}}}" for name in names] + ["0"], many=many)


def form_fields(form_class, **overrides) -> dict[str, Value]:
    """A Flask-WTF form's fields, each with plausible values by type (``overrides`` by name)."""
    fields = {}
    for name in dir(form_class):
        unbound = getattr(form_class, name, None)
        if not isinstance(unbound, UnboundField):
            continue
        kind = unbound.field_class
        choices = unbound.kwargs.get("choices")
        if name in overrides:
            fields[name] = overrides[name]
        elif issubclass(kind, FileField):
            fields[name] = PNG
        elif issubclass(kind, SelectMultipleField | SelectField):
            values = [getattr(c, "value", c[0] if isinstance(c, tuple) else c) for c in choices or []]
            fields[name] = Value([str(v) for v in values] or ["0"], many=issubclass(kind, SelectMultipleField))
        elif issubclass(kind, BooleanField):
            fields[name] = FLAG
        elif issubclass(kind, IntegerField):
            fields[name] = NUMBER
        elif issubclass(kind, DateTimeLocalField):
            fields[name] = DATE
        elif issubclass(kind, EmailField):
            fields[name] = EMAIL
        elif issubclass(kind, URLField):
            fields[name] = URL
        elif issubclass(kind, PasswordField):
            fields[name] = PASSWORD
        else:
            fields[name] = TEXT
    return fields


# --- the table ---------------------------------------------------------------------------------------------------


@dataclass
class Route:
    """How to fuzz one state-changing route: its fields, who posts, and an optional query string."""

    fields: dict[str, Value] = field(default_factory=dict)
    who: str | None = None  # overrides the role read from the view (e.g. sign-out is tried signed in)
    query: str = ""
    args: dict[str, str] = field(default_factory=dict)  # URL argument -> targets key, where not the same name
    # An error message here reports what the action met (a feed that could not be read, recorded as
    # such), not a refusal: only a 4xx counts as refused.
    error_message_is_a_refusal: bool = True
    headers: dict[str, str] = field(default_factory=dict)  # sent with every example; "{name}" from the targets
    encodings: tuple[str, ...] = ()  # the bodies to send (default: mostly forms, sometimes JSON or text)


def _post_fields() -> dict[str, Value]:
    from app.content.forms import CAPTION_SLOTS, PostForm

    captions = {}
    for i in range(CAPTION_SLOTS):
        captions |= {f"caption-{i}-text": TEXT, f"caption-{i}-network": choice("generic", "linkedin", "x"),
                     f"caption-{i}-variant": choice("A", "B")}  # fmt: skip
    return {
        **form_fields(
            PostForm,
            campaign_id=ids("campaign_id"),
            department_ids=ids("department_id", many=True),
            location_ids=ids("location_id", many=True),
            points_multiplier=MULTIPLIER,
        ),
        **captions,
        "suggestion": ids("suggestion_id"),
        "item": ids("item_id"),
    }


def _reward_fields() -> dict[str, Value]:
    return {
        "kind": choice("merch", "gift_card", "experience"), "title": TEXT, "cost": NUMBER, "description": TEXT,
        "brand": TEXT, "denomination": TEXT, "quantity": NUMBER, "limit_per_month": NUMBER, "limit_total": NUMBER,
        "requires_approval": FLAG, "active": FLAG, "low_stock_at": NUMBER, "starts_at": DATE, "ends_at": DATE,
        "variants": Value(["M: 10", "S / Navy: 3\nL: 0"]),
        "department_ids": ids("department_id", many=True), "location_ids": ids("location_id", many=True),
        "image": PNG,
    }  # fmt: skip


def fuzz_table() -> dict[str, Route]:
    """Every state-changing endpoint and how to fuzz it. Add a new POST route here."""
    from app.accounts.forms import (
        AcceptInviteForm,
        ForgotPasswordForm,
        LoginForm,
        MagicLinkForm,
        ProfileForm,
        ResetPasswordForm,
    )
    from app.admin.forms import ImportForm, NameForm, UserForm
    from app.analytics.conversion_forms import COST_NETWORKS
    from app.content.forms import CampaignForm
    from app.gamification.rules import DEFAULT_RULES
    from app.notifications.forms import CtaForm
    from app.notifications.forms import SettingsForm as NotificationSettingsForm
    from app.privacy.forms import EraseForm
    from rewards import kudos
    from surveys.forms import NewSurveyForm, QuestionForm, SettingsForm

    user_form = form_fields(UserForm, department_id=ids("department_id"), location_id=ids("location_id"),
                            timezone=ZONE)  # fmt: skip
    name_form = form_fields(NameForm, timezone=ZONE)
    kudos_form = {"recipient": EMAIL, "message": TEXT, "points": NUMBER, "key": KEY}
    rules = {f"points-{action}": NUMBER for action in DEFAULT_RULES["points"]} | dict.fromkeys(
        ("cap-share-count", "cap-click-points", "cap-like-count", "cap-comment-count", "cap-conversion-count",
         "cap-total-points"), NUMBER,
    )  # fmt: skip
    question_form = form_fields(QuestionForm, dimension_id=Value(["", "1", "2", "9"]), options=Value(["A\nB", "Only"]))
    address = dict.fromkeys(("name", "line1", "line2", "postcode", "city", "country", "phone"), TEXT)
    return {
        # accounts
        "accounts.login": Route(form_fields(LoginForm, email=EMAIL)),
        "accounts.request_magic_link": Route(form_fields(MagicLinkForm)),
        "accounts.magic_landing": Route(),
        "accounts.logout": Route(who="employee"),
        "accounts.forgot_password": Route(form_fields(ForgotPasswordForm)),
        "accounts.reset_password": Route(form_fields(ResetPasswordForm)),
        "accounts.accept_invite": Route(form_fields(AcceptInviteForm)),
        "accounts.me": Route(form_fields(ProfileForm, timezone=ZONE, locale=choice("en", "pl"))),
        # admin: people and the organisation
        "admin.new_user": Route(user_form),
        "admin.edit_user": Route(user_form),
        "admin.deactivate_user": Route(),
        "admin.reactivate_user": Route(),
        "admin.resend_invite": Route(),
        "admin.import_users": Route(form_fields(ImportForm, file=CSV_PEOPLE)),
        "admin.departments": Route(name_form),
        "admin.update_department": Route(name_form),
        "admin.delete_department": Route(),
        "admin.locations": Route(name_form),
        "admin.update_location": Route(name_form),
        "admin.delete_location": Route(),
        # content
        "content.share": Route(
            {
                "network": choice("linkedin", "x", "facebook", "email", "copy", "native"),
                "caption": TEXT,
                "original": TEXT,
            }
        ),
        "content.keep_caption": Route({"caption": TEXT, "original": TEXT}),
        "content.like": Route(),
        "content.add_comment": Route({"body": TEXT}),
        "content.edit_comment": Route({"body": TEXT}),
        "content.remove_comment": Route(),
        "content.suggest": Route({"url": URL, "comment": TEXT}),
        "content.admin_new_post": Route(_post_fields()),
        "content.admin_edit_post": Route(_post_fields()),
        "content.admin_delete_post": Route(),
        "content.admin_preview": Route({"url": URL}),
        "content.admin_campaigns": Route(form_fields(CampaignForm, points_multiplier=MULTIPLIER)),
        "content.admin_reject_suggestion": Route({"reason": TEXT}),
        "content.admin_feeds": Route({"url": URL}, error_message_is_a_refusal=False),
        "content.admin_poll_feed": Route(error_message_is_a_refusal=False),
        "content.admin_dismiss_item": Route(),
        # gamification
        "gamification.privacy": Route({"hide": choice("1", "0")}),
        "gamification.admin_rules": Route(
            rules | {"streak-period": choice("daily", "weekly"), "boards-individual": FLAG, "boards-teams": FLAG}
        ),
        "gamification.admin_adjust": Route({"email": EMAIL, "delta": NUMBER, "note": TEXT, "key": KEY}),
        "gamification.admin_badges": Route(
            {
                "name": TEXT,
                "description": TEXT,
                "condition": choice("shares", "comments", "streak"),
                "threshold": NUMBER,
            }
        ),
        # rewards and kudos
        "rewards.redeem": Route(
            {
                "key": KEY,
                "variant_id": ids("variant_id"),
                "delivery": choice("ship", "pickup"),
                "pickup_location_id": ids("location_id"),
                **address,
            }  # fmt: skip
        ),
        "rewards.cancel": Route(),
        "rewards.reveal": Route(),
        "rewards.kudos_wall": Route(kudos_form),
        "rewards.admin_kudos": Route(
            kudos_form | {"form": choice("shoutout", "settings")} | dict.fromkeys(kudos.SETTING_RANGES, NUMBER)
        ),
        "rewards.admin_new_reward": Route(_reward_fields()),
        "rewards.admin_edit_reward": Route(_reward_fields()),
        "rewards.admin_upload_codes": Route({"codes": CSV_CODES}, args={"reward_id": "gift_card_id"}),
        "rewards.admin_update_redemption": Route(
            {
                "action": choice("approved", "rejected", "shipped", "delivered"),
                "reason": TEXT,
                "carrier": TEXT,
                "tracking": TEXT,
            },  # fmt: skip
            query="?back=approved",
        ),
        "rewards.admin_bulk_approve": Route({"ids": ids("redemption_id", many=True)}),
        # surveys
        "surveys.answer": Route({"q1": choice("0", "7", "10", "11"), "q2": TEXT, "q3": choice("1")}),
        "surveys.hr_new_survey": Route(form_fields(NewSurveyForm)),
        "surveys.hr_survey": Route(
            form_fields(
                SettingsForm, department_ids=ids("department_id", many=True), location_ids=ids("location_id", many=True)
            )
        ),  # fmt: skip
        "surveys.hr_add_question": Route(question_form),
        "surveys.hr_question": Route(question_form),
        "surveys.hr_delete_question": Route(),
        "surveys.hr_move_question": Route({"direction": choice("up", "down")}),
        "surveys.hr_reorder": Route({"order": Value(["1", "2", "{question_id}"], many=True)}),
        "surveys.hr_add_dimension": Route({"name": TEXT}, query="?survey=1"),
        "surveys.hr_launch": Route(),
        "surveys.hr_copy": Route(),
        "surveys.hr_archive": Route(),
        "surveys.hr_close_wave": Route(),
        "surveys.hr_reopen_wave": Route(),
        "surveys.hr_you_said": Route({"title": TEXT, "intro": TEXT, "d0": TEXT}),
        # notifications
        "notifications.read": Route(),
        "notifications.read_all": Route(),
        "notifications.settings": Route(
            form_fields(
                NotificationSettingsForm, quiet_start=choice("", "0", "22", "25"), quiet_end=choice("", "7", "22")
            )
        ),  # fmt: skip
        "notifications.subscribe": Route(
            {
                "endpoint": Value(["https://push.example.com/send/abc", "http://127.0.0.1:9/x", "https://10.0.0.1/x"]),
                "p256dh": Value(["B" * 87, "short"]),
                "auth": Value(["A" * 22, "x"]),
                "device": TEXT,
                "refresh": FLAG,
                "previous": Value(["", "https://127.0.0.1:9/push/target", "https://push.example.com/send/abc"]),
            }
        ),  # fmt: skip
        "notifications.unsubscribe": Route({"endpoint": Value(["", "https://127.0.0.1:9/push/target"])}),
        "notifications.remove_device": Route(),
        "notifications.admin_cta": Route(
            form_fields(
                CtaForm,
                department_ids=ids("department_id", many=True),
                location_ids=ids("location_id", many=True),
                multiplier=choice("100", "150", "99", "1001"),
            )
        ),  # fmt: skip
        "notifications.digest_unsubscribe": Route({"List-Unsubscribe": choice("One-Click", "")}),
        # analytics
        "analytics.report_settings": Route({"weekly_report": FLAG}),
        "analytics.business": Route(
            {
                "one-month": choice("2026-10", "2026-13", "1999-01", ""),
                "one-kind": choice("sales", "hires", "bogus"),
                "one-value": NUMBER,
                "one-submit": choice("1"),
                "csv-file": PNG,
                "csv-submit": choice("1", ""),
            }
        ),
        "analytics.delete_business": Route(),
        "analytics.api_conversions": Route(
            {
                "code": Value(["{code}", "{code}", "{code}", "Zz9Zz9Zz9Z"]),
                "kind": choice("lead", "application", "signup", "purchase", "other", "LEAD", "refund"),
                "value": Value(["", "", "12.50", "12,50", "0", "999999999999.99", "-1", "1e30", "1000000000000"]),
                "idempotency_key": KEY,
            },
            headers={"Authorization": "Bearer {api_token}"},
            encodings=("json", "json", "json", "form"),
        ),
        "analytics.admin_tokens": Route({"name": TEXT}),
        "analytics.admin_revoke_token": Route(),
        "analytics.admin_conversions": Route({"file": CSV_CONVERSIONS}),
        "analytics.admin_settings": Route(
            {
                "currency": choice("EUR", "pln", "€", "EURO"),
                "attribution": FLAG,
                "attribution_param": choice("herald_ref", "ref", "utm_source", "a b", "x" * 40, ""),
                **{
                    f"cost-{network}": Value(["", "0", "1.50", "2,5", "10000", "10000.01", "-1"])
                    for network in COST_NETWORKS
                },
            }
        ),
        # a person's data
        "privacy.my_data": Route(),
        "privacy.admin_export": Route(),
        "privacy.admin_erase": Route(form_fields(EraseForm, confirm_email=EMAIL)),
    }


STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_state_changing_route_is_fuzzed(app):
    routes = {rule.endpoint for rule in app.url_map.iter_rules() if rule.methods & STATE_CHANGING}
    table = fuzz_table()
    assert routes - table.keys() == set(), "add the new POST routes to fuzz_table()"
    assert table.keys() - routes == set(), "fuzz_table() lists routes that no longer take a POST"


# --- running -----------------------------------------------------------------------------------------------------


def snapshot(app) -> dict[str, list[str]]:
    """Every row of every table (the tables hold a few dozen rows here): any change shows."""
    with app.app_context():
        state = {
            table.name: sorted(repr(tuple(row)) for row in db.session.execute(select(table)))
            for table in db.metadata.sorted_tables
        }
        db.session.remove()
    return state


def _changed(before: dict, after: dict) -> dict:
    return {
        name: {"gone": sorted(set(rows) - set(after[name]))[:3], "new": sorted(set(after[name]) - set(rows))[:3]}
        for name, rows in before.items()
        if rows != after[name]
    }


def _tokens(app, outbox, users) -> dict:
    """Real sign-in, reset and invitation tokens (from the e-mails Herald sends)."""
    from app.accounts import services
    from app.accounts.models import User

    tokens = {}
    with app.test_request_context():
        invited = services.create_user("invited@example.com", "Ivy Invited", status="invited")
        db.session.flush()
        for endpoint, send in (
            ("accounts.magic_landing", lambda: services.send_magic_link("employee@example.com")),
            ("accounts.reset_password", lambda: services.send_password_reset("employee@example.com")),
            ("accounts.accept_invite", lambda: services.send_invite(invited)),
        ):
            send()
            db.session.commit()  # mail leaves on commit
            tokens[endpoint] = path_of(link_in(outbox[-1])).rstrip("/").rsplit("/", 1)[1]
        services.set_password(db.session.get(User, users["employee"]), "correct horse battery")
        db.session.commit()
        from app.notifications import digest

        # The digest's unsubscribe token is signed, not stored: the one its e-mail carries.
        tokens["notifications.digest_unsubscribe"] = digest.unsubscribe_token(users["employee"])
    return tokens


def _url(app, rule, route: Route, targets: dict, tokens: dict) -> str:
    from flask import url_for

    values = {}
    for arg in rule.arguments:
        if arg in route.args:
            values[arg] = targets[route.args[arg]]
        elif arg == "obj_id":
            values[arg] = targets["department_id" if "department" in rule.endpoint else "location_id"]
        elif arg == "token":
            values[arg] = tokens[rule.endpoint]
        else:
            values[arg] = targets[arg]
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def _multipart(pairs: list[tuple[str, object]]) -> tuple[bytes, str]:
    boundary = "herald-fuzz-boundary-7Q"
    out = io.BytesIO()
    for name, value in pairs:
        out.write(f"--{boundary}\r\n".encode())
        if isinstance(value, _Upload):
            out.write(f'Content-Disposition: form-data; name="{name}"; filename="{value.filename}"\r\n'.encode())
            out.write(b"Content-Type: application/octet-stream\r\n\r\n" + value.content + b"\r\n")
        else:
            out.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + _as_bytes(value) + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def build_request(data, route: Route, targets: dict, token: str) -> dict:
    """Keyword arguments for ``client.open``: a drawn body in a drawn encoding, with the CSRF token."""
    # Most inputs are plausible but for one hostile field, so the view's logic past validation
    # meets the hostile value; some are plausible throughout, some hostile anywhere.
    mode = data.draw(st.sampled_from(["plausible", "one hostile", "one hostile", "one hostile", "any"]), label="mode")
    hostile_one = data.draw(st.sampled_from(sorted(route.fields)), label="hostile field") if route.fields else None
    pairs: list[tuple[str, object]] = []
    for name, value in route.fields.items():
        if mode == "any":
            if data.draw(st.integers(0, 7), label=f"omit {name}") == 0:
                continue
            drawn = data.draw(st.one_of(value.good(targets), value.hostile(targets)), label=name)
        elif mode == "one hostile" and name == hostile_one:
            drawn = data.draw(value.hostile(targets), label=name)
        else:
            drawn = data.draw(value.good(targets), label=name)
        pairs.extend((name, item) for item in (drawn if isinstance(drawn, list) else [drawn]))
    encodings = list(route.encodings) or ["form"] * 5 + ["multipart"] * 2 + (["json", "text"] if mode == "any" else [])
    encoding = data.draw(st.sampled_from(encodings), label="encoding")
    headers = {name: value.format(**targets) for name, value in route.headers.items()}
    if data.draw(st.booleans(), label="htmx"):
        headers["HX-Request"] = "true"
    if data.draw(st.booleans(), label="wants JSON"):
        headers["Accept"] = "application/json"
    if encoding in ("json", "text") or data.draw(st.booleans(), label="token in header"):
        headers["X-CSRFToken"] = token
    else:
        pairs.append(("csrf_token", token))
    if encoding == "multipart":
        if pairs and data.draw(st.booleans(), label="a file for a text field"):
            name = data.draw(st.sampled_from([n for n, _v in pairs]), label="file field")
            pairs.append((name, _Upload(data.draw(st.binary(max_size=100), label="file content"))))
        body, content_type = _multipart(pairs)
    elif encoding == "json":
        body = json.dumps({n: v.content.decode("latin-1") if isinstance(v, _Upload) else
                           v.decode("latin-1") if isinstance(v, bytes) else v for n, v in pairs})  # fmt: skip
        content_type = "application/json"
    elif encoding == "text":
        body, content_type = b"&".join(_as_bytes(str(v)) for _n, v in pairs), "text/plain"
    else:
        plain = [(n, v.content if isinstance(v, _Upload) else v) for n, v in pairs]
        body, content_type = urlencode(plain).encode(), "application/x-www-form-urlencoded"
    return {"data": body, "content_type": content_type, "headers": headers}


@pytest.fixture
def offline(monkeypatch):
    """Link previews and feeds fetch nothing from the network during fuzzing."""
    from app import fetch

    def refuse(*args, **kwargs):
        raise fetch.FetchError("offline in tests", "offline")

    monkeypatch.setattr(fetch, "_send", refuse)


ROLE_OF = {None: None, (): "employee", ("admin",): "admin", ("hr",): "hr"}


@pytest.mark.parametrize("endpoint", sorted(fuzz_table()))
def test_generated_input_never_crashes_and_a_refusal_changes_nothing(app, client, users, outbox, offline, endpoint):
    route = fuzz_table()[endpoint]
    [rule] = [r for r in app.url_map.iter_rules() if r.endpoint == endpoint]
    method = sorted(rule.methods & STATE_CHANGING)[0]
    who = route.who or ROLE_OF[getattr(app.view_functions[endpoint], "required_roles", None)]
    targets = make_targets(app, users)
    url = _url(app, rule, route, targets, _tokens(app, outbox, users)) + route.query
    from app.accounts.models import User

    app.config["WTF_CSRF_ENABLED"] = True
    with app.test_request_context():
        token = generate_csrf()
        raw = session["csrf_token"]
        session_id = db.session.get(User, users[who]).get_id() if who else None
    tried = accepted = 0

    @given(data=st.data())
    @PROFILE
    def post_generated_input(data):
        nonlocal tried, accepted
        tried += 1
        request = build_request(data, route, targets, token)
        with client.session_transaction() as sess:  # signed in afresh: sign-out and erasure end sessions
            sess.clear()
            sess["csrf_token"] = raw
            if session_id:
                sess["_user_id"], sess["_fresh"] = session_id, True
        before = snapshot(app)
        response = client.open(url, method=method, **request)
        code = response.status_code
        body = response.get_data().decode("utf-8", "replace")  # a data export is a ZIP
        assert code < 500, f"{method} {url} -> {code}\n{body[:3000]}"
        with client.session_transaction() as sess:
            flashed_error = any(category == "error" for category, _message in sess.get("_flashes", []))
        if code >= 400 or (flashed_error and route.error_message_is_a_refusal):
            assert code != 400 or "session expired" not in body, "the CSRF token was refused"
            changed = _changed(before, snapshot(app))
            assert changed == {}, f"{method} {url} -> {code} was refused but changed {changed}"
        else:
            accepted += 1

    post_generated_input()
    FUZZ_TRIED[endpoint] = (tried, accepted)
    assert tried >= min(PROFILE.max_examples, 5)
