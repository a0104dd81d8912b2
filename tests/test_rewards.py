"""Rewards: catalog, redemption invariants under concurrency, gift codes, fulfilment, refunds."""

from __future__ import annotations

import io
import logging
import re
import secrets

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.accounts.models import User
from app.database import write_intent
from app.extensions import db
from app.gamification.models import PointEntry
from rewards import services
from rewards.models import GiftCode, Redemption, Reward, RewardVariant
from tests.helpers import ADDRESS, balance_and_ledger, give_points, make_reward, redeem, run_parallel

# --- catalog ------------------------------------------------------------------------------------------------


def test_catalog_shows_what_i_can_afford_and_how_far_i_am(app, client, auth, users):
    give_points(app, users["employee"], 30)
    make_reward(app, "experience", cost=20, title="Lunch with the CEO")
    make_reward(app, "merch", cost=50, title="Hoodie")
    make_reward(app, "merch", cost=40, title="Mug")
    auth.login(users["employee"])
    page = client.get("/rewards").get_data(as_text=True)
    assert "You have 30 points to spend." in page
    assert "Lunch with the CEO" in page and "You can afford it" in page
    assert "20 points to go" in page and "ring p60" in page  # the hoodie: 60 %
    assert "Almost there: 10 points to go" in page and "ring p75" in page  # the mug: 75 % and more is "almost"
    assert "Almost there: 20" not in page


def test_the_reward_page_shows_how_far_i_am(app, client, auth, users):
    give_points(app, users["employee"], 23)
    mug = make_reward(app, "merch", cost=40, title="Mug")
    auth.login(users["employee"])
    page = client.get(f"/rewards/{mug}").get_data(as_text=True)
    assert "You have 23 points." in page
    assert 'aria-label="57% of the cost"' in page and "ring p55" in page
    assert "17 points to go" in page and "Almost there" not in page
    give_points(app, users["employee"], 10)
    page = client.get(f"/rewards/{mug}").get_data(as_text=True)
    assert 'aria-label="82% of the cost"' in page and "Almost there: 7 points to go" in page


def test_audience_and_window_hide_rewards(app, client, auth, users, factory):
    sales = factory.department("Sales")
    with app.app_context():
        from rewards.models import RewardDepartment

        reward = Reward(kind="experience", title="Sales trip", cost=5, audience_all=False)
        reward.departments = [RewardDepartment(department_id=sales)]
        db.session.add(reward)
        db.session.commit()
        reward_id = reward.id
    auth.login(users["employee"])
    assert "Sales trip" not in client.get("/rewards").get_data(as_text=True)
    assert client.get(f"/rewards/{reward_id}").status_code == 404


def test_demo_rewards_each_have_a_picture_in_two_sizes(app, runner, client, auth, users):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        rewards = db.session.scalars(select(Reward)).all()
        pictures = [(r.image_path, r.preview_path) for r in rewards]
    assert len(pictures) == 6 and all(large and preview for large, preview in pictures)
    auth.login(users["employee"])
    for large, preview in pictures:
        for path, width in ((large, 1080), (preview, 640)):
            response = client.get(f"/media/{path}")
            assert response.status_code == 200 and response.mimetype == "image/webp"
            assert Image.open(io.BytesIO(response.data)).width == width


# --- redeeming ----------------------------------------------------------------------------------------------


