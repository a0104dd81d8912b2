"""Demo content for ``flask seed-demo``: posts, a campaign, shares, clicks, comments, suggestions."""

from __future__ import annotations

import io
import random
from datetime import timedelta

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from app.accounts.models import User
from app.content import engagement, services, sharing
from app.content.models import Post
from app.extensions import db
from app.media import save_resized_image
from app.timeutil import utcnow
from app.tracking.clicks import ingest_records, visitor_hash
from app.tracking.links import get_or_create_link

PALETTE = [(67, 56, 202), (14, 116, 144), (190, 24, 93), (21, 128, 61), (180, 83, 9), (79, 70, 229)]

DEMO_POSTS = [
    ("Northwind Robotics opens its Warsaw R&D centre", "https://example.com/news/warsaw-rd",
     "120 new engineering roles over two years.", "{first_name} here: we are growing in Warsaw! {hashtags}",
     "#hiring #robotics", False, None),
    ("Q3 results: revenue up 21%", "https://example.com/investors/q3",
     "Strong demand for warehouse automation.", "Proud of what our team did this quarter. {hashtags}",
     "#results #automation", True, None),
    ("We are hiring: senior embedded engineers", "https://example.com/careers/embedded",
     "Remote-friendly, Warsaw or Berlin.", "Know a great embedded engineer? We want to meet them. {hashtags}",
     "#hiring #embedded", False, "cta"),
    ("Case study: 40% faster picking at FreshCart", "https://example.com/customers/freshcart",
     "How FreshCart cut picking time with our arms.", "A customer story I love: {title} {hashtags}",
     "#customers #logistics", False, None),
    ("Meet us at LogiMAT 2027, hall 7", "https://example.com/events/logimat",
     "Live demos of the new gripper.", "Come say hi at LogiMAT! {hashtags}", "#events #logimat", False, None),
    ("Our 2026 sustainability report", "https://example.com/sustainability/2026",
     "Scope 1 and 2 emissions down 30%.", "Numbers I am proud of: {title} {hashtags}", "#sustainability", False, None),
    ("Podcast: the future of cobots", "https://example.com/podcast/cobots",
     "Our CTO talks to Automation Weekly.", "Worth a listen on your commute. {hashtags}", "#podcast #cobots", False,
     None),
    ("Engineering blog: how we test grippers", "https://example.com/blog/gripper-testing",
     "Ten thousand picks a day in our lab.", "Behind the scenes of our test lab. {hashtags}", "#engineering", False,
     None),
]  # fmt: skip


def _image(seed: int) -> io.BytesIO:
    """A simple, pleasant placeholder image (no network, no stock photos)."""
    rng = random.Random(seed)
    base = PALETTE[seed % len(PALETTE)]
    img = Image.new("RGB", (1200, 630), base)
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        r = rng.randint(80, 260)
        x, y = rng.randint(0, 1200), rng.randint(0, 630)
        tint = tuple(min(255, c + rng.randint(30, 90)) for c in base)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tint)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    buf.seek(0)
    return buf


def seed_demo_content(admin: User, employees: list[User]) -> int:
    """Create the demo library once (skipped when posts exist); returns posts created."""
    if db.session.scalar(select(func.count()).select_from(Post)):
        return 0
    rng = random.Random(7)
    campaign = services.create_campaign(
        "Hiring spring 2027", "share", "shares", 60, utcnow() + timedelta(days=45),
        "Help us find 120 engineers: share our job posts.",
    )  # fmt: skip
    posts = []
    for i, (title, url, body, caption, tags, pinned, kind) in enumerate(DEMO_POSTS):
        data = services.PostData(
            title=title, url=url, body=body, hashtags=tags, pinned=pinned, action="publish",
            captions=[("generic", "A", caption), ("linkedin", "A", caption + " {link}")],
            is_cta=kind == "cta", cta_deadline=utcnow() + timedelta(days=5) if kind == "cta" else None,
            campaign_id=campaign.id if "hiring" in tags else None,
        )  # fmt: skip
        post = services.create_post(data, admin)
        post.publish_at = utcnow() - timedelta(hours=6 * (len(DEMO_POSTS) - i))
        paths = save_resized_image(_image(i), "posts", {"phone": 1080, "preview": 640}, 8 * 1024 * 1024)
        post.image_path, post.preview_path = paths["phone"], paths["preview"]
        posts.append(post)
    db.session.flush()
    # Some colleagues already shared, and their links already earned clicks.
    records = []
    salt = b"demo-salt"
    for n, user in enumerate(employees[:24]):
        for post in rng.sample(posts, 2):
            network = rng.choice(["linkedin", "linkedin", "x", "facebook", "whatsapp"])
            result = sharing.share_post(post, user, network)
            link = get_or_create_link(post, user, network, "A")
            for k in range(rng.randint(0, 6)):
                when = utcnow() - timedelta(hours=rng.randint(1, 40))
                records.append({
                    "uid": f"demo-{n}-{post.id}-{k}", "ts": when.timestamp(),
                    "link": link.id, "post": post.id, "sharer": user.id, "net": network, "ref": "www.linkedin.com",
                    "vh": visitor_hash(salt, f"198.51.100.{rng.randint(1, 250)}", "demo"), "bot": False, "self": False,
                })  # fmt: skip
            assert result.link
    ingest_records(records)
    for user, text in zip(employees[:3], ["Congrats everyone!", "Sharing this with my network.", "Great read."],
                          strict=False):  # fmt: skip
        engagement.add_comment(posts[1], user, text)
        engagement.toggle_like(posts[1], user)
    engagement.suggest(employees[5], "https://example.com/press/award", "We won the Robotics Award, worth sharing!")
    return len(posts)


def seed_demo(admin: User, employees: list[User], print_fn) -> None:
    """The demo seeder content registers in its ``init_app``: the library, then a word on the console."""
    posts = seed_demo_content(admin, employees)
    if posts:
        print_fn(f"Demo content: {posts} posts with shares, clicks, comments and a campaign.")
