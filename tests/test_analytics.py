"""Analytics: the ten KPIs against a small hand-made dataset, roll-ups against the raw rows, pages and exports.

The dataset (November 2026; 2 November is a Monday) and what it must give:

- people: Ann, Bob and Hidden Hal in Sales (Warsaw), Cat in Engineering, Dan invited but never
  activated, Eve deactivated (left out of everything);
- shares: Ann P1/LinkedIn (A) on 2 Nov, P2/X on 10 Nov and P2/LinkedIn on 17 Nov (three weeks);
  Bob P1/LinkedIn (B) on 3 Nov; Hal P2/LinkedIn on 4 Nov -> 5 shares by 3 people;
- clicks: Ann's P1 link on 2 Nov: v1, v1 again, v2, a bot, Ann herself -> 3 visits, 2 unique;
  on 3 Nov: v1 (unique again: a new day); Bob's link on 3 Nov: v1 (unique; the same visitor as on
  Ann's link that day); Hal's link on 4 Nov: v3, v4, v5 -> 8 visits, 7 unique clicks;
- reach: 2 Nov {v1, v2} = 2, 3 Nov {v1} = 1, 4 Nov {v3, v4, v5} = 3 -> 6;
- Cat likes P1 and comments on P2 on 5 Nov; one lead worth 100 through Ann's P1 link on 3 Nov.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select

from app.accounts.models import User
from app.analytics import kpis, rollups, services
from app.analytics.models import Conversion, PostDay, RollupState, SharerDay, TotalDay
from app.analytics.services import Period, Scope
from app.content import services as content
from app.content.models import Comment, PostLike, Share
from app.extensions import db
from app.tracking.models import Click, TrackedLink
from tests.helpers import make_post

NOV = Period(date(2026, 11, 1), date(2026, 11, 30))
TODAY = date(2026, 12, 4)  # every November day comes from the roll-ups


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


class World:
    """Ids of the hand-made dataset."""


def _link(post_id, user_id, network, variant="A", code=None) -> TrackedLink:
    link = TrackedLink(code=code or f"c{post_id}{user_id}{network}"[:16], post_id=post_id, user_id=user_id,
                       network=network, variant=variant)  # fmt: skip
    db.session.add(link)
    db.session.flush()
    return link


def _share(link: TrackedLink, when: datetime) -> None:
    db.session.add(Share(post_id=link.post_id, user_id=link.user_id, network=link.network, link_id=link.id,
                         variant=link.variant, created_at=when, last_shared_at=when))  # fmt: skip


_n = [0]


def _click(link: TrackedLink, when: datetime, visitor: str, unique: bool, bot=False, own=False) -> None:
    _n[0] += 1
    db.session.add(Click(uid=f"u{_n[0]}-{visitor}", link_id=link.id, post_id=link.post_id, sharer_id=link.user_id,
                         network=link.network, clicked_at=when, day=when.date(), visitor_hash=visitor,
                         is_bot=bot, is_self=own, is_unique=unique))  # fmt: skip


@pytest.fixture
def world(app, factory):
    w = World()
    w.sales, w.eng = factory.department("Sales"), factory.department("Engineering")
    w.warsaw = factory.location("Warsaw")
    invited = at(1, 8) - timedelta(days=30)
    w.ann = factory.user("ann@example.com", "Ann Lee", department_id=w.sales, location_id=w.warsaw)
    w.bob = factory.user("bob@example.com", "Bob Ray", department_id=w.sales, location_id=w.warsaw)
    w.hal = factory.user("hal@example.com", "Hal Hidden", department_id=w.sales, location_id=w.warsaw)
    w.cat = factory.user("cat@example.com", "Cat Kim", department_id=w.eng)
    w.dan = factory.user("dan@example.com", "Dan Fox", department_id=w.eng, status="invited")
    w.eve = factory.user("eve@example.com", "Eve Gone", department_id=w.eng)
    w.admin = factory.user("boss@example.com", "Boss", roles=("admin", "employee"))
    with app.test_request_context():
        campaign = content.create_campaign("Caption test", "ab_test", "clicks", 10, None)
        db.session.commit()
        w.campaign = campaign.id
    w.p1 = make_post(app, "Launch", campaign_id=w.campaign)
    w.p2 = make_post(app, "Hiring", url="https://example.com/jobs")
    with app.app_context():
        for uid in (w.ann, w.bob, w.hal, w.cat, w.dan, w.eve, w.admin):
            user = db.session.get(User, uid)
            user.invited_at = invited
            user.activated_at = None if uid == w.dan else invited + timedelta(days=1)
        db.session.get(User, w.hal).hide_from_leaderboards = True
        eve = db.session.get(User, w.eve)
        eve.status, eve.deactivated_at = "deactivated", invited + timedelta(days=2)
        ann_p1 = _link(w.p1, w.ann, "linkedin", "A")
        ann_p2x = _link(w.p2, w.ann, "x")
        ann_p2 = _link(w.p2, w.ann, "linkedin")
        bob_p1 = _link(w.p1, w.bob, "linkedin", "B")
        hal_p2 = _link(w.p2, w.hal, "linkedin")
        _share(ann_p1, at(2))
        _share(ann_p2x, at(10))
        _share(ann_p2, at(17))
        _share(bob_p1, at(3, 14))
        _share(hal_p2, at(4, 9))
        _click(ann_p1, at(2, 11), "v1", True)
        _click(ann_p1, at(2, 12), "v1", False)
        _click(ann_p1, at(2, 13), "v2", True)
        _click(ann_p1, at(2, 14), "bot", False, bot=True)
        _click(ann_p1, at(2, 15), "ann", False, own=True)
        _click(ann_p1, at(3, 9), "v1", True)
        _click(bob_p1, at(3, 16), "v1", True)
        for v in ("v3", "v4", "v5"):
            _click(hal_p2, at(4, 12), v, True)
        db.session.add(PostLike(post_id=w.p1, user_id=w.cat, created_at=at(5)))
        db.session.add(Comment(post_id=w.p2, user_id=w.cat, body="Great", created_at=at(5)))
        db.session.add(Conversion(idempotency_key="lead-1", link_id=ann_p1.id, post_id=w.p1, sharer_id=w.ann,
                                  network="linkedin", kind="lead", value=Decimal("100"), source="api",
                                  occurred_at=at(3, 18), day=date(2026, 11, 3)))  # fmt: skip
        db.session.commit()
        rollups.rebuild(date(2026, 10, 25), date(2026, 12, 3))
        services.forget_today()
    return w


def test_the_headline_figures_of_the_hand_made_month(app, world):
    with app.app_context():
        t = services.totals(NOV, Scope(), TODAY)
        assert (t.shares, t.clicks, t.unique_clicks, t.reach) == (5, 8, 7, 6)
        assert (t.likes, t.comments, t.conversions, t.conversion_value) == (1, 1, 1, 100.0)
        assert t.clicks_per_share == pytest.approx(1.4)
        assert t.sharers == 3
        # Six ISO weeks touch November 2026 (26 Oct ... 30 Nov): 3 + 1 + 1 sharers a week.
        assert t.weekly_sharers == pytest.approx(5 / 6)
        assert services.active_employees(Scope()) == 5  # Ann, Bob, Hal, Cat and the admin


def test_earned_media_value_uses_each_networks_cost_per_click(app, world):
    with app.app_context():
        assert services.totals(NOV, Scope(), TODAY).emv == pytest.approx(7 * 5.0)  # all 7 on LinkedIn
        settings = services.get_settings()
        settings["cost_per_click"]["linkedin"] = 2.5
        services.save_settings(settings)
        db.session.commit()
        t = services.totals(NOV, Scope(), TODAY)
        assert t.emv == pytest.approx(17.5)
        assert t.by_network["linkedin"]["emv"] == pytest.approx(17.5)
        assert t.by_network["x"] == {"shares": 1, "clicks": 0, "unique_clicks": 0, "conversions": 0, "emv": 0.0}


def test_the_adoption_funnel(app, world):
    with app.app_context():
        f = services.funnel(NOV.end, Scope(), TODAY)
        # Invited: everyone but Eve (deactivated); activated: not Dan; shared: Ann, Bob, Hal; 3+ weeks: Ann.
        assert (f.invited, f.activated, f.shared, f.regular, f.employees) == (6, 5, 3, 1, 5)
        assert f.rate(f.shared) == pytest.approx(60.0)
        early = services.funnel(date(2026, 11, 2), Scope(), TODAY)
        assert (early.shared, early.regular) == (1, 0)  # only Ann had shared by the end of 2 November
        sales = services.funnel(NOV.end, Scope("department", world.sales), TODAY)
        assert (sales.invited, sales.shared, sales.employees) == (3, 3, 3)


def test_top_contributors_by_shares_and_clicks_hide_who_hides(app, world):
    with app.app_context():
        d = kpis.dashboard(NOV, Scope(), TODAY)
        assert [(p.user_id, p.shares) for p in d.top_shares] == [(world.ann, 3), (world.bob, 1), (world.hal, 1)]
        assert [(p.user_id, p.unique_clicks) for p in d.top_clicks] == [(world.ann, 3), (world.hal, 3), (world.bob, 1)]
        table = d.tables()["top_clicks"]
        assert [row[0] for row in table.rows] == ["Ann Lee", "Hidden", "Bob Ray"]
        assert "Hal Hidden" not in str(d.tables())
        assert [(p.user_id, p.conversions) for p in d.top_conversions] == [(world.ann, 1)]


def test_a_department_or_location_filter(app, world):
    with app.app_context():
        sales = services.totals(NOV, Scope("department", world.sales), TODAY)
        assert (sales.shares, sales.unique_clicks, sales.reach, sales.likes, sales.sharers) == (5, 7, 6, 0, 3)
        eng = services.totals(NOV, Scope("department", world.eng), TODAY)
        assert (eng.shares, eng.unique_clicks, eng.reach, eng.likes, eng.comments) == (0, 0, 0, 1, 1)
        warsaw = services.totals(NOV, Scope("location", world.warsaw), TODAY)
        assert (warsaw.shares, warsaw.clicks) == (5, 8)


def test_the_change_against_the_previous_period(app, world):
    with app.app_context():
        first, second = Period(date(2026, 11, 2), date(2026, 11, 8)), Period(date(2026, 11, 9), date(2026, 11, 15))
        assert second.previous == first
        a, b = services.totals(first, Scope(), TODAY), services.totals(second, Scope(), TODAY)
        assert (a.shares, b.shares) == (3, 1)
        assert services.change(b.shares, a.shares) == pytest.approx(-66.666, abs=0.01)
        assert services.change(5, 0) is None


def _raw(period: Period, scope: Scope) -> dict:
    """The same figures counted straight from the live tables, without the roll-up code."""
    start = datetime.combine(period.start, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(period.end + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    who = scope.users()
    shares = db.session.scalar(select(func.count()).select_from(Share).join(User, User.id == Share.user_id)
                               .where(Share.created_at >= start, Share.created_at < end, who))  # fmt: skip
    human = (Click.clicked_at >= start, Click.clicked_at < end, Click.is_bot.is_(False), Click.is_self.is_(False), who)
    clicks = db.session.scalar(select(func.count()).select_from(Click).join(User, User.id == Click.sharer_id)
                               .where(*human))  # fmt: skip
    unique = db.session.scalar(select(func.count()).select_from(Click).join(User, User.id == Click.sharer_id)
                               .where(*human, Click.is_unique.is_(True)))  # fmt: skip
    reach = sum(db.session.execute(
        select(func.count(func.distinct(Click.visitor_hash))).join(User, User.id == Click.sharer_id)
        .where(*human).group_by(Click.day)).scalars())  # fmt: skip
    return {"shares": shares, "clicks": clicks, "unique_clicks": unique, "reach": reach}


@pytest.mark.parametrize("first,last", [(1, 30), (2, 2), (3, 4), (10, 17)])
def test_figures_from_roll_ups_equal_the_raw_rows(app, world, first, last):
    period = Period(date(2026, 11, first), date(2026, 11, last))
    with app.app_context():
        for scope in (Scope(), Scope("department", world.sales), Scope("location", world.warsaw)):
            t = services.totals(period, scope, TODAY)
            assert {"shares": t.shares, "clicks": t.clicks, "unique_clicks": t.unique_clicks,
                    "reach": t.reach} == _raw(period, scope)  # fmt: skip


def test_today_comes_from_the_live_tables_and_the_sum_is_the_same(app, world):
    """Ask as if it were 4 November: 1-3 November from the roll-ups, the 4th live (its roll-up deleted)."""
    with app.app_context():
        for model in (PostDay, TotalDay, SharerDay):
            db.session.execute(delete(model).where(model.day == date(2026, 11, 4)))
        db.session.commit()
        services.forget_today()
        rollups.update_adoption([world.hal])  # Hal's only share is on the 4th: not in the roll-ups now
        db.session.commit()
        t = services.totals(Period(date(2026, 11, 1), date(2026, 11, 4)), Scope(), date(2026, 11, 4))
        assert (t.shares, t.clicks, t.unique_clicks, t.reach, t.sharers) == (3, 8, 7, 6, 3)
        assert services.funnel(date(2026, 11, 4), Scope(), date(2026, 11, 4)).shared == 3  # Hal counted live
        week = services.weekly_sharers(Period(date(2026, 11, 1), date(2026, 11, 4)), Scope(), date(2026, 11, 4))
        assert week == {date(2026, 11, 2): 3}  # Ann and Bob stored, Hal live
        assert services.funnel(date(2026, 11, 3), Scope(), date(2026, 11, 4)).shared == 2


def test_a_rebuild_is_idempotent_and_reports_what_it_built(app, world):
    with app.app_context():
        before = db.session.execute(select(func.count()).select_from(PostDay)).scalar()
        days = rollups.rebuild(date(2026, 11, 1), date(2026, 11, 30))
        assert days == 30
        assert db.session.execute(select(func.count()).select_from(PostDay)).scalar() == before
        assert services.totals(NOV, Scope(), TODAY).shares == 5
        assert db.session.get(RollupState, date(2026, 11, 30)) is not None
        with pytest.raises(ValueError):
            rollups.rebuild(date(2026, 11, 2), date(2026, 11, 1))


def test_the_rebuild_command(app, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["analytics", "rebuild", "--from", "2026-11-01", "--to", "2026-11-03"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt 3 days" in result.output
    bad = runner.invoke(args=["analytics", "rebuild", "--from", "2026-11-03", "--to", "2026-11-01"])
    assert bad.exit_code != 0
    assert "before" in bad.output


def test_the_ab_test_worked_example():
    result = services.ab_test({"A": (200, 300), "B": (200, 240)})
    assert result.enough
    assert result.z == pytest.approx(2.582, abs=0.001)
    assert result.p_value == pytest.approx(0.0098, abs=0.0001)
    assert result.winner == "A"
    close = services.ab_test({"A": (200, 250), "B": (200, 240)})
    assert close.winner is None and close.p_value > 0.05
    small = services.ab_test({"A": (29, 100), "B": (200, 10)})
    assert not small.enough and small.winner is None and small.p_value is None


def test_content_performance_per_post_network_campaign_and_best_time(app, world):
    with app.app_context():
        c = services.content(NOV, Scope(), TODAY)
        assert [(p["post_id"], p["shares"], p["unique_clicks"]) for p in c.posts] == [
            (world.p1, 2, 4), (world.p2, 3, 3)]  # fmt: skip
        assert c.posts[0]["per_share"] == pytest.approx(2.0)
        assert [(n["network"], n["shares"], n["unique_clicks"]) for n in c.networks] == [
            ("linkedin", 4, 7),
            ("x", 1, 0),
        ]
        assert [(r["name"], r["shares"], r["unique_clicks"], r["conversions"]) for r in c.campaigns] == [
            ("Caption test", 2, 4, 1)]  # fmt: skip
        ((campaign, result),) = c.ab_tests
        assert [(v["variant"], v["shares"], v["clicks"]) for v in result.variants] == [("A", 1, 3), ("B", 1, 1)]
        assert not result.enough
        # No hour has the 3 shares a best time needs.
        assert c.best is None
        grid, best = services.best_times(NOV, TODAY, min_shares=1)
        assert best == (0, 10)  # Ann's Monday 10:00 share brought 3 unique clicks
        assert grid[0][10] == pytest.approx(3.0)
        assert grid[1][10] == pytest.approx(0.0)  # Tuesday 10:00: two shares (10 and 17 Nov), no clicks


def test_the_campaign_page_uses_the_same_ab_test(app, client, auth, world):
    auth.login(world.admin)
    html = client.get(f"/admin/campaigns/{world.campaign}").get_data(as_text=True)
    assert "Not enough data yet" in html


def _login(client, auth, world):
    auth.login(world.admin)
    return client


def test_the_dashboard_shows_the_ten_measures(app, client, auth, world):
    _login(client, auth, world)
    html = client.get("/admin/analytics?period=custom&start=2026-11-01&end=2026-11-30").get_data(as_text=True)
    for heading in ("Participation", "Adoption", "Organic reach", "Organic engagement", "Top contributors",
                    "Referrals and conversions", "Sales and new hires", "By network", "Employee satisfaction and eNPS",
                    "Earned media value"):  # fmt: skip
        assert heading in html, heading
    assert "No survey with an eNPS question has run yet." in html
    assert 'id="chart-daily"' in html and 'id="chart-funnel"' in html
    sales = client.get(f"/admin/analytics?period=custom&start=2026-11-01&end=2026-11-30&scope=department:{world.eng}")
    assert "Department: Engineering" in sales.get_data(as_text=True)


def test_a_bad_custom_period_says_so_and_shows_this_month(app, client, auth, world):
    _login(client, auth, world)
    for query in (
        "start=2026-11-30&end=2026-11-01",
        "start=nonsense&end=2026-11-01",
        "start=1999-01-01&end=2026-11-01",
    ):
        response = client.get(f"/admin/analytics?period=custom&{query}")
        assert response.status_code == 200
        assert 'role="alert"' in response.get_data(as_text=True)


def test_an_xlsx_export_holds_the_numbers_of_the_page(app, client, auth, world):
    _login(client, auth, world)
    query = "period=custom&start=2026-11-01&end=2026-11-30"
    response = client.get(f"/admin/analytics/export/kpis.xlsx?{query}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = {r[0]: r[1:] for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["Unique clicks"][0] == 7
    assert rows["Organic reach (unique visitors)"][0] == 6
    assert rows["Shares"][0] == 5
    csv = client.get(f"/admin/analytics/export/top_clicks.csv?{query}").get_data(as_text=True)
    assert "Hidden" in csv and "Hal Hidden" not in csv
    posts = client.get(f"/admin/analytics/export/content_posts.csv?{query}").get_data(as_text=True)
    assert "Launch" in posts and "Hiring" in posts
    for name in ("content_ab", "content_times", "funnel", "business", "satisfaction"):  # titles with / or ()
        assert client.get(f"/admin/analytics/export/{name}.xlsx?{query}").status_code == 200, name
    assert client.get(f"/admin/analytics/export/nothing.csv?{query}").status_code == 404
    assert client.get(f"/admin/analytics/export/kpis.pdf?{query}").status_code == 404


def test_business_figures_typed_and_imported(app, client, auth, world):
    _login(client, auth, world)
    response = client.post("/admin/analytics/business", data={"one-month": "2026-10", "one-kind": "sales",
                                                              "one-value": "125000.50", "one-submit": "1"},
                           follow_redirects=True)  # fmt: skip
    assert "Saved Sales for 2026-10." in response.get_data(as_text=True)
    bad = client.post("/admin/analytics/business", data={"one-month": "October", "one-kind": "sales", "one-value": "1",
                                                         "one-submit": "1"})  # fmt: skip
    assert "Enter the month as YYYY-MM." in bad.get_data(as_text=True)
    csv = b"month,kind,value\n2026-09,hires,4\n2026-10,sales,130000\n"
    response = client.post("/admin/analytics/business", data={"csv-file": (io.BytesIO(csv), "f.csv"),
                                                              "csv-submit": "1"},
                           content_type="multipart/form-data", follow_redirects=True)  # fmt: skip
    assert "2 figures imported." in response.get_data(as_text=True)
    broken = b"month,kind,value\n2026-08,hires,4\n2026-13,sales,1\n"
    response = client.post("/admin/analytics/business", data={"csv-file": (io.BytesIO(broken), "f.csv"),
                                                              "csv-submit": "1"},
                           content_type="multipart/form-data")  # fmt: skip
    assert "Line 3: the month must look like 2026-11." in response.get_data(as_text=True)
    with app.app_context():
        figures = services.business_figures(24, TODAY)
        assert figures == {"sales": {date(2026, 10, 1): 130000.0}, "hires": {date(2026, 9, 1): 4.0}}


def test_the_weekly_report_can_be_turned_off(app, client, auth, world):
    _login(client, auth, world)
    response = client.post("/admin/analytics/report", data={}, follow_redirects=True)
    assert "You will no longer get the weekly analytics report." in response.get_data(as_text=True)
    response = client.post("/admin/analytics/report", data={"weekly_report": "y"}, follow_redirects=True)
    assert "You will get the weekly analytics report" in response.get_data(as_text=True)


def test_the_weekly_report_goes_to_admins_once_on_monday_morning(app, world, factory, outbox):
    from app.analytics import tasks
    from tests.helpers import mail_text

    other = factory.user("other-admin@example.com", "Olga Admin", roles=("admin", "employee"))
    with app.app_context():
        from app.analytics.models import ReportSettings

        db.session.add(ReportSettings(user_id=other, weekly_report=False))
        db.session.commit()
        assert tasks.send_reports(datetime(2026, 11, 9, 7, 59, tzinfo=UTC)) == 0  # before 08:00
        assert tasks.send_reports(datetime(2026, 11, 9, 8, 30, tzinfo=UTC)) == 1
        assert tasks.send_reports(datetime(2026, 11, 9, 9, 30, tzinfo=UTC)) == 0  # once a week
    assert [m["To"] for m in outbox] == ["boss@example.com"]
    text = mail_text(outbox[0])
    assert "2026-11-02 to 2026-11-08" in text
    assert "- Shares: 3 (+" not in text  # the week before had none: no change to show
    assert "- Shares: 3" in text and "- Unique clicks: 7" in text
    html = outbox[0].get_body(("html",)).get_content()
    assert "/admin/analytics?period=custom&amp;start=2026-11-02&amp;end=2026-11-08" in html


def test_the_hourly_roll_up_builds_yesterday_and_missed_days(app, world):
    from app.analytics import tasks

    with app.app_context():
        db.session.execute(delete(RollupState).where(RollupState.day == date(2026, 11, 3)))
        db.session.execute(delete(TotalDay).where(TotalDay.day == date(2026, 11, 3)))
        db.session.commit()
        assert services.totals(NOV, Scope(), TODAY).shares == 4  # Bob's share of 3 November is missing
        days = tasks.roll_up(date(2026, 12, 4))
        assert days == 2  # 3 November (missed) and yesterday
        services.forget_today()
        assert services.totals(NOV, Scope(), TODAY).shares == 5


def test_a_third_week_shared_today_counts_as_regular(app, world):
    """As if it were 17 November: Ann's third week of sharing is today, not yet rolled up."""
    with app.app_context():
        for model in (PostDay, TotalDay, SharerDay):
            db.session.execute(delete(model).where(model.day == date(2026, 11, 17)))
        rollups.update_adoption([world.ann])
        db.session.commit()
        services.forget_today()
        assert services.funnel(date(2026, 11, 16), Scope(), date(2026, 11, 17)).regular == 0
        assert services.funnel(date(2026, 11, 17), Scope(), date(2026, 11, 17)).regular == 1
