"""``flask --app wsgi <command>``: seed-demo, create-user, import-users, serve, backup, restore."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import subprocess
import sys
from pathlib import Path

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
# Feature packages (rewards, surveys) add their demo data here, so the core never imports them.
DEMO_SEEDERS: list = []


def register_demo_seeder(seeder) -> None:
    """Have ``seed-demo`` call ``seeder(admin, people, print_fn)`` after the core demo data exists."""
    if seeder not in DEMO_SEEDERS:
        DEMO_SEEDERS.append(seeder)


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
    from app.content.demo import seed_demo_content

    admin = accounts.get_user_by_email(f"admin@{DEMO_DOMAIN}")
    people = db.session.scalars(
        select(User).where(User.email.like(f"%@{DEMO_DOMAIN}"), User.email.not_like("admin@%")).order_by(User.id)
    ).all()
    posts = seed_demo_content(admin, people)
    for seeder in DEMO_SEEDERS:
        seeder(admin, people, print_fn)
    print_fn(f"Demo company ready: {total} people, {len(depts)} departments, {len(locs)} locations.")
    if posts:
        print_fn(f"Demo content: {posts} posts with shares, clicks, comments and a campaign.")
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
    env.setdefault("HERALD_CLICK_INGEST", "process")  # web workers only spool; the ingester below writes
    procs = []
    if env["HERALD_CLICK_INGEST"] == "process":
        procs.append(subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "ingest-clicks"], env=env))  # noqa: S603
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


def lower_priority(niceness: int) -> None:
    """Lower this process's CPU priority, so that web workers win when both want the CPU.

    Linux's autogroup scheduling shares the CPU between sessions first and applies a plain
    ``nice`` only inside a session. Started in a session of its own (a service manager, a
    benchmark, ``setsid``), the ingester would get half the CPU whatever its nice value (seen:
    70 % of the CPU against two busy web workers), so its session's autogroup is lowered too.
    Sharing a session with the web workers (``serve``), the plain nice is enough, and the
    group's priority is left alone: it is theirs as well. The default is the lowest, 19: at
    10 the ingester still took 12-27 % of the CPU from two saturated web workers and set the
    redirect's p99 (22-31 ms at 16 connections against 6-14 ms at 19). Under a sustained full
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
    """Move spooled clicks into the database continuously (with HERALD_CLICK_INGEST=process)."""
    import time

    if niceness:
        lower_priority(niceness)
    from app.content.clicks import Flusher

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


commands = [seed_demo, create_user, import_users, serve, ingest_clicks, backup, restore]
