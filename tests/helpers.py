"""Small helpers shared by tests."""

from __future__ import annotations

import re
import socket

from app.extensions import db

# (inputs tried, inputs accepted) per route in tests/test_inputs_never_crash.py; conftest prints them at the end.
FUZZ_TRIED: dict[str, tuple[int, int]] = {}


def mail_text(message) -> str:
    """The plain-text body of a captured e-mail."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content()


def link_in(message) -> str:
    """The first http(s) link in a captured e-mail's text."""
    match = re.search(r"https?://\S+", mail_text(message))
    assert match, mail_text(message)
    return match.group(0)


def path_of(url: str) -> str:
    """The path part of an absolute URL (test clients want paths)."""
    return re.sub(r"^https?://[^/]+", "", url)


def get(app, model, pk):
    """Load a row in a fresh app context (what the database holds now)."""
    with app.app_context():
        obj = db.session.get(model, pk)
        if obj is not None:
            db.session.expunge(obj)
        return obj


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_targets(app, users: dict) -> dict:
    """Real rows for every id a route takes, as URL values (``users`` is the ``users`` fixture).

    A department and a location, another person, a campaign with a published post that the
    employee shared and commented on, a pending suggestion, a feed with a new item, a merch
    reward (stock 5, cost 10) and the employee's requested redemption of it, and a gift card
    with one code; the employee holds 500 points. Built through the services, so balances
    equal the ledger.
    """
    from app.accounts.models import User
    from app.content import engagement, services, sharing
    from app.content.models import FeedItem, FeedSource
    from app.database import write_intent
    from app.gamification import ledger
    from app.org.services import get_or_create_department, get_or_create_location
    from rewards import services as rewards
    from rewards.models import Reward, RewardVariant

    with app.test_request_context(method="POST"), write_intent():
        employee = db.session.get(User, users["employee"])
        admin = db.session.get(User, users["admin"])
        dept = get_or_create_department("Sales")
        loc = get_or_create_location("Warsaw", "Europe/Warsaw")
        from app.accounts.services import create_user

        other = create_user("target@example.com", "Target Person", roles=("employee",), status="active",
                            department=dept, location=loc)  # fmt: skip
        campaign = services.create_campaign("Launch", "share", "shares", 10, None)
        post = services.create_post(
            services.PostData(title="Hello", url="https://example.com/a", action="publish", campaign_id=campaign.id),
            admin,
        )
        comment = engagement.add_comment(post, employee, "Nice")
        link = sharing.share_post(post, employee, "linkedin").link
        suggestion = engagement.suggest(employee, "https://example.com/b", "Worth sharing")
        source = FeedSource(url="https://example.com/feed.xml", title="Blog")
        db.session.add(source)
        db.session.flush()
        item = FeedItem(source_id=source.id, guid="1", url="https://example.com/c", title="Item")
        db.session.add(item)
        ledger.award(employee, "adjustment", 500, f"seed:{employee.id}")
        reward = Reward(kind="merch", title="Hoodie", cost=10, active=True)
        reward.variants = [RewardVariant(label="M", stock=5)]
        db.session.add(reward)
        db.session.flush()
        address = {"name": "Erin E", "line1": "Main St 1", "postcode": "00-001", "city": "Warsaw", "country": "PL"}
        gift_card = Reward(kind="gift_card", title="Book voucher", cost=20, active=True)
        db.session.add(gift_card)
        db.session.flush()
        rewards.import_codes(gift_card, b"code\nBOOK-0001-AAAA\n")
        redemption, _created = rewards.redeem(employee, reward, "targets-key-1", variant_id=reward.variants[0].id,
                                              address=address)  # fmt: skip
        db.session.commit()
        return {
            "department_id": dept.id, "location_id": loc.id, "user_id": other.id, "campaign_id": campaign.id,
            "post_id": post.id, "comment_id": comment.id, "code": link.rsplit("/", 1)[1],
            "suggestion_id": suggestion.id, "source_id": source.id, "item_id": item.id, "reward_id": reward.id,
            "variant_id": reward.variants[0].id, "redemption_id": redemption.id, "gift_card_id": gift_card.id,
        }  # fmt: skip
