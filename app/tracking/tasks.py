"""Background work for tracked links: forgetting old visitor salts (the ingester adopts dead workers' spools)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_periodic_task


@app_periodic_task(crontab(minute="7", hour="0"))
def forget_visitor_salts() -> int:
    """Delete visitor salts older than two days, so old visitor hashes can never be linked again."""
    from app.tracking.clicks import forget_old_salts

    return forget_old_salts()
