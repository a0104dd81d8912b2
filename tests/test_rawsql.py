"""Prepared statements on the driver's cursor: the same values the ORM would write, and savepoints that undo."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, insert, select

from app import rawsql
from app.extensions import db
from app.gamification.models import PointEntry
from app.rawsql import Prepared, RawCursor

WHEN = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # the night the clocks change in Europe
ENTRY = Prepared(
    insert(PointEntry.__table__)
    .values(user_id=bindparam("p_user"), delta=7, reason="share", params=bindparam("p_params"),
            idempotency_key=bindparam("p_key"), created_at=bindparam("p_now"))
    .returning(PointEntry.__table__.c.id)
)  # fmt: skip


def test_a_prepared_insert_stores_what_the_orm_reads_back(app, factory):
    user_id = factory.user("raw@example.com", "Raw")
    with app.app_context():
        raw = RawCursor.of(db.session.connection())
        new_id = ENTRY.execute(raw, {"p_user": user_id, "p_params": {"title": "Q3"}, "p_key": "raw:1",
                                     "p_now": WHEN}).fetchone()[0]  # fmt: skip
        db.session.commit()
        entry = db.session.get(PointEntry, new_id)
        assert (entry.user_id, entry.delta, entry.params, entry.created_at) == (user_id, 7, {"title": "Q3"}, WHEN)


def test_a_raw_savepoint_undoes_its_block_and_keeps_the_rest(app, factory):
    user_id = factory.user("raw2@example.com", "Raw")
    with app.app_context():
        raw = RawCursor.of(db.session.connection())
        ENTRY.execute(raw, {"p_user": user_id, "p_params": None, "p_key": "kept", "p_now": WHEN})
        with pytest.raises(raw.integrity_error), raw.savepoint("t"):
            ENTRY.execute(raw, {"p_user": user_id, "p_params": None, "p_key": "undone", "p_now": WHEN})
            ENTRY.execute(raw, {"p_user": user_id, "p_params": None, "p_key": "kept", "p_now": WHEN})  # duplicate
        db.session.commit()
        keys = set(db.session.scalars(select(PointEntry.idempotency_key).where(PointEntry.user_id == user_id)))
    assert keys == {"kept"}


def test_a_lent_cursor_stays_open_and_an_own_one_is_closed(app, factory):
    user_id = factory.user("raw3@example.com", "Raw")
    with app.app_context():
        lent = RawCursor.of(db.session.connection())
        with rawsql.cursor(db.session, lent) as raw:
            assert raw is lent
        ENTRY.execute(lent, {"p_user": user_id, "p_params": None, "p_key": "after", "p_now": WHEN}).fetchall()
        lent.close()
        with rawsql.cursor(db.session) as own:
            ENTRY.execute(own, {"p_user": user_id, "p_params": None, "p_key": "own", "p_now": WHEN}).fetchall()
        with pytest.raises(Exception):  # noqa: B017 - each driver names a closed cursor's error its own way
            own.cursor.execute("SELECT 1")
        db.session.commit()
        assert sorted(db.session.scalars(select(PointEntry.idempotency_key))) == ["after", "own"]
