"""Organisation: departments and locations, and the employee CSV import."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Add ``flask import-users`` (the admin pages that use these services belong to ``app.admin``)."""
    from app.org import cli

    app.cli.add_command(cli.import_users)
