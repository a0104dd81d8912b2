"""Background work for tracked links: ingesting spools dead workers left behind, forgetting old salts."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_periodic_task


@app_periodic_task(crontab())
def sweep_click_spool() -> int:
    """Ingest spool files that dead web workers left on this host (live workers flush their own)."""
    from flask import current_app

    return current_app.extensions["herald_redirects"].flusher.flush()


@app_periodic_task(crontab(minute="7", hour="0"))
def forget_visitor_salts() -> int:
    """Delete visitor salts older than two days, so old visitor hashes can never be linked again."""
    from app.tracking.clicks import forget_old_salts

    return forget_old_salts()
