"""``flask ingest-clicks``: the click ingester a web host runs beside gunicorn (``serve`` starts it)."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext


def lower_priority(niceness: int) -> None:
    """Lower this process's CPU priority, so that web workers win when both want the CPU.

    Linux's autogroup scheduling shares the CPU between sessions first and applies a plain
    ``nice`` only inside a session. Started in a session of its own (a service manager, a
    benchmark, ``setsid``), the ingester would get a session's share of the CPU whatever its
    nice value, so its session's autogroup is lowered too.
    Sharing a session with the web workers (``serve``), the plain nice is enough, and the
    group's priority is left alone: it is theirs as well. The default is the lowest, 19: at
    10 the ingester still took enough CPU from saturated web workers to set the redirect's
    p99 (docs/performance.md, session 6). Under a sustained full
    load clicks then wait in the spool (durable) and are ingested when the load eases.
    """
    os.nice(niceness)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError):  # no autogroup scheduling here: the plain nice applies
            Path("/proc/self/autogroup").write_text(str(min(niceness, 19)))


@click.command("ingest-clicks")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between passes.")
@click.option("--nice", "niceness", default=19, show_default=True,
              help="Lower CPU priority (19, the lowest, by default): redirects come first, clicks are safe in "
                   "the spool meanwhile.")  # fmt: skip
@with_appcontext
def ingest_clicks(interval: float, niceness: int):
    """Move this host's spooled clicks into the database continuously (run one beside gunicorn on each host)."""
    import time

    if niceness:
        lower_priority(niceness)
    from app.tracking.clicks import Flusher

    spool = current_app.extensions["herald_redirects"].spool
    flusher = Flusher(current_app._get_current_object(), spool)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    click.echo("Ingesting spooled clicks (Ctrl+C stops).")
    while not stopping:
        try:
            flusher.flush()
        except Exception as exc:  # keep going; the spool files stay until a pass succeeds
            click.echo(f"click ingestion failed, retrying: {exc}", err=True)
        time.sleep(interval)
    flusher.flush()