def test_redeem_merch_with_size_and_address_then_ship(app, client, auth, users):
    give_points(app, users["employee"], 50)
    reward_id = make_reward(app, "merch", cost=20, variants=(("S", 1), ("M", 3)), title="Hoodie")
    auth.login(users["employee"])
    page = client.get(f"/rewards/{reward_id}").get_data(as_text=True)
    key = page.split('name="key" value="')[1].split('"')[0]
    with app.app_context():
        m_id = db.session.scalar(select(RewardVariant.id).where(RewardVariant.label == "M"))
    response = client.post(
        f"/rewards/{reward_id}/redeem", data={"key": key, "variant_id": m_id, "delivery": "ship", **ADDRESS}
    )
    assert response.status_code == 302
    again = client.post(
        f"/rewards/{reward_id}/redeem", data={"key": key, "variant_id": m_id, "delivery": "ship", **ADDRESS}
    )
    assert again.headers["Location"] == response.headers["Location"]  # a double tap: the same redemption
    redemption_path = response.headers["Location"]
    assert "Requested" in client.get(redemption_path).get_data(as_text=True)
    assert balance_and_ledger(app, users["employee"]) == (30, 30)
    # The address is remembered for next time.
    assert 'value="Main St 1"' in client.get(f"/rewards/{reward_id}").get_data(as_text=True)
    auth.login(users["admin"])
    redemption_id = int(redemption_path.rsplit("/", 1)[1])
    client.post(f"/admin/redemptions/{redemption_id}", data={"action": "approved"})
    client.post(
        f"/admin/redemptions/{redemption_id}", data={"action": "shipped", "carrier": "DHL", "tracking": "JD0001"}
    )
    export = client.get("/admin/redemptions/export.csv").get_data(as_text=True)
    assert "Main St 1" not in export  # only approved (not yet shipped) orders go to the vendor
    auth.login(users["employee"])
    page = client.get(redemption_path).get_data(as_text=True)
    assert "Shipped with DHL, tracking number JD0001." in page


def test_the_redeem_sheet_offers_the_size_taken_last_time(app, client, auth, users):
    give_points(app, users["employee"], 50)
    tee = make_reward(app, "merch", cost=10, variants=(("M", 3), ("L", 3)), title="T-shirt")
    hoodie = make_reward(app, "merch", cost=10, variants=(("S", 3), ("M", 3), ("L", 0)), title="Hoodie")
    auth.login(users["employee"])
    assert (
        re.search(r'<option value="\d+"\s+selected>S<', client.get(f"/rewards/{hoodie}").get_data(as_text=True)) is None
    )
    with app.app_context():
        tee_m = db.session.scalar(
            select(RewardVariant.id).where(RewardVariant.reward_id == tee, RewardVariant.label == "M")
        )
    assert redeem(app, users["employee"], tee, variant_id=tee_m)[0]
    page = client.get(f"/rewards/{hoodie}").get_data(as_text=True)
    assert re.search(r'<option value="\d+"\s+selected>M<', page)
    assert len(re.findall(r"\bselected>", page.split('id="variant"')[1].split("</select>")[0])) == 1


def test_missing_address_or_points_is_a_clear_message_and_changes_nothing(app, client, auth, users):
    reward_id = make_reward(app, "merch", cost=20, variants=(("M", 3),))
    give_points(app, users["employee"], 10)
    auth.login(users["employee"])
    ok, message = redeem(app, users["employee"], reward_id, address={"name": "X"})
    assert not ok and "Fill in the shipping address" in message
    ok, message = redeem(app, users["employee"], reward_id)
    assert (ok, message) == (False, "Not enough points.")
    with app.app_context():
        assert db.session.scalar(select(RewardVariant.stock)) == 3
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == 0
    assert balance_and_ledger(app, users["employee"]) == (10, 10)


def test_fifty_parallel_redemptions_of_the_last_item(app, factory):
    reward_id = make_reward(app, "merch", cost=5, variants=(("One size", 1),))
    people = [factory.user(f"p{i}@example.com", f"P {i}") for i in range(50)]
    for uid in people:
        give_points(app, uid, 5)
    results = run_parallel(50, lambda i: redeem(app, people[i], reward_id))
    assert sum(ok for ok, _ in results) == 1
    assert {msg for ok, msg in results if not ok} == {"Sold out: One size."}
    with app.app_context():
        assert db.session.scalar(select(RewardVariant.stock)) == 0
    for uid in people:
        bal, total = balance_and_ledger(app, uid)
        assert bal == total and bal >= 0


