"""``flask create-user``: an account from the command line (the first admin of a new install)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from app.database import write_intent
from app.extensions import db


@click.command("create-user")
@click.argument("email")
@click.option("--name", required=True, help="Display name.")
@click.option("--role", "roles", multiple=True, default=["employee"], show_default=True,
              type=click.Choice(["employee", "admin", "hr"]), help="Repeat for several roles.")  # fmt: skip
@click.option("--password", is_flag=True, help="Prompt for a password and activate the account now.")
@click.option("--invite", is_flag=True, help="E-mail an invitation link instead.")
@with_appcontext
def create_user(email, name, roles, password, invite):
    """Create an account (active with --password, else invited)."""
    from app.accounts import services as accounts

    secret = click.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    with write_intent():
        try:
            user = accounts.create_user(
                email, name, roles=list(roles), password=secret, status="active" if secret else "invited"
            )
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc))
        if invite:
            accounts.send_invite(user)
        db.session.commit()
    click.echo(f"Created {user.email} ({', '.join(sorted(user.roles))}, {user.status}).")
