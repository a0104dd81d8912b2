"""Admin screens: people, departments, locations and the employee CSV import."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from wtforms import SelectChoice

from app import audit, exports
from app.accounts import services as accounts
from app.accounts.models import STATUSES, User, UserRole
from app.admin import bp
from app.admin.forms import ImportForm, NameForm, UserForm
from app.extensions import db, htmx
from app.forms import ConfirmForm
from app.inputs import arg_int
from app.org import services as org
from app.org.models import Department, Location
from app.security import roles_required

admin_required = roles_required("admin")
PER_PAGE = 25


def get_or_404(model, obj_id: int):
    """The row with this id, or the 404 page."""
    obj = db.session.get(model, obj_id)
    if obj is None:
        abort(404)
    return obj


def _org_choices(form: UserForm) -> None:
    none = [SelectChoice(0, _("— none —"))]
    form.department_id.choices = none + [
        SelectChoice(d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.name))
    ]
    form.location_id.choices = none + [
        SelectChoice(loc.id, loc.name) for loc in db.session.scalars(select(Location).order_by(Location.name))
    ]


@bp.route("/")
@admin_required
def dashboard():
    """Admin home: head counts and shortcuts."""
    counts = dict(db.session.execute(select(User.status, func.count()).group_by(User.status)).all())
    return render_template(
        "admin/dashboard.html",
        counts={s: counts.get(s, 0) for s in STATUSES},
        departments=db.session.scalar(select(func.count()).select_from(Department)),
        locations=db.session.scalar(select(func.count()).select_from(Location)),
    )


@bp.route("/users")
@admin_required
def users():
    """Everyone, searchable and filterable, a page at a time."""
    q = request.args.get("q", "").strip()
    status = request.args.get("status", "")
    department = arg_int("department")
    role = request.args.get("role", "")
    query = select(User).order_by(User.display_name, User.id)
    if q:
        like = f"%{q.lower()}%"
        query = query.where(or_(func.lower(User.display_name).like(like), User.email.like(like)))
    if status in STATUSES:
        query = query.where(User.status == status)
    if department:
        query = query.where(User.department_id == department)
    if role:
        query = query.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    page = db.paginate(query, per_page=PER_PAGE, error_out=False)
    departments = db.session.scalars(select(Department).order_by(Department.name)).all()
    template = "admin/_user_rows.html" if htmx else "admin/users.html"
    return render_template(
        template,
        page=page,
        q=q,
        status=status,
        department=department,
        role=role,
        departments=departments,
        statuses=STATUSES,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def new_user():
    """Add one person and (by default) e-mail them an invitation."""
    form = UserForm()
    _org_choices(form)
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                form.email.data,
                form.display_name.data,
                roles=form.roles.data,
                department=db.session.get(Department, form.department_id.data),
                location=db.session.get(Location, form.location_id.data),
                timezone=form.timezone.data.strip() or None,
            )
        except accounts.AccountError as exc:
            form.email.errors.append(str(exc))
        else:
            audit.record("user.create", current_user, user)
            if form.send_invite.data:
                accounts.send_invite(user, current_user)
            db.session.commit()
            flash(
                _("%(name)s is added and invited.", name=user.display_name)
                if form.send_invite.data
                else _("%(name)s is added.", name=user.display_name),
                "success",
            )
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form, user=None), (400 if request.method == "POST" else 200)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def edit_user(user_id: int):
    """Change a person's name, team, location, time zone and roles."""
    user = get_or_404(User, user_id)
    form = UserForm(
        obj=user,
        data=None
        if request.method == "POST"
        else {
            "department_id": user.department_id or 0,
            "location_id": user.location_id or 0,
            "roles": sorted(user.roles),
        },
    )
    _org_choices(form)
    del form.send_invite
    if form.validate_on_submit():
        email = accounts.normalize_email(form.email.data)
        other = accounts.get_user_by_email(email)
        timezone = form.timezone.data.strip() or user.timezone
        if other is not None and other.id != user.id:
            form.email.errors.append(_("An account with this e-mail already exists."))
        elif not accounts.valid_timezone(timezone):
            form.timezone.errors.append(_("Unknown time zone."))
        elif user.id == current_user.id and "admin" not in form.roles.data:
            form.roles.errors.append(_("You cannot remove your own admin role."))
        else:
            user.email = email
            user.display_name = form.display_name.data.strip()
            user.department = db.session.get(Department, form.department_id.data)
            user.location = db.session.get(Location, form.location_id.data)
            user.timezone = timezone
            user.set_roles(form.roles.data)
            audit.record("user.update", current_user, user, roles=sorted(form.roles.data))
            db.session.commit()
            flash(_("Changes to %(name)s are saved.", name=user.display_name), "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    return render_template("admin/user_form.html", form=form, user=user, action_form=ConfirmForm()), (
        400 if request.method == "POST" else 200
    )


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@admin_required
def deactivate_user(user_id: int):
    """Stop a person from signing in; their history stays."""
    user = get_or_404(User, user_id)
    return _change_account(user, accounts.deactivate, _("%(name)s is deactivated.", name=user.display_name))


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@admin_required
def reactivate_user(user_id: int):
    """Let a deactivated person sign in again."""
    user = get_or_404(User, user_id)
    if user.status != "deactivated":
        return redirect(url_for("admin.edit_user", user_id=user.id))
    return _change_account(user, accounts.reactivate, _("%(name)s can sign in again.", name=user.display_name))


