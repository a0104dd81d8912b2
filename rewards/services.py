"""Rewards: the catalog, safe redemption, fulfilment, and gift-card codes.

A redemption is one transaction of guarded single statements, correct on SQLite
and PostgreSQL alike: points are debited with ``balance >= cost``, stock with
``stock > 0``, a gift-card code is reserved with ``redemption_id IS NULL``, per-person
limits with counters, and the form's idempotency key is UNIQUE. Whatever loses a
race rolls back its savepoint and gets a clear message; nothing half-happens.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app import audit, events
from app.accounts.models import User
from app.audience import Audience
from app.config import read_or_create_secret
from app.extensions import db
from app.gamification import ledger
from app.timeutil import utcnow
from rewards.models import (
    GiftCode,
    Redemption,
    RedemptionCounter,
    RedemptionEvent,
    Reward,
    RewardDepartment,
    RewardLocation,
    RewardVariant,
    SavedAddress,
)

ADDRESS_FIELDS = ("name", "line1", "line2", "postcode", "city", "country", "phone")
REQUIRED_ADDRESS = ("name", "line1", "postcode", "city", "country")
MAX_CODES = 50_000
# Allowed moves of a redemption; anything else is refused.
TRANSITIONS = {
    "approved": ("requested",),
    "rejected": ("requested", "approved"),
    "cancelled": ("requested",),
    "shipped": ("approved",),
    "delivered": ("shipped", "approved"),
}


class RewardError(ValueError):
    """A user-facing problem with a reward or redemption (the message is translated)."""


# --- gift-card codes ----------------------------------------------------------------------------------------


def _key_material() -> bytes:
    secret = current_app.config.get("GIFTCARD_KEY") or read_or_create_secret(
        __import__("pathlib").Path(current_app.config["INSTANCE_PATH"]), "giftcard_key"
    )
    return hashlib.sha256(("herald-giftcards:" + secret).encode()).digest()


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_key_material()))


def code_hash(code: str) -> str:
    """A keyed hash of a code: finds duplicates without decrypting, useless without the key."""
    return hmac.new(_key_material(), code.strip().upper().encode(), hashlib.sha256).hexdigest()


def decrypt_code(row: GiftCode) -> str:
    """The plain code (only the reveal page calls this)."""
    return _fernet().decrypt(row.code_encrypted.encode()).decode()


def import_codes(reward: Reward, data: bytes) -> tuple[int, list[tuple[int, str]]]:
    """Add gift-card codes from a CSV (one code per line, optional header ``code``): all or nothing.

    Returns (added, errors); on any error nothing is added. Error messages never
    contain a code, so they can be shown and logged.
    """
    if reward.kind != "gift_card":
        return 0, [(0, _("Only gift cards have codes."))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return 0, [(0, _("The file is not UTF-8 text."))]
    rows = list(csv.reader(io.StringIO(text)))
    if rows and rows[0] and rows[0][0].strip().lower() == "code":
        rows = [["__header__"], *rows[1:]]
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    codes: list[tuple[str, str]] = []
    for line, row in enumerate(rows, start=1):
        if row == ["__header__"] or not row or not "".join(row).strip():
            continue
        code = row[0].strip()
        if len(code) < 4 or len(code) > 200 or any(ch.isspace() for ch in code):
            errors.append((line, _("This is not a valid code (4 to 200 characters, no spaces).")))
            continue
        digest = code_hash(code)
        if digest in seen:
            errors.append((line, _("The same code is also on line %(line)d.", line=seen[digest])))
            continue
        seen[digest] = line
        codes.append((code, digest))
    if len(codes) > MAX_CODES:
        errors.append((0, _("Upload at most %(n)d codes at a time.", n=MAX_CODES)))
    if not codes and not errors:
        errors.append((0, _("The file has no codes.")))
    if codes:
        digests = [d for _code, d in codes]
        existing = set()
        for start in range(0, len(digests), 500):
            chunk = digests[start : start + 500]
            existing.update(db.session.scalars(select(GiftCode.code_hash).where(GiftCode.code_hash.in_(chunk))))
        for _code, digest in codes:
            if digest in existing:
                errors.append((seen[digest], _("This code is already in Herald.")))
    if errors:
        return 0, sorted(errors)
    fernet = _fernet()
    db.session.execute(
        GiftCode.__table__.insert(),
        [{"reward_id": reward.id, "code_encrypted": fernet.encrypt(code.encode()).decode(), "code_hash": digest,
          "created_at": utcnow()} for code, digest in codes],
    )  # fmt: skip
    return len(codes), []


def codes_left(reward_id: int) -> int:
    """Unissued codes of a gift card (the admin sees this number, never a code)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(GiftCode)
            .where(GiftCode.reward_id == reward_id, GiftCode.redemption_id.is_(None))
        )
        or 0
    )