def test_two_hundred_parallel_gift_card_redemptions_over_a_hundred_codes(app, factory):
    codes = [f"CODE-{n:04d}-{secrets.token_hex(3)}" for n in range(100)]
    reward_id = make_reward(app, "gift_card", cost=1, codes=codes, requires_approval=False)
    people = [factory.user(f"g{i}@example.com", f"G {i}") for i in range(200)]
    for uid in people:
        give_points(app, uid, 1)
    results = run_parallel(200, lambda i: redeem(app, people[i], reward_id))
    assert sum(ok for ok, _ in results) == 100
    with app.app_context():
        issued = db.session.scalars(select(GiftCode.redemption_id).where(GiftCode.redemption_id.is_not(None))).all()
        assert len(issued) == len(set(issued)) == 100
        redeemers = db.session.scalars(select(Redemption).where(Redemption.status == "approved")).all()
        revealed = {services.reveal_gift_code(r, r.user) for r in redeemers}
    assert revealed == set(codes)  # every code issued exactly once
    for uid in people:
        bal, total = balance_and_ledger(app, uid)
        assert bal == total


def test_thirty_parallel_redemptions_by_one_person_who_can_afford_three(app, users):
    reward_id = make_reward(app, "experience", cost=10)
    give_points(app, users["employee"], 30)
    results = run_parallel(30, lambda i: redeem(app, users["employee"], reward_id))
    assert sum(ok for ok, _ in results) == 3
    assert balance_and_ledger(app, users["employee"]) == (0, 0)


def test_one_idempotency_key_makes_one_redemption_even_in_parallel(app, users):
    reward_id = make_reward(app, "experience", cost=10)
    give_points(app, users["employee"], 100)
    results = run_parallel(10, lambda i: redeem(app, users["employee"], reward_id, key="same-key-123"))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Redemption)) == 1
    assert len({rid for _ok, rid in results}) == 1
    assert balance_and_ledger(app, users["employee"]) == (90, 90)


def test_limits_per_month_and_in_total(app, users):
    reward_id = make_reward(app, "experience", cost=1, limit_per_month=2, limit_total=3)
    give_points(app, users["employee"], 10)
    outcomes = [redeem(app, users["employee"], reward_id) for _ in range(3)]
    assert [ok for ok, _ in outcomes] == [True, True, False]
    assert outcomes[2][1] == "You can redeem this 2 times a month."


def test_limited_experience_places(app, factory):
    reward_id = make_reward(app, "experience", cost=1, quantity=2, title="Day off")
    people = [factory.user(f"x{i}@example.com", f"X {i}") for i in range(5)]
    for uid in people:
        give_points(app, uid, 1)
    results = run_parallel(5, lambda i: redeem(app, people[i], reward_id))
    assert sum(ok for ok, _ in results) == 2
    with app.app_context():
        assert db.session.get(Reward, reward_id).quantity == 0


# --- rejection, cancellation, refunds -----------------------------------------------------------------------


def test_rejection_refunds_exactly_once_even_when_pressed_twice_at_once(app, users):
    reward_id = make_reward(app, "merch", cost=20, variants=(("M", 1),))
    give_points(app, users["employee"], 20)
    ok, redemption_id = redeem(app, users["employee"], reward_id)
    assert ok

    def reject(_i):
        with app.app_context(), write_intent():
            item = db.session.get(Redemption, redemption_id)
            done = services.set_status(item, "rejected", db.session.get(User, users["admin"]), note="Out of stock")
            db.session.commit()
            db.session.remove()
            return done

    assert sum(run_parallel(2, reject)) == 1
    assert balance_and_ledger(app, users["employee"]) == (20, 20)
    with app.app_context():
        refunds = db.session.scalar(select(func.count()).select_from(PointEntry).where(PointEntry.reason == "refund"))
        assert refunds == 1
        assert db.session.scalar(select(RewardVariant.stock)) == 1  # back in stock


def test_employee_cancels_while_requested_but_not_after_approval(app, client, auth, users):
    reward_id = make_reward(app, "experience", cost=5)
    give_points(app, users["employee"], 10)
    ok, first = redeem(app, users["employee"], reward_id)
    ok2, second = redeem(app, users["employee"], reward_id)
    auth.login(users["employee"])
    response = client.post(f"/rewards/redemptions/{first}/cancel", follow_redirects=True)
    assert "Cancelled. Your points are back." in response.get_data(as_text=True)
    with app.app_context(), write_intent():
        services.set_status(db.session.get(Redemption, second), "approved", db.session.get(User, users["admin"]))
        db.session.commit()
    response = client.post(f"/rewards/redemptions/{second}/cancel", follow_redirects=True)
    assert "can no longer be cancelled" in response.get_data(as_text=True)
    assert balance_and_ledger(app, users["employee"]) == (5, 5)


