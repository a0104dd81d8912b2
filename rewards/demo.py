"""Demo rewards for ``flask seed-demo``: merch, a gift card with codes, experiences, a redemption."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from app.extensions import db
from rewards import services
from rewards.models import Reward, RewardVariant


def seed_demo_rewards(admin, people, print_fn) -> None:
    """Create the demo catalog once (skipped when rewards exist)."""
    if db.session.scalar(select(func.count()).select_from(Reward)):
        return
    hoodie = Reward(kind="merch", title="Northwind hoodie", cost=120,
                    description="Organic cotton, navy, with the robot arm on the back.")  # fmt: skip
    hoodie.variants = [RewardVariant(label=label, stock=stock) for label, stock in
                       (("S", 4), ("M", 8), ("L", 6), ("XL", 2))]  # fmt: skip
    mug = Reward(kind="merch", title="Robot-arm mug", cost=40, requires_approval=False,
                 description="Dishwasher safe.")  # fmt: skip
    mug.variants = [RewardVariant(label="One size", stock=25)]
    card = Reward(kind="gift_card", title="Bookshop gift card", cost=150, brand="Bookshop", denomination="25 EUR",
                  description="A code you can use online or in any shop.")  # fmt: skip
    day_off = Reward(kind="experience", title="An extra day off", cost=400, quantity=5, limit_per_month=1,
                     description="Agree the date with your manager.")  # fmt: skip
    lunch = Reward(kind="experience", title="Lunch with the CEO", cost=250, quantity=3,
                   description="Once a month, three colleagues, one table.")  # fmt: skip
    charity = Reward(kind="experience", title="Plant 10 trees in your name", cost=60, requires_approval=False,
                     description="We donate to a reforestation charity in your name.")  # fmt: skip
    db.session.add_all([hoodie, mug, card, day_off, lunch, charity])
    db.session.flush()
    services.import_codes(card, "\n".join(f"BOOK-{secrets.token_hex(4).upper()}" for _ in range(12)).encode())
    print_fn("Demo rewards: 6 in the catalog, 12 gift-card codes.")
