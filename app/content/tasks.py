"""Background work for content: polling the RSS/Atom sources into the suggested queue."""

from __future__ import annotations

from huey import crontab

from app.content.feeds import poll_due_sources
from app.tasks import app_periodic_task


@app_periodic_task(crontab(minute="*/5"))
def poll_feeds() -> int:
    """Poll the feeds that are due; return how many new items were queued.

    Idempotent: a second run right after the first finds no source due, and a
    run that overlaps another inserts each entry once (unique per source and guid).
    """
    return poll_due_sources()


@app_periodic_task(crontab())  # every minute: Huey's finest tick
def publish_scheduled() -> tuple[int, int]:
    """Publish scheduled posts whose time has come and expire old ones (guarded, so re-runs are harmless)."""
    from app.content.services import publish_due

    return publish_due()
