"""Departments, locations and the all-or-nothing employee CSV import."""

from __future__ import annotations

import csv
import io
import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from app import audit, events
from app.accounts import services as accounts
from app.accounts.models import ROLES, User
from app.extensions import db
from app.inputs import strip_control
from app.org.models import Department, Location

REQUIRED_COLUMNS = ("email", "name", "department", "location", "roles")
OPTIONAL_COLUMNS = ("timezone",)
MAX_IMPORT_ROWS = 20_000
MAX_IMPORT_BYTES = 5 * 1024 * 1024
_ROLE_SPLIT = re.compile(r"[;,|\s]+")


class OrgError(ValueError):
    """A user-facing problem with an organisation change."""


def _named(model, name: str):
    """The row whose name is ``name`` ignoring case.

    SQLite's lower() folds only ASCII letters, so the exact name is matched too: a name
    with other capitals ("Ölstadt") is still found when typed the same way (it used to
    pass this check and break the UNIQUE constraint).
    """
    name = name.strip()
    return db.session.scalar(
        select(model).where(or_(model.name == name, func.lower(model.name) == name.lower())).limit(1)
    )


@contextmanager
def _unique_name(name: str):
    """Name a row in a savepoint: a name taken meanwhile (another admin, same moment) is an OrgError."""
    try:
        with db.session.begin_nested():
            yield
    except IntegrityError:
        raise OrgError(_("“%(name)s” already exists.", name=name))


def get_or_create_department(name: str) -> Department:
    """The department with this name (case-insensitive), created when missing."""
    dept = _named(Department, name)
    if dept is None:
        dept = Department(name=name.strip())
        db.session.add(dept)
        db.session.flush()
    return dept


def get_or_create_location(name: str, timezone: str = "UTC") -> Location:
    """The location with this name (case-insensitive), created when missing."""
    loc = _named(Location, name)
    if loc is None:
        loc = Location(name=name.strip(), timezone=timezone)
        db.session.add(loc)
        db.session.flush()
    return loc


def rename(obj, name: str) -> None:
    """Rename a department or location; names stay unique regardless of case."""
    name = name.strip()
    if not name:
        raise OrgError(_("Enter a name."))
    other = _named(type(obj), name)
    if other is not None and other.id != obj.id:
        raise OrgError(_("“%(name)s” already exists.", name=name))
    with _unique_name(name):
        obj.name = name


def create_named(model, name: str, **extra):
    """Create a department or location; refuse a duplicate name."""
    name = name.strip()
    if not name:
        raise OrgError(_("Enter a name."))
    if _named(model, name) is not None:
        raise OrgError(_("“%(name)s” already exists.", name=name))
    obj = model(name=name, **extra)
    with _unique_name(name):
        db.session.add(obj)
    return obj


def member_count(model, obj_id: int) -> int:
    """How many users belong to a department or location."""
    column = User.department_id if model is Department else User.location_id
    return db.session.scalar(select(func.count()).select_from(User).where(column == obj_id)) or 0


def delete_named(obj) -> None:
    """Delete an empty department or location (people must be moved first)."""
    if member_count(type(obj), obj.id):
        raise OrgError(_("Move its people elsewhere before deleting “%(name)s”.", name=obj.name))
    db.session.delete(obj)


@dataclass
class ImportRow:
    """One validated CSV row."""

    line: int
    email: str
    name: str
    department: str
    location: str
    roles: list[str]
    timezone: str | None = None


