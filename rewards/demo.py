"""Demo rewards for ``flask seed-demo``: merch, a gift card with codes, experiences, a redemption."""

from __future__ import annotations

import io
import secrets

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from app.extensions import db
from app.media import save_resized_image
from rewards import services
from rewards.models import Reward, RewardVariant

# Background and pictogram colours per demo reward (drawn, so the demo needs no network or stock photos).
COLOURS = [(67, 56, 202), (14, 116, 144), (190, 24, 93), (21, 128, 61), (180, 83, 9), (79, 70, 229)]
WIDTHS = {"phone": 1080, "preview": 640}


def _pictogram(draw: ImageDraw.ImageDraw, shape: str) -> None:
    """A large, simple white pictogram in the middle of a 1200 x 630 picture."""
    white = (255, 255, 255)
    if shape == "hoodie":
        draw.polygon([(470, 170), (540, 140), (660, 140), (730, 170), (840, 300), (780, 350), (730, 300),
                      (730, 500), (470, 500), (470, 300), (420, 350), (360, 300)], fill=white)  # fmt: skip
        draw.ellipse([555, 120, 645, 200], fill=white)
    elif shape == "mug":
        draw.rounded_rectangle([460, 190, 700, 480], radius=24, fill=white)
        draw.ellipse([660, 250, 780, 400], outline=white, width=28)
    elif shape == "card":
        draw.rounded_rectangle([380, 170, 820, 460], radius=28, fill=white)
        draw.rectangle([380, 230, 820, 280], fill=(30, 30, 30))
    elif shape == "sun":
        draw.ellipse([510, 225, 690, 405], fill=white)
        for dx, dy in ((0, -1), (1, 0), (0, 1), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
            draw.line([600 + dx * 120, 315 + dy * 120, 600 + dx * 170, 315 + dy * 170], fill=white, width=20)
    elif shape == "plate":
        draw.ellipse([450, 165, 750, 465], outline=white, width=26)
        draw.rectangle([375, 190, 395, 440], fill=white)
        draw.rectangle([805, 190, 825, 440], fill=white)
    else:  # a tree
        draw.polygon([(600, 130), (760, 420), (440, 420)], fill=white)
        draw.rectangle([575, 420, 625, 500], fill=white)


def reward_picture(index: int, shape: str) -> io.BytesIO:
    """A demo reward's picture: a coloured field with soft circles and a pictogram, as PNG bytes."""
    base = COLOURS[index % len(COLOURS)]
    img = Image.new("RGB", (1200, 630), base)
    draw = ImageDraw.Draw(img)
    tint = tuple(min(255, c + 40) for c in base)
    for x, y, r in ((150, 120, 220), (1080, 540, 260), (980, 90, 120)):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tint)
    _pictogram(draw, shape)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return buf


def seed_demo_rewards(admin, people, print_fn) -> None:
    """Create the demo catalog once (skipped when rewards exist), each reward with a picture."""
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
    catalog = [(hoodie, "hoodie"), (mug, "mug"), (card, "card"), (day_off, "sun"), (lunch, "plate"),
               (charity, "tree")]  # fmt: skip
    for index, (reward, shape) in enumerate(catalog):
        paths = save_resized_image(reward_picture(index, shape), "rewards", WIDTHS, 8 * 1024 * 1024)
        reward.image_path, reward.preview_path = paths["phone"], paths["preview"]
    db.session.add_all([reward for reward, _shape in catalog])
    db.session.flush()
    services.import_codes(card, "\n".join(f"BOOK-{secrets.token_hex(4).upper()}" for _ in range(12)).encode())
    print_fn("Demo rewards: 6 in the catalog, each with a picture; 12 gift-card codes.")
