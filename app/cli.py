"""The core's ``flask --app wsgi`` commands: seed-demo, serve, backup, restore.

Features add their own in their ``init_app`` (create-user, import-users, ingest-clicks).
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from app.backup import backup, restore
from app.database import write_intent
from app.extensions import db

DEMO_DOMAIN = "northwind.example"
DEMO_DEPARTMENTS = ["Engineering", "Marketing", "Sales", "Customer Success", "People & Culture", "Finance"]
DEMO_LOCATIONS = [("Warsaw", "Europe/Warsaw"), ("Berlin", "Europe/Berlin"), ("New York", "America/New_York")]
FIRST_NAMES = [
    "Ola", "Piotr", "Anna", "Marek", "Zofia", "Jan", "Kasia", "Tomasz", "Lena", "Jonas", "Mia", "Felix",
    "Hannah", "Lukas", "Emma", "Noah", "Sofia", "Liam", "Ava", "Mateo", "Priya", "Arjun", "Mei", "Kenji",
    "Amara", "Kwame", "Lucia", "Diego", "Ines", "Oskar", "Maja", "Wiktor",
]  # fmt: skip
LAST_NAMES = [
    "Nowak", "Kowalska", "Wiśniewski", "Zielińska", "Müller", "Schmidt", "Fischer", "Weber", "Johnson",
    "Garcia", "Chen", "Okafor", "Patel", "Rossi", "Silva", "Kim", "Larsen", "Novak", "Dubois", "Haddad",
]  # fmt: skip
DEMO_ACCOUNTS = [
    ("admin", "Alex Admin", ["employee", "admin"], "Marketing", "Warsaw"),
    ("hr", "Helena HR", ["employee", "hr"], "People & Culture", "Berlin"),
    ("employee", "Ola Nowak", ["employee"], "Engineering", "Warsaw"),
]
DEMO_EMPLOYEES = 66


def register_demo_seeder(app, seeder) -> None:
    """Have ``seed-demo`` call ``seeder(admin, people, print_fn)`` after the demo people exist.

    Features call this from their ``init_app``; seeders run in the order the features are listed.
    """
    seeders = app.extensions.setdefault("herald_demo_seeders", [])
    if seeder not in seeders:
        seeders.append(seeder)


def _refuse_in_production():
    if current_app.config["HERALD_ENV"] == "production":
        raise click.ClickException("demo accounts are refused in production mode (HERALD_ENV=production)")


def seed_demo_data(print_fn=click.echo) -> dict[str, str]:
    """Create the demo company (idempotent) and return the demo accounts' fresh passwords."""
    from app.accounts import services as accounts
    from app.accounts.models import User
    from app.org import services as org

    _refuse_in_production()
    rng = random.Random(42)  # the same people every time
    depts = {name: org.get_or_create_department(name) for name in DEMO_DEPARTMENTS}
    locs = {name: org.get_or_create_location(name, tz) for name, tz in DEMO_LOCATIONS}
    passwords = {}
    for handle, name, roles, dept, loc in DEMO_ACCOUNTS:
        email = f"{handle}@{DEMO_DOMAIN}"
        user = accounts.get_user_by_email(email)
        if user is None:
            user = accounts.create_user(
                email, name, roles=roles, department=depts[dept], location=locs[loc],
                status="active", is_demo=True,
            )  # fmt: skip
        password = secrets.token_urlsafe(9)
        accounts.set_password(user, password)
        passwords[email] = password
    created = 0
    for i in range(DEMO_EMPLOYEES):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        dept = DEMO_DEPARTMENTS[i % len(DEMO_DEPARTMENTS)]
        loc_name, _tz = DEMO_LOCATIONS[rng.randrange(len(DEMO_LOCATIONS))]
        email = f"{first}.{last}.{i + 1}@{DEMO_DOMAIN}".lower()
        if accounts.get_user_by_email(email) is None:
            accounts.create_user(
                email, f"{first} {last}", department=depts[dept], location=locs[loc_name],
                status="active", is_demo=True,
            )  # fmt: skip
            created += 1
    total = db.session.scalar(select(func.count()).select_from(User))
    admin = accounts.get_user_by_email(f"admin@{DEMO_DOMAIN}")
    people = db.session.scalars(
        select(User).where(User.email.like(f"%@{DEMO_DOMAIN}"), User.email.not_like("admin@%")).order_by(User.id)
    ).all()
    print_fn(f"Demo company ready: {total} people, {len(depts)} departments, {len(locs)} locations.")
    for seeder in current_app.extensions.get("herald_demo_seeders", []):
        seeder(admin, people, print_fn)
    return passwords


@click.command("seed-demo")
@with_appcontext
def seed_demo():
    """Create (or refresh) the demo company and print the demo sign-ins."""
    with write_intent():
        passwords = seed_demo_data()
        db.session.commit()
    _print_credentials(passwords)


def _print_credentials(passwords: dict[str, str]) -> None:
    click.echo("Demo sign-ins (passwords are new each time this runs):")
    for email, password in passwords.items():
        click.echo(f"  {email:32} {password}")


@click.command("serve")
@click.option("--host", default=lambda: os.environ.get("HERALD_HOST", "127.0.0.1"), show_default="127.0.0.1")
@click.option("--port", default=lambda: int(os.environ.get("HERALD_PORT", "5000")), show_default="5000")
@click.option("--workers", default=lambda: os.cpu_count() or 2, show_default="CPU cores")
@click.option("--no-tasks", is_flag=True, help="Do not start a task consumer (one runs elsewhere).")
@with_appcontext
def serve(host, port, workers, no_tasks):
    """Migrate the database, seed the demo company on first run, start gunicorn and the task consumer."""
    from flask_migrate import upgrade

    from app.accounts.models import User

    upgrade()
    with write_intent():
        empty = db.session.scalar(select(func.count()).select_from(User)) == 0
        if empty and current_app.config["HERALD_ENV"] != "production":
            _print_credentials(seed_demo_data())
            db.session.commit()
    db.session.remove()
    env = os.environ.copy()
    env.setdefault("HERALD_BASE_URL", f"http://{host}:{port}")  # links in e-mails point here
    # Web workers only spool clicks; the ingester writes them (app/tracking/clicks.py::Flusher).
    procs = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "ingest-clicks"], env=env)]  # noqa: S603
    if not no_tasks:
        procs.append(subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "huey.bin.huey_consumer", "app.worker.huey", "-w", "2", "-k", "thread"],
            env=env,
        ))  # fmt: skip
    procs.append(subprocess.Popen([  # noqa: S603
        sys.executable, "-m", "gunicorn", "-c", "python:app.gunicorn_conf", "--workers", str(workers),
        "--threads", "4", "--bind", f"{host}:{port}", "--access-logfile", "-", "wsgi:app",
    ], env=env))  # fmt: skip
    click.echo(f"Herald is running on http://{host}:{port}/ (Ctrl+C stops it)")

    def stop(*_args):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(proc.poll() is None for proc in procs):
            try:
                procs[-1].wait(timeout=1)
            except subprocess.TimeoutExpired:
                continue
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    sys.exit(0)


commands = [seed_demo, serve, backup, restore]