def _reserve_code(reward: Reward, redemption_id: int) -> int | None:
    """Issue one free code to a redemption; None when none is left. Never the same code twice."""
    for _attempt in range(5):
        query = (
            select(GiftCode.id)
            .where(GiftCode.reward_id == reward.id, GiftCode.redemption_id.is_(None))
            .order_by(GiftCode.id)
            .limit(1)
        )
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        code_id = db.session.scalar(query)
        if code_id is None:
            return None
        done = db.session.execute(
            update(GiftCode)
            .where(GiftCode.id == code_id, GiftCode.redemption_id.is_(None))
            .values(redemption_id=redemption_id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            return code_id
    return None


# --- catalog ------------------------------------------------------------------------------------------------


REWARD_AUDIENCE = Audience(
    Reward.audience_all, Reward.id, RewardDepartment.reward_id, RewardDepartment.department_id,
    RewardLocation.reward_id, RewardLocation.location_id,
)  # fmt: skip


def available_condition(user: User, now: datetime):
    """SQL: active, inside its window, and in the user's audience."""
    return and_(
        Reward.active.is_(True),
        or_(Reward.starts_at.is_(None), Reward.starts_at <= now),
        or_(Reward.ends_at.is_(None), Reward.ends_at > now),
        REWARD_AUDIENCE.includes(user),
    )


def in_stock(reward: Reward) -> bool:
    """Whether anything of this reward is left to redeem."""
    if reward.kind == "merch":
        return any(v.stock > 0 for v in reward.variants)
    if reward.kind == "gift_card":
        return codes_left(reward.id) > 0
    return reward.quantity is None or reward.quantity > 0


ALMOST_THERE = 75  # percent of the cost from which a reward says "Almost there"


@dataclass
class CatalogItem:
    """A reward as the catalog (and its own page) shows it to one person."""

    reward: Reward
    affordable: bool
    missing: int
    progress: int  # percent of the cost the person has
    available: bool

    @classmethod
    def of(cls, reward: Reward, balance: int, available: bool) -> CatalogItem:
        progress = min(100, max(0, balance) * 100 // reward.cost)
        return cls(reward, balance >= reward.cost, max(0, reward.cost - balance), progress, available)

    @property
    def almost(self) -> bool:
        return self.progress >= ALMOST_THERE


def catalog(user: User) -> list[CatalogItem]:
    """Rewards the user can see, cheapest first, with "you can afford" and "N points to go"."""
    balance = ledger.balance_of(user.id)[0]
    rewards = db.session.scalars(
        select(Reward).where(available_condition(user, utcnow())).order_by(Reward.cost, Reward.id)
    ).all()
    return [CatalogItem.of(r, balance, in_stock(r)) for r in rewards]


def can_see(user: User, reward: Reward) -> bool:
    """True when the reward is in the user's catalog now."""
    return bool(db.session.scalar(select(exists().where(Reward.id == reward.id, available_condition(user, utcnow())))))


# --- redeeming ----------------------------------------------------------------------------------------------


def _month(user: User) -> str:
    return utcnow().astimezone(ZoneInfo(user.timezone)).strftime("%Y-%m")


def _take_limit(user: User, reward: Reward, month: str, limit: int | None) -> bool:
    if not limit:
        return True
    ledger.upsert(RedemptionCounter, {"user_id": user.id, "reward_id": reward.id, "month": month, "count": 0},
                  ("user_id", "reward_id", "month"), {})  # fmt: skip
    table = RedemptionCounter.__table__
    return db.session.execute(
        update(table)
        .where(table.c.user_id == user.id, table.c.reward_id == reward.id, table.c.month == month,
               table.c.count < limit)
        .values(count=table.c.count + 1)
    ).rowcount == 1  # fmt: skip


def clean_address(form: dict) -> dict:
    """A shipping address from form fields, or RewardError naming what is missing."""
    address = {f: (form.get(f) or "").strip()[:120] for f in ADDRESS_FIELDS}
    missing = [f for f in REQUIRED_ADDRESS if not address[f]]
    if missing:
        raise RewardError(_("Fill in the shipping address: name, street, postcode, city and country."))
    return address


def _add_event(redemption_id: int, status: str, actor: User | None, note: str = "") -> None:
    db.session.add(RedemptionEvent(redemption_id=redemption_id, status=status, note=note[:500],
                                   actor_id=getattr(actor, "id", None)))  # fmt: skip


def redeem(
    user: User,
    reward: Reward,
    key: str,
    *,
    variant_id: int | None = None,
    address: dict | None = None,
    pickup_location_id: int | None = None,
) -> tuple[Redemption, bool]:
    """Redeem a reward. Returns (redemption, created); a repeated key returns the first redemption.

    Raises RewardError with a clear message ("Sold out", "Not enough points", ...) and changes nothing.
    """
    key = (key or "").strip()[:80]
    if len(key) < 8:
        raise RewardError(_("This form is out of date. Reload the page and try again."))
    existing = db.session.scalar(select(Redemption).where(Redemption.idempotency_key == key))
    if existing is not None:
        if existing.user_id != user.id:
            raise RewardError(_("This form is out of date. Reload the page and try again."))
        return existing, False
    if not can_see(user, reward):
        raise RewardError(_("This reward is not available any more."))
    variant = None
    if reward.kind == "merch":
        variant = next((v for v in reward.variants if v.id == variant_id), None)
        if variant is None:
            raise RewardError(_("Choose a size or colour."))
        if pickup_location_id is None:
            address = clean_address(address or {})
    month = _month(user)
    try:
        with db.session.begin_nested():
            if not _take_limit(user, reward, month, reward.limit_per_month):
                raise RewardError(ngettext_limit(reward.limit_per_month, monthly=True))
            if not _take_limit(user, reward, "all", reward.limit_total):
                raise RewardError(ngettext_limit(reward.limit_total, monthly=False))
            if variant is not None and not db.session.execute(
                update(RewardVariant).where(RewardVariant.id == variant.id, RewardVariant.stock > 0)
                .values(stock=RewardVariant.stock - 1).execution_options(synchronize_session=False)
            ).rowcount:  # fmt: skip
                raise RewardError(_("Sold out: %(variant)s.", variant=variant.label))
            if reward.kind == "experience" and reward.quantity is not None and not db.session.execute(
                update(Reward).where(Reward.id == reward.id, Reward.quantity > 0)
                .values(quantity=Reward.quantity - 1).execution_options(synchronize_session=False)
            ).rowcount:  # fmt: skip
                raise RewardError(_("Sold out."))
            redemption = Redemption(
                user_id=user.id, reward_id=reward.id, variant_id=variant.id if variant else None, cost=reward.cost,
                status="requested", idempotency_key=key, month=month,
                shipping=address if variant and not pickup_location_id else None,
                pickup_location_id=pickup_location_id if reward.kind == "merch" else None,
            )  # fmt: skip
            db.session.add(redemption)
            db.session.flush()
            if reward.kind == "gift_card" and _reserve_code(reward, redemption.id) is None:
                raise RewardError(_("Sold out: no codes are left."))
            ledger.spend(user, reward.cost, "redemption", f"redeem:{redemption.id}",
                         source=("redemption", redemption.id), params={"title": reward.title})  # fmt: skip
            _add_event(redemption.id, "requested", user)
    except ledger.LedgerError:
        raise RewardError(_("Not enough points."))
    except IntegrityError:
        # The same key won a race a moment ago: that one is the redemption.
        existing = db.session.scalar(select(Redemption).where(Redemption.idempotency_key == key))
        if existing is None:
            raise RewardError(_("Something changed in the meantime. Try again."))
        return existing, False
    if reward.kind == "merch":
        _remember_address(user, address if not pickup_location_id else None, pickup_location_id)
    events.redemption_changed.send(current_app._get_current_object(), redemption=redemption, status="requested",
                                   actor=user)  # fmt: skip
    if not reward.requires_approval:
        set_status(redemption, "approved", None)
    return redemption, True


def ngettext_limit(limit: int, monthly: bool) -> str:
    """The message for a per-person limit."""
    from flask_babel import ngettext

    if monthly:
        return ngettext(
            "You can redeem this %(num)d time a month.", "You can redeem this %(num)d times a month.", limit
        )
    return ngettext("You can redeem this %(num)d time in total.", "You can redeem this %(num)d times in total.", limit)


def _remember_address(user: User, address: dict | None, pickup_location_id: int | None) -> None:
    saved = db.session.get(SavedAddress, user.id)
    if saved is None:
        saved = SavedAddress(user_id=user.id)
        db.session.add(saved)
    if address:
        saved.address = address
    saved.pickup_location_id = pickup_location_id
    saved.updated_at = utcnow()


def saved_address(user: User) -> SavedAddress | None:
    """The address or office used last time."""
    return db.session.get(SavedAddress, user.id)


def preferred_variant(user: User, reward: Reward) -> int | None:
    """The variant of ``reward`` to offer first: the size or colour the person took last time, if in stock.

    Labels are compared, so someone who took an "M" hoodie is offered the "M" T-shirt first
    (a returning person redeems in two taps, in their size); None when nothing matches.
    """
    last = db.session.scalar(
        select(RewardVariant.label).join(Redemption, Redemption.variant_id == RewardVariant.id)
        .where(Redemption.user_id == user.id).order_by(Redemption.id.desc()).limit(1)
    )  # fmt: skip
    return next((v.id for v in reward.variants if v.label == last and v.stock > 0), None)


# --- fulfilment ---------------------------------------------------------------------------------------------


def set_status(redemption: Redemption, status: str, actor: User | None, *, note: str = "", carrier: str = "",
               tracking: str = "") -> bool:  # fmt: skip
    """Move a redemption along its timeline with a guarded update; False when someone else moved it first.

    Rejecting or cancelling refunds the points exactly once (a ledger entry with a
    refund key), puts the stock back, and returns an unrevealed gift code to the pool.
    A gift card whose code the redeemer has seen cannot be rejected: the code is spent
    for good (it may already be used), so refunding would pay twice. That raises
    RewardError and changes nothing.
    """
    allowed_from = TRANSITIONS[status]
    values = {"status": status, "updated_at": utcnow()}
    if status == "rejected":
        if not note.strip():
            raise RewardError(_("Give a reason: the employee sees it."))
        values["reason"] = note.strip()[:500]
    if status == "shipped":
        values["carrier"], values["tracking"] = carrier.strip()[:60], tracking.strip()[:120]
    with db.session.begin_nested():
        # The guarded update takes the redemption's row lock; a reveal in progress holds the
        # same lock (see reveal_gift_code), so the check below sees a reveal that won the race.
        done = db.session.execute(
            update(Redemption)
            .where(Redemption.id == redemption.id, Redemption.status.in_(allowed_from))
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not done:
            return False
        if status in ("rejected", "cancelled") and db.session.scalar(
            select(exists().where(GiftCode.redemption_id == redemption.id, GiftCode.revealed_at.is_not(None)))
        ):
            raise RewardError(
                _("The employee has already seen this gift card's code, so it cannot be taken back or refunded.")
            )
    db.session.refresh(redemption)
    _add_event(redemption.id, status, actor, note or (f"{carrier} {tracking}".strip() if status == "shipped" else ""))
    if status in ("rejected", "cancelled"):
        ledger.refund(redemption.user, redemption.cost, "refund", f"refund:{redemption.id}",
                      source=("redemption", redemption.id), params={"title": redemption.reward.title})  # fmt: skip
        if redemption.variant_id:
            db.session.execute(update(RewardVariant).where(RewardVariant.id == redemption.variant_id)
                               .values(stock=RewardVariant.stock + 1))  # fmt: skip
        elif redemption.reward.kind == "experience" and redemption.reward.quantity is not None:
            db.session.execute(update(Reward).where(Reward.id == redemption.reward_id)
                               .values(quantity=Reward.quantity + 1))  # fmt: skip
        # Only an unrevealed code goes back (the check above refused a revealed one; the
        # condition keeps it that way whatever calls this).
        db.session.execute(
            update(GiftCode)
            .where(GiftCode.redemption_id == redemption.id, GiftCode.revealed_at.is_(None))
            .values(redemption_id=None)
        )
        table = RedemptionCounter.__table__
        for month in (redemption.month, "all"):
            db.session.execute(
                update(table)
                .where(table.c.user_id == redemption.user_id, table.c.reward_id == redemption.reward_id,
                       table.c.month == month, table.c.count > 0)
                .values(count=table.c.count - 1)
            )  # fmt: skip
    if actor is not None and status != "cancelled":
        audit.record(f"redemption.{status}", actor, redemption)
    events.redemption_changed.send(current_app._get_current_object(), redemption=redemption, status=status,
                                   actor=actor)  # fmt: skip
    return True


def code_revealed(redemption: Redemption) -> bool:
    """Whether the redeemer has seen this redemption's gift-card code (then it can no longer be rejected)."""
    return bool(
        db.session.scalar(
            select(exists().where(GiftCode.redemption_id == redemption.id, GiftCode.revealed_at.is_not(None)))
        )
    )


def revealed_among(redemption_ids: list[int]) -> set[int]:
    """Which of these redemptions' gift-card codes the redeemer has seen (the queue hides Reject for them)."""
    if not redemption_ids:
        return set()
    return set(
        db.session.scalars(
            select(GiftCode.redemption_id).where(
                GiftCode.redemption_id.in_(redemption_ids), GiftCode.revealed_at.is_not(None)
            )
        )
    )


def reveal_gift_code(redemption: Redemption, user: User) -> str | None:
    """The code, for the redeemer only, only once approved; None otherwise. Marks the code spent.

    The redemption's row is locked first (PostgreSQL; SQLite writers are serialised), so
    a rejection running at the same moment either finishes before (the status is no
    longer approved: nothing is shown) or waits and then sees the code revealed.
    The caller commits.
    """
    if redemption.user_id != user.id:
        return None
    query = select(Redemption.status).where(Redemption.id == redemption.id)
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    if db.session.scalar(query) not in ("approved", "shipped", "delivered"):
        return None
    row = db.session.scalar(select(GiftCode).where(GiftCode.redemption_id == redemption.id))
    if row is None:
        return None
    db.session.execute(
        update(GiftCode)
        .where(GiftCode.id == row.id, GiftCode.revealed_at.is_(None))
        .values(revealed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return decrypt_code(row)


def low_stock(reward: Reward) -> bool:
    """Whether the admin list should warn about this reward."""
    if reward.kind == "merch":
        return any(v.stock <= reward.low_stock_at for v in reward.variants)
    if reward.kind == "gift_card":
        return codes_left(reward.id) <= reward.low_stock_at
    return reward.quantity is not None and reward.quantity <= reward.low_stock_at


def shipping_orders_csv(redemptions: list[Redemption]) -> bytes:
    """A CSV of approved merch orders for the vendor, without any gift-card data.

    Written by ``app.exports``: names and addresses are typed by employees, so a cell a
    spreadsheet would run as a formula is neutralised.
    """
    from app import exports

    rows = []
    for r in redemptions:
        address = r.shipping or {}
        rows.append({
            "order": r.id, "date": r.created_at.date().isoformat(), "item": r.reward.title,
            "variant": r.variant.label if r.variant else "", "recipient": address.get("name") or r.user.display_name,
            "email": r.user.email, "street": address.get("line1", ""), "street2": address.get("line2", ""),
            "postcode": address.get("postcode", ""), "city": address.get("city", ""),
            "country": address.get("country", ""), "phone": address.get("phone", ""),
            "pickup_office": _location_name(r.pickup_location_id),
        })  # fmt: skip
    columns = ["order", "date", "item", "variant", "recipient", "email", "street", "street2", "postcode", "city",
               "country", "phone", "pickup_office"]  # fmt: skip
    return exports.csv_bytes(columns, rows)


def _location_name(location_id: int | None) -> str:
    if not location_id:
        return ""
    from app.org.models import Location

    loc = db.session.get(Location, location_id)
    return loc.name if loc else ""