def test_reject_needs_a_reason(app, client, auth, users):
    reward_id = make_reward(app, "experience", cost=5)
    give_points(app, users["employee"], 5)
    _ok, redemption_id = redeem(app, users["employee"], reward_id)
    auth.login(users["admin"])
    response = client.post(f"/admin/redemptions/{redemption_id}", data={"action": "rejected", "reason": ""},
                           follow_redirects=True)  # fmt: skip
    assert "Give a reason" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Redemption, redemption_id).status == "requested"


def test_bulk_approve(app, client, auth, users, factory):
    reward_id = make_reward(app, "experience", cost=1)
    ids = []
    for i in range(3):
        uid = factory.user(f"b{i}@example.com", f"B {i}")
        give_points(app, uid, 1)
        ids.append(redeem(app, uid, reward_id)[1])
    auth.login(users["admin"])
    response = client.post("/admin/redemptions/bulk-approve", data={"ids": ids[:2]}, follow_redirects=True)
    assert "2 approved." in response.get_data(as_text=True)
    with app.app_context():
        statuses = [db.session.get(Redemption, i).status for i in ids]
    assert statuses == ["approved", "approved", "requested"]


# --- gift-card codes ----------------------------------------------------------------------------------------


def test_code_upload_is_validated_as_a_whole(app, client, auth, users):
    reward_id = make_reward(app, "gift_card", cost=5, codes=("EXISTING-1",))
    auth.login(users["admin"])
    bad = b"code\nGOOD-0001\nGOOD-0001\nbad code\nEXISTING-1\n"
    response = client.post(f"/admin/rewards/{reward_id}/codes", data={"codes": (io.BytesIO(bad), "codes.csv")},
                           content_type="multipart/form-data")  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "No code was added." in body
    assert "Line 3: The same code is also on line 2." in body
    assert "Line 4: This is not a valid code" in body and "Line 5: This code is already in Herald." in body
    assert "GOOD-0001" not in body and "EXISTING-1" not in body
    with app.app_context():
        assert services.codes_left(reward_id) == 1
    good = b"NEW-0001\nNEW-0002\n"
    response = client.post(f"/admin/rewards/{reward_id}/codes", data={"codes": (io.BytesIO(good), "codes.csv")},
                           content_type="multipart/form-data", follow_redirects=True)  # fmt: skip
    assert "2 codes added; 3 left." in response.get_data(as_text=True)


def test_codes_are_encrypted_and_only_the_redeemer_sees_theirs_after_approval(app, client, auth, users, caplog):
    caplog.set_level(logging.DEBUG)
    code = "SECRET-" + secrets.token_hex(6).upper()
    reward_id = make_reward(app, "gift_card", cost=5, codes=(code,), title="Book voucher")
    give_points(app, users["employee"], 5)
    _ok, redemption_id = redeem(app, users["employee"], reward_id)
    pages = []
    with app.app_context():
        stored = db.session.scalar(select(GiftCode.code_encrypted))
        assert code not in stored
    auth.login(users["employee"])
    assert client.post(f"/rewards/redemptions/{redemption_id}/code").status_code == 404  # not approved yet
    auth.login(users["admin"])
    for path in (
        "/admin/rewards",
        f"/admin/rewards/{reward_id}",
        "/admin/redemptions",
        "/admin/redemptions?status=all",
    ):
        pages.append(client.get(path).get_data(as_text=True))
    client.post(f"/admin/redemptions/{redemption_id}", data={"action": "approved"})
    pages.append(client.get("/admin/redemptions/export.csv").get_data(as_text=True))
    pages.append(client.get("/admin/redemptions?status=approved").get_data(as_text=True))
    auth.login(users["hr"])  # another employee
    assert client.get(f"/rewards/redemptions/{redemption_id}").status_code == 404
    assert client.post(f"/rewards/redemptions/{redemption_id}/code").status_code == 404
    auth.login(users["employee"])
    confirm = client.get(f"/rewards/redemptions/{redemption_id}/code")
    pages.append(confirm.get_data(as_text=True))
    assert "Show the code" in pages[-1]
    for path in ("/rewards", "/rewards/mine", f"/rewards/redemptions/{redemption_id}", "/me", "/me/points"):
        pages.append(client.get(path).get_data(as_text=True))
    revealed = client.post(f"/rewards/redemptions/{redemption_id}/code")
    assert code in revealed.get_data(as_text=True)
    assert revealed.headers["Cache-Control"] == "no-store"
    for page in pages:
        assert code not in page
    assert code not in caplog.text


