"""``flask analytics rebuild``: roll up any range of days again (idempotent)."""

from __future__ import annotations

from datetime import date, timedelta

import click
from flask.cli import AppGroup

from app.timeutil import utcnow

analytics_cli = AppGroup("analytics", help="Analytics roll-ups.")


def _day(_ctx, _param, value):
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD") from None


@analytics_cli.command("rebuild")
@click.option("--from", "first", callback=_day, help="First day (YYYY-MM-DD, UTC); default 30 days ago.")
@click.option("--to", "last", callback=_day, help="Last day (YYYY-MM-DD); default yesterday.")
def rebuild(first: date | None, last: date | None):
    """Recompute the daily roll-ups of every day from --from to --to (each day in its own transaction)."""
    from app.analytics import rollups, services

    today = utcnow().date()
    last = last or today - timedelta(days=1)
    first = first or last - timedelta(days=29)
    if last < first:
        raise click.UsageError(f"--to ({last}) is before --from ({first})")

    def progress(day, counts):
        click.echo(f"{day}: {counts['post']} post rows, {counts['sharer']} people, {counts['reach']} reach rows")

    days = rollups.rebuild(first, last, progress=progress)
    services.forget_today()
    click.echo(f"Rebuilt {days} days ({first} to {last}).")
