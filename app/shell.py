"""The page shell, rendered once per combination and reused.

Every page carries the same asset links and the same tab bar, and rendering them on every
request (gettext, url_for, a macro per tab) is repeated work. Their output depends only on the
language, whether someone is signed in, the current page, the viewer's roles,
balance and number of surveys waiting, and the script root, so ``shell_head`` and ``shell_nav`` cache them by exactly
those values: a different value is a different entry, nothing is ever invalidated,
and no entry holds anything but what those values determine.
"""

from __future__ import annotations

from functools import lru_cache

from flask import Flask, get_template_attribute, request
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import Markup

from app import admin_nav
from app.admin_nav import area_of

TEMPLATE = "_shell.html"


def install(app: Flask) -> None:
    """Make ``shell_head()`` and ``shell_nav(balance)`` template globals with a cache per app."""

    @lru_cache(maxsize=64)
    def head(locale: str, authenticated: bool, script_root: str) -> Markup:
        return get_template_attribute(TEMPLATE, "head_assets")(authenticated)

    @lru_cache(maxsize=8192)
    def nav(locale: str, endpoint: str, roles: tuple[str, ...], balance: int, waiting: int, script_root: str) -> Markup:
        # An admin page lights up the Admin (or HR) item, never an employee tab.
        return get_template_attribute(TEMPLATE, "nav")(endpoint, roles, balance, waiting, area_of(endpoint))

    def shell_head() -> Markup:
        """Meta tags, the manifest, icons, styles and scripts (no inline script: CSP)."""
        return head(str(get_locale()), bool(current_user and current_user.is_authenticated), request.script_root)

    def shell_nav(balance: int, waiting: int = 0) -> Markup:
        """The tab bar for the signed-in viewer: their balance on the Me tab, surveys waiting on Surveys."""
        roles = tuple(sorted(current_user.roles))
        return nav(str(get_locale()), request.endpoint or "", roles, int(balance or 0), min(int(waiting or 0), 9),
                   request.script_root)  # fmt: skip

    app.jinja_env.globals.update(shell_head=shell_head, shell_nav=shell_nav)
    admin_nav.install(app)
    from app import caches

    caches.register(app, "page shell", lambda: (head.cache_clear(), nav.cache_clear()))
