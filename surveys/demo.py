"""Demo surveys for ``flask seed-demo``: a quarterly satisfaction survey with two waves, an eNPS pulse."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.timeutil import utcnow
from surveys import services
from surveys.models import Survey, Wave

# Answers lean by department, so the heatmap has something to show.
MOOD = {"Engineering": 0.6, "Marketing": 0.3, "Sales": -0.2, "Customer Success": 0.1, "People & Culture": 0.5,
        "Finance": -0.4}  # fmt: skip
TEXTS = ["More time for focused work.", "Clearer priorities from leadership.", "The new office coffee is great.",
         "Recognition for support work.", "Fewer meetings on Fridays.", "Better onboarding documents."]  # fmt: skip


def _answers(survey: Survey, rng: random.Random, mood: float) -> dict[int, object]:
    given: dict[int, object] = {}
    for q in survey.questions:
        if q.kind == "enps":
            given[q.id] = max(0, min(10, round(rng.gauss(7.2 + 2 * mood, 1.8))))
        elif q.kind in ("likert", "rating"):
            given[q.id] = max(1, min(5, round(rng.gauss(3.5 + mood, 0.9))))
        elif q.kind == "single":
            given[q.id] = rng.randrange(len(q.options or [1]))
        elif q.kind == "multi":
            given[q.id] = sorted(rng.sample(range(len(q.options or [])), k=rng.randint(1, 2)))
        elif rng.random() < 0.4:
            given[q.id] = rng.choice(TEXTS)
    return given


def seed_demo_surveys(admin, people, print_fn) -> None:
    """Create the demo surveys once (skipped when surveys exist); the demo employee has both still to answer."""
    if db.session.scalar(select(func.count()).select_from(Survey)):
        return
    rng = random.Random(7)
    now = utcnow()
    hr = next((p for p in people if p.email.startswith("hr@")), admin)
    satisfaction = services.create_survey(hr, "satisfaction")
    satisfaction.opens_at = now - timedelta(days=95)
    satisfaction.closes_at = now - timedelta(days=81)
    first = services.launch(satisfaction, hr, now=now - timedelta(days=95))
    answering = [p for p in people if not p.email.startswith(("employee@", "hr@"))]
    for person in answering[: int(len(answering) * 0.8)]:
        mood = MOOD.get(person.department.name if person.department else "", 0) - 0.2
        services.submit(first, person, _answers(satisfaction, rng, mood), now=now - timedelta(days=90))
    second = services.next_wave(satisfaction, now - timedelta(days=2))
    if second is None:  # the quarter has not come round yet: start the next wave now for the demo
        second = Wave(survey_id=satisfaction.id, number=2, opens_at=now - timedelta(days=2),
                      closes_at=now + timedelta(days=12))  # fmt: skip
        db.session.add(second)
        db.session.flush()
    services.snapshot(second, now)
    for person in answering[: int(len(answering) * 0.6)]:
        mood = MOOD.get(person.department.name if person.department else "", 0)
        services.submit(second, person, _answers(satisfaction, rng, mood), now=now)
    services.tick(now)
    pulse = services.create_survey(hr, "enps_pulse")
    services.launch(pulse, hr, now=now)
    db.session.flush()
    print_fn("Demo surveys: a satisfaction survey with two waves of answers, an eNPS pulse waiting.")