@dataclass
class ImportReport:
    """What an import did, or every reason it did nothing."""

    errors: list[tuple[int, str]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    new_departments: list[str] = field(default_factory=list)
    new_locations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_employee_csv(data: bytes) -> tuple[list[ImportRow], list[tuple[int, str]]]:
    """Parse and validate every row; return the good rows and every (line, reason) error."""
    errors: list[tuple[int, str]] = []
    if len(data) > MAX_IMPORT_BYTES:
        return [], [(0, _("The file is larger than %(mb)d MB.", mb=MAX_IMPORT_BYTES // (1024 * 1024)))]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [(0, _("The file is not UTF-8 text. Save it as “CSV UTF-8” and try again."))]
    text = strip_control(text)  # like every form value: no NUL bytes or other control characters
    try:
        dialect = csv.Sniffer().sniff(text.split("\n", 1)[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except StopIteration:
        return [], [(0, _("The file is empty."))]
    columns = [h.strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return [], [(1, _("Missing column(s): %(cols)s.", cols=", ".join(missing)))]
    index = {c: columns.index(c) for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in columns}

    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    line = 1
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) + len(errors) >= MAX_IMPORT_ROWS:
            errors.append((line, _("Too many rows; import at most %(n)d at a time.", n=MAX_IMPORT_ROWS)))
            break
        if len(record) < len(columns):
            record = record + [""] * (len(columns) - len(record))

        def cell(name: str, record=record) -> str:
            return record[index[name]].strip() if name in index else ""

        problems = []
        email = accounts.normalize_email(cell("email"))
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            problems.append(_("“%(email)s” is not a valid e-mail address.", email=cell("email")))
        if email in seen:
            problems.append(_("%(email)s also appears on line %(line)d.", email=email, line=seen[email]))
        name = cell("name")
        if not name:
            problems.append(_("The name is empty."))
        elif len(name) > 120:
            problems.append(_("The name is longer than 120 characters."))
        department, location = cell("department"), cell("location")
        if len(department) > 120 or len(location) > 120:
            problems.append(_("Department and location names are at most 120 characters."))
        roles = [r.lower() for r in _ROLE_SPLIT.split(cell("roles")) if r] or ["employee"]
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            problems.append(
                _(
                    "Unknown role(s) %(roles)s; use %(valid)s.",
                    roles=", ".join(unknown),
                    valid=", ".join(ROLES),
                )
            )
        tz = cell("timezone") or None
        if tz and not accounts.valid_timezone(tz):
            problems.append(_("Unknown time zone “%(tz)s”.", tz=tz))
        if problems:
            errors.extend((line, p) for p in problems)
        else:
            seen[email] = line
            rows.append(ImportRow(line, email, name, department, location, sorted(set(roles)), tz))
    if not rows and not errors:
        errors.append((line, _("The file has a header but no employees.")))
    return rows, errors


class _Resolver:
    """Names in an import resolved to rows once each: found (case-insensitively) or created and noted as new."""

    def __init__(self, model, create, new_names: list[str]):
        self.model, self.create, self.new_names = model, create, new_names
        self.seen: dict[str, object] = {}

    def get(self, name: str):
        """The row named ``name`` (None for an empty name)."""
        if not name:
            return None
        key = name.lower()
        if key not in self.seen:
            found = _named(self.model, name)
            if found is None:
                self.new_names.append(name)
                found = self.create(name)
            self.seen[key] = found
        return self.seen[key]


def import_employees(data: bytes, actor: User | None = None, *, send_invites: bool = False) -> ImportReport:
    """Import employees from CSV bytes: all rows or none.

    Existing people (matched by e-mail) are updated, never duplicated. Missing
    departments and locations are created. The caller commits when
    ``report.ok`` and rolls back otherwise.
    """
    report = ImportReport()
    rows, errors = parse_employee_csv(data)
    if errors:
        report.errors = errors
        return report
    existing = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_([r.email for r in rows])))}
    default_tz = current_app.config["DEFAULT_TIMEZONE"]
    depts = _Resolver(Department, get_or_create_department, report.new_departments)
    locs = _Resolver(Location, lambda name: get_or_create_location(name, default_tz), report.new_locations)
    invitees = []
    for row in rows:
        dept, loc = depts.get(row.department), locs.get(row.location)
        user = existing.get(row.email)
        if user is None:
            user = accounts.create_user(
                row.email, row.name, roles=row.roles, department=dept, location=loc, timezone=row.timezone
            )
            report.created.append(row.email)
            invitees.append(user)
            continue
        before = (user.display_name, user.department_id, user.location_id, user.roles, user.timezone)
        user.display_name = row.name
        user.department = dept
        user.location = loc
        user.set_roles(row.roles)
        if row.timezone:
            user.timezone = row.timezone
        db.session.flush()
        after = (user.display_name, user.department_id, user.location_id, user.roles, user.timezone)
        if before != after:
            report.updated.append(row.email)
        else:
            report.unchanged += 1
    if send_invites:
        for user in invitees:
            accounts.send_invite(user, actor)
    audit.record(
        "users.import",
        actor,
        created=len(report.created),
        updated=len(report.updated),
        unchanged=report.unchanged,
    )
    events.employees_imported.send(current_app._get_current_object(), report=report)
    return report
