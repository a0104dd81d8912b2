"""Background work for surveys: open waves, remind, start the next wave of a pulse, keep closed waves' counts."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_periodic_task


@app_periodic_task(crontab(minute="*/5"))
def survey_waves() -> dict[str, int]:
    """Run ``surveys.services.tick`` (guarded updates and unique keys: overlapping runs do each thing once)."""
    from surveys.services import tick

    return tick()
