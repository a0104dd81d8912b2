"""``flask import-users``: employees from a CSV file, all rows or none."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from app.database import write_intent
from app.extensions import db


@click.command("import-users")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--invite", is_flag=True, help="E-mail invitations to people created by this import.")
@with_appcontext
def import_users(csv_file: Path, invite: bool):
    """Import employees from CSV (email,name,department,location,roles[,timezone]); all rows or none."""
    from app.org.services import import_employees

    with write_intent():
        report = import_employees(csv_file.read_bytes(), send_invites=invite)
        if not report.ok:
            db.session.rollback()
            for line, reason in report.errors:
                click.echo(f"line {line}: {reason}", err=True)
            raise click.ClickException(f"nothing imported: {len(report.errors)} problem(s)")
        db.session.commit()
    click.echo(f"Imported {len(report.created)} new, {len(report.updated)} updated, {report.unchanged} unchanged.")
