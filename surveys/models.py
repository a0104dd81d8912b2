"""Surveys, their questions and waves, who was asked, who took part, and the answers (see the package docstring).

The response and answer tables hold nothing that names a person or an exact time. Their keys
are random, and on SQLite they are ``WITHOUT ROWID`` tables, so not even a hidden row number
keeps the order in which people answered.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.timeutil import UTCDateTime, utcnow

QUESTION_KINDS = ("enps", "likert", "rating", "single", "multi", "short_text", "long_text")
SCALE_KINDS = ("likert", "rating")  # 1-5, 4-5 is favourable
CHOICE_KINDS = ("single", "multi")
TEXT_KINDS = ("short_text", "long_text")
RECURRENCES = ("once", "monthly", "quarterly")
SURVEY_STATUSES = ("draft", "live", "archived")
MIN_THRESHOLD = 3
DEFAULT_THRESHOLD = 5


class SurveyDimension(db.Model):
    """What a question measures (recognition, workload, ...): built-in ones and HR's own."""

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")  # HR's own; built-in ones are translated by key
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Survey(db.Model):
    """A questionnaire and how it runs: anonymity, audience, schedule, recurrence, points, threshold."""

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'live', 'archived')", name="status"),
        CheckConstraint("recurrence IN ('once', 'monthly', 'quarterly')", name="recurrence"),
        CheckConstraint(f"threshold >= {MIN_THRESHOLD}", name="threshold_minimum"),
        CheckConstraint("points >= 0", name="points_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    intro: Mapped[str] = mapped_column(Text, default="")
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    audience_all: Mapped[bool] = mapped_column(Boolean, default=True)
    recurrence: Mapped[str] = mapped_column(String(16), default="once")
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    points: Mapped[int] = mapped_column(default=20)
    threshold: Mapped[int] = mapped_column(default=DEFAULT_THRESHOLD)
    reminders: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    template: Mapped[str] = mapped_column(String(40), default="")
    version: Mapped[int] = mapped_column(default=1)
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("survey.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    questions: Mapped[list[Question]] = relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="Question.position", lazy="selectin"
    )
    waves: Mapped[list[Wave]] = relationship(
        back_populates="survey", cascade="all, delete-orphan", order_by="Wave.number"
    )
    departments: Mapped[list[SurveyDepartment]] = relationship(cascade="all, delete-orphan", lazy="selectin")
    locations: Mapped[list[SurveyLocation]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class SurveyDepartment(db.Model):
    """A department in a survey's audience."""

    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id", ondelete="CASCADE"), primary_key=True)


class SurveyLocation(db.Model):
    """A location in a survey's audience."""

    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)


class Question(db.Model):
    """One question; ``options`` lists the choices of single and multiple choice questions."""

    __table_args__ = (
        CheckConstraint(
            "kind IN ('enps', 'likert', 'rating', 'single', 'multi', 'short_text', 'long_text')", name="kind"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(String(300))
    help: Mapped[str] = mapped_column(String(300), default="")
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    dimension_id: Mapped[int | None] = mapped_column(ForeignKey("survey_dimension.id", ondelete="SET NULL"))
    options: Mapped[list | None] = mapped_column(JSON)

    survey: Mapped[Survey] = relationship(back_populates="questions")
    dimension: Mapped[SurveyDimension | None] = relationship(lazy="joined")


class Wave(db.Model):
    """One run of a survey (a pulse repeats in waves that are compared over time)."""

    __table_args__ = (UniqueConstraint("survey_id", "number"), Index("ix_wave_window", "opens_at", "closes_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("survey.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(default=1)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_early_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set once, by a guarded update, when the audience was written into wave_invitee.
    snapshot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminder_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A closed wave's counts, kept so trends need not scan every answer again (equal to a fresh count: tested).
    cube: Mapped[dict | None] = mapped_column(JSON, deferred=True)  # loaded only by the results

    survey: Mapped[Survey] = relationship(back_populates="waves", lazy="joined")

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now < self.closes_at and self.closed_early_at is None

    def is_closed(self, now: datetime) -> bool:
        return self.closed_early_at is not None or now >= self.closes_at


class WaveInvitee(db.Model):
    """Who a wave asks, with the department and location they had when it opened (the breakdowns use these)."""

    wave_id: Mapped[int] = mapped_column(ForeignKey("wave.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True)
    department_id: Mapped[int | None]
    location_id: Mapped[int | None]


class Participation(db.Model):
    """That someone answered a wave (one per person: the primary key), on which day. Points come from here.

    ``response_key`` links to the answers only in confidential surveys; in anonymous ones it stays empty.
    """

    wave_id: Mapped[int] = mapped_column(ForeignKey("wave.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True, index=True)
    day: Mapped[date] = mapped_column(Date)
    response_key: Mapped[str | None] = mapped_column(String(32))


class Response(db.Model):
    """One set of answers: a random key, the day (none for waves under three days), the group snapshot."""

    __table_args__ = ({"sqlite_with_rowid": False},)

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("wave.id", ondelete="CASCADE"), index=True)
    day: Mapped[date | None] = mapped_column(Date)
    department_id: Mapped[int | None]
    location_id: Mapped[int | None]


class Answer(db.Model):
    """One answer; a multiple choice answer is one row per option picked (``choice``).

    ``wave_id``, ``department_id`` and ``location_id`` are copied from the response so that a
    wave's counts come from one index without a join.
    """

    __table_args__ = (
        Index("ix_answer_counts", "wave_id", "question_id", "department_id", "location_id", "value"),
        {"sqlite_with_rowid": False},
    )

    response_key: Mapped[str] = mapped_column(ForeignKey("response.key", ondelete="CASCADE"), primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("question.id", ondelete="CASCADE"), primary_key=True)
    choice: Mapped[int] = mapped_column(primary_key=True, default=0, autoincrement=False)
    wave_id: Mapped[int] = mapped_column(ForeignKey("wave.id", ondelete="CASCADE"))
    department_id: Mapped[int | None]
    location_id: Mapped[int | None]
    value: Mapped[int | None]
    text: Mapped[str | None] = mapped_column(Text)


class YouSaid(db.Model):
    """HR's "you said, we did" for a wave: what will change, published as a post."""

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("wave.id", ondelete="CASCADE"), index=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("post.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
