"""Herald: a self-hosted, gamified employee advocacy platform."""

from __future__ import annotations

import logging
from functools import lru_cache

from flask import Flask, has_request_context, jsonify, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from app import inputs
from app.config import KNOWN_ENVS, create_private_file, load_config, production_problems, sqlite_path
from app.extensions import babel, compress, csrf, db, htmx, login_manager, migrate

log = logging.getLogger("herald")


class InsecureConfiguration(RuntimeError):
    """Production mode refused to start; the message lists every reason."""


def create_app(config: dict | None = None) -> Flask:
    """Build a Herald app. ``config`` overrides settings read from ``HERALD_*`` variables."""
    settings = load_config(config)
    if settings["HERALD_ENV"] not in KNOWN_ENVS:
        raise InsecureConfiguration(
            f"HERALD_ENV must be one of {', '.join(KNOWN_ENVS)} (got {settings['HERALD_ENV']!r}); Herald will not guess"
        )
    database = sqlite_path(settings["SQLALCHEMY_DATABASE_URI"])
    if database is not None:
        create_private_file(database)  # before SQLite creates it with the umask's mode
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.update(settings)
    # "//" in a path is a 404, not a redirect to a merged path (no surprises near /r/ links).
    app.url_map.merge_slashes = False
    inputs.install(app)  # before any route: the bounded <int:...> converter, control characters stripped
    if app.config["HERALD_ENV"] == "production":
        problems = production_problems(app.config)
        if problems:
            raise InsecureConfiguration("Herald refuses to start in production mode:\n  - " + "\n  - ".join(problems))
    register_extensions(app)
    register_features(app)
    register_errorhandlers(app)
    register_commands(app)
    register_hooks(app)
    register_middleware(app)
    return app


def register_middleware(app: Flask) -> None:
    """Proxy headers in front of everything (the features' own layers, such as the redirect, sit behind)."""
    if app.config["TRUST_PROXY"]:
        n = app.config["TRUST_PROXY"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)


def _select_locale():
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        return current_user.locale
    return request.accept_languages.best_match(["en", "pl"]) or "en"


def _select_timezone():
    if not has_request_context():
        return None
    if current_user and current_user.is_authenticated:
        return current_user.timezone
    return None


def register_extensions(app: Flask) -> None:
    """Bind the extensions to ``app`` and tune the database engine."""
    from app.database import configure_engine, install_read_only_views
    from app.tasks import sync_immediate_mode

    compress.init_app(app)  # first, so its after-request hook runs last, on the finished body
    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    htmx.init_app(app)
    from app import caches, ratelimit

    caches.init_app(app)
    ratelimit.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, timezone_selector=_select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"

    with app.app_context():
        configure_engine(db.engine)
        install_read_only_views(app, db)
        sync_immediate_mode()
    _install_fast_gettext(app)
    _install_cached_url_for(app)
    from app import shell

    shell.install(app)

    from app import models  # noqa: F401  (every model registered before migrations compare)

    @login_manager.user_loader
    def load_user(user_id: str):

        try:
            pk, version = (int(part) for part in user_id.split(":", 1))
        except ValueError:
            return None
        row = db.session.execute(_signed_in_user_statement(), {"user_id": pk}).first()
        if row is None or row[0].session_version != version:
            return None
        from flask import g

        from app.accounts.models import ROLES, SIGNED_IN_ROLES

        user = row[0]
        user.__dict__[SIGNED_IN_ROLES] = frozenset(role for role, held in zip(ROLES, row[2:], strict=True) if held)
        g.herald_balance_at_sign_in = row[1] or 0  # the Me tab's balance on pages that change no points
        return user


@lru_cache(maxsize=1)
def _signed_in_user_statement():
    """The query that loads the signed-in user on every request, built once (only the id varies).

    One round trip: the balance every page shows on the Me tab, and one EXISTS per role
    (cheaper to load than the role rows as objects); department and location load only
    when a page asks for them.
    """
    from sqlalchemy import and_, bindparam, exists, select
    from sqlalchemy.orm import lazyload

    from app.accounts.models import ROLES, User, UserRole
    from app.gamification.models import PointBalance

    holds = [exists().where(and_(UserRole.user_id == User.id, UserRole.role == role)) for role in ROLES]
    return (
        select(User, PointBalance.balance, *holds)
        .outerjoin(PointBalance, PointBalance.user_id == User.id)
        .where(User.id == bindparam("user_id"))
        .options(lazyload(User.role_rows), lazyload(User.department), lazyload(User.location))
    )


