"""Surveys: satisfaction and eNPS pulses that HR builds, employees answer on phones, with real anonymity.

Anonymity by construction (keep it so; tests/test_surveys_anonymity.py checks it):

* An anonymous **response** row holds no user id and no exact time: a random key (never an
  autoincrement id; on SQLite the table is ``WITHOUT ROWID``, so no hidden row number keeps
  the order of answers either), the wave, the day only (no day at all when the wave is shorter
  than three days), and the department and location the person had when the wave opened
  (``wave_invitee``), which breakdowns need. Answers hang off that random key.
* Who took part lives apart, in **participation**: (wave, person, day), no finer time. Its
  primary key makes one response per person and wave; points come from the participation
  (the ledger key is ``survey:<wave>:<person>``), never from the response.
* Only a **confidential** survey (the employee is told before the first question) stores the
  response key on the participation, so HR can see names. Nothing else links the two tables.
* Results never show a group with fewer answers than the survey's threshold (at least 3,
  default 5, never lowered once a wave has answers), nor a second, smallest group when exactly
  one sibling is hidden, so that a hidden group cannot be recovered by subtraction
  (``surveys.results.suppressed``). Free-text answers are shown shuffled, for large enough groups only.
"""

from flask import Blueprint, Flask

bp = Blueprint("surveys", __name__)


def init_app(app: Flask) -> None:
    """Mount the Surveys tab and the HR area; register tasks, the tab badge and the demo survey."""
    from app import caches
    from app.cli import register_demo_seeder
    from surveys import hr_routes, models, routes, tasks  # noqa: F401  (routes attach to bp)
    from surveys.demo import seed_demo_surveys
    from surveys.services import unclosed_waves, waiting_count

    app.register_blueprint(bp)
    caches.register(app, "survey waves for the tab badge", unclosed_waves.forget)
    register_demo_seeder(app, seed_demo_surveys)

    @app.context_processor
    def surveys_waiting():
        return {"surveys_waiting": waiting_count}