def _change_account(user: User, change, done: str):
    """Apply ``change`` (deactivate, reactivate) and say how it went on the person's page."""
    try:
        change(user, current_user)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@admin_required
def resend_invite(user_id: int):
    """E-mail a fresh invitation to someone who has not activated yet."""
    user = get_or_404(User, user_id)
    if user.status != "invited":
        flash(_("%(name)s has already activated their account.", name=user.display_name), "info")
    else:
        accounts.send_invite(user, current_user)
        audit.record("user.invite", current_user, user)
        db.session.commit()
        flash(_("A new invitation is on its way to %(email)s.", email=user.email), "success")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/import", methods=["GET", "POST"])
@admin_required
def import_users():
    """Import employees from CSV: every row is checked first; one bad row imports nothing."""
    form = ImportForm()
    report = None
    if form.validate_on_submit():
        report = org.import_employees(
            form.file.data.read(org.MAX_IMPORT_BYTES + 1), current_user, send_invites=form.send_invites.data
        )
        if report.ok:
            db.session.commit()
            flash(
                _(
                    "Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.",
                    created=len(report.created),
                    updated=len(report.updated),
                    unchanged=report.unchanged,
                ),
                "success",
            )
        else:
            db.session.rollback()
    status = 400 if request.method == "POST" and (report is None or not report.ok) else 200
    return render_template("admin/import.html", form=form, report=report), status


@bp.route("/users/import/template.csv")
@admin_required
def import_template():
    """A sample CSV with the expected columns."""
    return exports.csv_response(
        "herald-employees.csv",
        ["email", "name", "department", "location", "roles", "timezone"],
        [
            ["ada@example.com", "Ada Lovelace", "Engineering", "Warsaw", "employee", "Europe/Warsaw"],
            ["grace@example.com", "Grace Hopper", "Marketing", "New York", "employee;admin", "America/New_York"],
        ],
    )


def _org_page(model, endpoint: str, title: str):
    form = NameForm()
    if form.validate_on_submit():
        extra = {}
        if model is Location:
            tz = form.timezone.data.strip() or "UTC"
            if not accounts.valid_timezone(tz):
                form.timezone.errors.append(_("Unknown time zone."))
                return _render_org(model, form, title, endpoint), 400
            extra["timezone"] = tz
        try:
            obj = org.create_named(model, form.name.data, **extra)
        except org.OrgError as exc:
            form.name.errors.append(str(exc))
        else:
            audit.record(f"{model.__tablename__}.create", current_user, obj)
            db.session.commit()
            flash(_("“%(name)s” is added.", name=obj.name), "success")
            return redirect(url_for(endpoint))
    return _render_org(model, form, title, endpoint), (400 if request.method == "POST" else 200)


def _render_org(model, form, title, endpoint):
    column = User.department_id if model is Department else User.location_id
    rows = db.session.execute(
        select(model, func.count(User.id)).outerjoin(User, column == model.id).group_by(model.id).order_by(model.name)
    ).all()
    return render_template(
        "admin/org_list.html",
        rows=rows,
        form=form,
        title=title,
        endpoint=endpoint,
        kind=model.__tablename__,
        action_form=ConfirmForm(),
    )


def _org_update(model, obj_id: int, endpoint: str):
    obj = get_or_404(model, obj_id)
    form = NameForm()
    if form.validate_on_submit():
        try:
            org.rename(obj, form.name.data)
            if model is Location and form.timezone.data.strip():
                if not accounts.valid_timezone(form.timezone.data.strip()):
                    raise org.OrgError(_("Unknown time zone."))
                obj.timezone = form.timezone.data.strip()
        except org.OrgError as exc:
            db.session.rollback()
            flash(str(exc), "error")
        else:
            audit.record(f"{model.__tablename__}.update", current_user, obj)
            db.session.commit()
            flash(_("Saved."), "success")
    return redirect(url_for(endpoint))


def _org_delete(model, obj_id: int, endpoint: str):
    obj = get_or_404(model, obj_id)
    try:
        org.delete_named(obj)
    except org.OrgError as exc:
        flash(str(exc), "error")
    else:
        audit.record(f"{model.__tablename__}.delete", current_user, obj)
        db.session.commit()
        flash(_("Deleted."), "success")
    return redirect(url_for(endpoint))


@bp.route("/departments", methods=["GET", "POST"])
@admin_required
def departments():
    """List and add departments."""
    return _org_page(Department, "admin.departments", _("Departments"))


@bp.route("/departments/<int:obj_id>", methods=["POST"])
@admin_required
def update_department(obj_id: int):
    """Rename a department."""
    return _org_update(Department, obj_id, "admin.departments")


@bp.route("/departments/<int:obj_id>/delete", methods=["POST"])
@admin_required
def delete_department(obj_id: int):
    """Delete an empty department."""
    return _org_delete(Department, obj_id, "admin.departments")


@bp.route("/locations", methods=["GET", "POST"])
@admin_required
def locations():
    """List and add locations."""
    return _org_page(Location, "admin.locations", _("Locations"))


@bp.route("/locations/<int:obj_id>", methods=["POST"])
@admin_required
def update_location(obj_id: int):
    """Rename a location or change its time zone."""
    return _org_update(Location, obj_id, "admin.locations")


@bp.route("/locations/<int:obj_id>/delete", methods=["POST"])
@admin_required
def delete_location(obj_id: int):
    """Delete an empty location."""
    return _org_delete(Location, obj_id, "admin.locations")
