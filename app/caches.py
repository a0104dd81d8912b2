"""Every per-process cache Herald keeps, registered by name in one registry per app, with one ``clear()``.

Herald caches what depends only on its key (rendered card parts, the page shell, URLs,
captions) and a few things for a short time (point rules, badge definitions, member
counts, link codes). Each feature registers its caches in its ``init_app``; tests and
admin actions that need a clean slate call ``clear(app)`` instead of reaching into
each module. Entries keyed by everything they depend on never need clearing in
production: the registry exists so nothing is forgotten when something must be.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app


class CacheRegistry:
    """Named ``clear`` functions of the app's caches."""

    def __init__(self) -> None:
        self._clearers: dict[str, Callable[[], None]] = {}

    def register(self, name: str, clear: Callable[[], None]) -> None:
        """Add a cache (a second registration under the same name replaces the first)."""
        self._clearers[name] = clear

    @property
    def names(self) -> list[str]:
        """The registered caches, in registration order."""
        return list(self._clearers)

    def clear(self) -> None:
        """Empty every registered cache."""
        for clear in self._clearers.values():
            clear()


def init_app(app: Flask) -> None:
    """Give ``app`` its (empty) registry; features fill it."""
    app.extensions["herald_caches"] = CacheRegistry()


def register(app: Flask, name: str, clear: Callable[[], None]) -> None:
    """Register one of ``app``'s caches by the function that empties it."""
    app.extensions["herald_caches"].register(name, clear)


def clear(app: Flask | None = None) -> None:
    """Empty every cache of ``app`` (the current app by default)."""
    (app or current_app).extensions["herald_caches"].clear()