def test_roles_employees_cannot_reach_admin_rewards(client, auth, users):
    auth.login(users["employee"])
    for path in ("/admin/rewards", "/admin/rewards/new", "/admin/redemptions", "/admin/redemptions/export.csv"):
        assert client.get(path).status_code == 403


@pytest.mark.parametrize("kind", ["merch", "gift_card", "experience"])
def test_admin_creates_each_kind(app, client, auth, users, kind):
    auth.login(users["admin"])
    data = {"kind": kind, "title": f"A {kind}", "cost": "15", "variants": "S: 2\nM: 0", "brand": "Acme",
            "denomination": "25 EUR", "quantity": "3", "requires_approval": "1", "active": "1",
            "low_stock_at": "5"}  # fmt: skip
    assert client.post("/admin/rewards/new", data=data).status_code == 302
    with app.app_context():
        reward = db.session.scalar(select(Reward))
        assert reward.kind == kind
        if kind == "merch":
            assert [(v.label, v.stock) for v in reward.variants] == [("S", 2), ("M", 0)]
        if kind == "experience":
            assert reward.quantity == 3
    listing = client.get("/admin/rewards").get_data(as_text=True)
    assert ("Low stock" in listing) or ("Few codes left" in listing)


def test_bad_reward_form_is_explained(client, auth, users):
    auth.login(users["admin"])
    response = client.post(
        "/admin/rewards/new", data={"kind": "merch", "title": "Hoodie", "cost": "10", "variants": "M: lots"}
    )
    assert response.status_code == 400 and "label: stock" in response.get_data(as_text=True)


def test_availability_window_in_the_admins_time_zone(app, client, auth, users):
    auth.login(users["admin"])
    response = client.post("/admin/rewards/new", data={
        "kind": "experience", "title": "Summer party", "cost": "5", "active": "1",
        "starts_at": "2030-06-01T09:00", "ends_at": "2030-05-01T09:00",
    })  # fmt: skip
    assert response.status_code == 400 and "must end after it starts" in response.get_data(as_text=True)
    client.post("/admin/rewards/new", data={"kind": "experience", "title": "Summer party", "cost": "5", "active": "1",
                                            "starts_at": "2030-06-01T09:00"})  # fmt: skip
    with app.app_context():
        reward = db.session.scalar(select(Reward))
        assert reward.starts_at.isoformat() == "2030-06-01T09:00:00+00:00"  # the admin's zone is UTC here
    auth.login(users["employee"])
    assert "reward-card" not in client.get("/rewards").get_data(as_text=True)  # not yet available


def _gift_card_redeemed_and_approved(app, client, auth, users, codes):
    reward_id = make_reward(app, "gift_card", cost=10, codes=codes)
    give_points(app, users["employee"], 10)
    ok, redemption_id = redeem(app, users["employee"], reward_id)
    assert ok
    auth.login(users["admin"])
    client.post(f"/admin/redemptions/{redemption_id}", data={"action": "approved"})
    return reward_id, redemption_id