def request_translations():
    """This request's translations, looked up once (Flask-Babel looks them up again for every string)."""
    from flask import g
    from flask_babel import get_translations

    if not has_request_context():
        return get_translations()
    translations = g.get("_herald_translations")
    if translations is None:
        translations = g._herald_translations = get_translations()
    return translations


def forget_request_translations() -> None:
    """Drop the cached translations (before rendering in another locale, e.g. an e-mail)."""
    from flask import g

    if has_request_context():
        g.pop("_herald_translations", None)


def _install_fast_gettext(app: Flask) -> None:
    """Flask-Babel's template callables, minus the per-string lookup (Jinja does the formatting)."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: request_translations().ugettext(s),
        ngettext=lambda s, p, n: request_translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: request_translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: request_translations().unpgettext(c, s, p, n),
    )


def _install_cached_url_for(app: Flask) -> None:
    """Templates' ``url_for`` with a per-process cache.

    A page builds twenty-odd URLs (assets, tabs, filters) through Werkzeug's router, and
    they are the same on every request. The key holds everything a relative
    URL depends on: endpoint, values, the script root and, for ``.name``, the blueprint.
    External URLs (``_external`` and other ``_`` options) are built every time.
    """
    build = app.url_for

    @lru_cache(maxsize=8192)
    def cached(script_root: str, blueprint: str | None, endpoint: str, values: tuple) -> str:
        return build(endpoint, **dict(values))

    def url_for(endpoint: str, **values) -> str:
        if not has_request_context() or any(name.startswith("_") for name in values):
            return build(endpoint, **values)
        key = tuple(sorted(values.items()))
        try:
            hash(key)
        except TypeError:  # a list of values: not worth caching
            return build(endpoint, **values)
        blueprint = request.blueprint if endpoint.startswith(".") else None
        return cached(request.script_root, blueprint, endpoint, key)

    app.jinja_env.globals["url_for"] = url_for
    from app import caches

    caches.register(app, "url_for", cached.cache_clear)


# The features, in the order they register: each package's ``init_app(app)`` mounts its
# blueprints and adds its listeners, tasks, commands and demo data. Importing a package
# registers nothing (tests/test_structure.py checks). Privacy comes last: it reads them all.
FEATURES = (
    "app.main",
    "app.accounts",
    "app.org",
    "app.admin",
    "app.content",
    "app.tracking",
    "app.gamification",
    "rewards",
    "surveys",
    "app.notifications",
    "app.analytics",
    "app.privacy",
)


def register_features(app: Flask) -> None:
    """Let every feature in ``FEATURES`` register itself."""
    from importlib import import_module

    for name in FEATURES:
        import_module(name).init_app(app)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def register_errorhandlers(app: Flask) -> None:
    """Friendly error pages (HTML or JSON by ``Accept``); the session rolls back first."""

    messages = {
        400: lambda: _("That request did not look right. Please try again."),
        403: lambda: _("This page is not available to your account."),
        404: lambda: _("We could not find that page."),
        405: lambda: _("That action is not allowed here."),
        410: lambda: _("That link has expired."),
        413: lambda: _("That file is too large."),
        429: lambda: _("Too many attempts. Wait a minute and try again."),
        500: lambda: _("Something went wrong on our side. We are looking into it."),
    }

    def render_error(code: int):
        db.session.rollback()
        message = messages.get(code, messages[500])()
        if _wants_json():
            return jsonify(error=message, status=code), code
        return render_template("errors/error.html", code=code, message=message), code

    def handle_http(exc: HTTPException):
        if exc.code is None or exc.code < 400:
            return exc
        return render_error(exc.code)

    def handle_unexpected(exc: Exception):
        log.exception("unhandled error")
        return render_error(500)

    from flask_wtf.csrf import CSRFError

    def handle_csrf(exc: CSRFError):
        db.session.rollback()
        message = _("Your session expired. Reload the page and try again.")
        if _wants_json():
            return jsonify(error=message, status=400), 400
        return render_template("errors/error.html", code=400, message=message), 400

    app.register_error_handler(CSRFError, handle_csrf)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(Exception, handle_unexpected)


def register_commands(app: Flask) -> None:
    """Add the core's ``flask`` commands (seed-demo, serve, backup, restore; features add their own)."""
    from app.cli import commands

    for command in commands:
        app.cli.add_command(command)


def register_hooks(app: Flask) -> None:
    """Security headers and per-request template context."""
    from app.security import set_security_headers

    app.after_request(set_security_headers)

    @app.context_processor
    def inject_shell():
        from flask_babel import get_locale

        return {"html_lang": str(get_locale() or "en"), "herald_env": app.config["HERALD_ENV"]}