def test_rejecting_a_gift_card_after_its_code_was_revealed_is_refused_and_the_code_stays_spent(
    app, client, auth, users, factory
):
    codes = ["ONLY-CODE-0001", "SECOND-CODE-0002"]
    reward_id, redemption_id = _gift_card_redeemed_and_approved(app, client, auth, users, codes)
    auth.login(users["employee"])
    shown = client.post(f"/rewards/redemptions/{redemption_id}/code").get_data(as_text=True)
    assert "ONLY-CODE-0001" in shown
    auth.login(users["admin"])
    page = client.post(
        f"/admin/redemptions/{redemption_id}", data={"action": "rejected", "reason": "Changed my mind"},
        follow_redirects=True,
    ).get_data(as_text=True)  # fmt: skip
    assert "already seen this gift card" in page
    queue = client.get("/admin/redemptions?status=approved").get_data(as_text=True)
    assert "Code shown to the employee" in queue and "Reject and refund" not in queue
    with app.app_context():
        redemption = db.session.get(Redemption, redemption_id)
        assert redemption.status == "approved"
        spent = db.session.scalar(select(GiftCode).where(GiftCode.redemption_id == redemption_id))
        assert spent is not None and spent.revealed_at is not None
    assert balance_and_ledger(app, users["employee"]) == (0, 0)  # no refund on top of the code
    # The next redeemer gets the other code, never the revealed one.
    other = factory.user("next@example.com", "Next Person")
    give_points(app, other, 10)
    ok, second_id = redeem(app, other, reward_id)
    assert ok
    client.post(f"/admin/redemptions/{second_id}", data={"action": "approved"})
    auth.login(other)
    assert "SECOND-CODE-0002" in client.post(f"/rewards/redemptions/{second_id}/code").get_data(as_text=True)


def test_rejecting_a_gift_card_before_the_code_was_revealed_refunds_and_returns_the_code(
    app, client, auth, users, factory
):
    codes = ["ONLY-CODE-0001"]
    reward_id, redemption_id = _gift_card_redeemed_and_approved(app, client, auth, users, codes)
    client.post(f"/admin/redemptions/{redemption_id}", data={"action": "rejected", "reason": "Out of budget"})
    with app.app_context():
        assert db.session.get(Redemption, redemption_id).status == "rejected"
        assert services.codes_left(reward_id) == 1
    assert balance_and_ledger(app, users["employee"]) == (10, 10)
    auth.login(users["employee"])
    assert client.post(f"/rewards/redemptions/{redemption_id}/code").status_code == 404  # nothing to show now
    other = factory.user("next@example.com", "Next Person")
    give_points(app, other, 10)
    ok, second_id = redeem(app, other, reward_id)
    assert ok
    auth.login(users["admin"])
    client.post(f"/admin/redemptions/{second_id}", data={"action": "approved"})
    auth.login(other)
    assert "ONLY-CODE-0001" in client.post(f"/rewards/redemptions/{second_id}/code").get_data(as_text=True)


def test_reveal_and_reject_racing_never_leave_a_revealed_code_in_the_pool(app, client, auth, users):
    """Whichever wins, a code that was shown is never free again, and a refund means nothing was shown."""
    for round_ in range(5):
        codes = [f"RACE-{round_}-{secrets.token_hex(4)}"]
        reward_id, redemption_id = _gift_card_redeemed_and_approved(app, client, auth, users, codes)
        shown: list = []

        def act(i, redemption_id=redemption_id, shown=shown):
            with app.app_context(), write_intent():
                item = db.session.get(Redemption, redemption_id)
                try:
                    if i == 0:
                        shown.append(services.reveal_gift_code(item, db.session.get(User, users["employee"])))
                    else:
                        services.set_status(item, "rejected", db.session.get(User, users["admin"]), note="race")
                    db.session.commit()
                except services.RewardError:
                    db.session.rollback()
                finally:
                    db.session.remove()

        run_parallel(2, act)
        with app.app_context():
            status = db.session.get(Redemption, redemption_id).status
            row = db.session.scalar(select(GiftCode).where(GiftCode.reward_id == reward_id))
            if shown and shown[0]:
                assert status == "approved" and row.redemption_id == redemption_id and row.revealed_at is not None
            else:
                assert status == "rejected" and row.redemption_id is None and row.revealed_at is None
        bal, total = balance_and_ledger(app, users["employee"])
        assert bal == total
