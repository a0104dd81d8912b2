"""Features plug in through ``init_app``: importing a package registers nothing, the factory lists them all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app import FEATURES
from app.extensions import db

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
from app import events
from app.tasks import huey

def receivers():
    return {name: len(signal.receivers) for name, signal in events.signals.items()}

def tasks():
    return sorted(huey._registry._registry)

before_signals, before_tasks = receivers(), tasks()
import importlib
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps({"signals": [before_signals, receivers()], "tasks": [before_tasks, tasks()]}))
"""


def test_importing_every_feature_package_registers_nothing():
    """No signal gains a receiver and no task appears until ``init_app`` runs."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *FEATURES], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout  # fmt: skip
    seen = json.loads(out)
    assert seen["signals"][0] == seen["signals"][1]
    assert seen["tasks"][0] == seen["tasks"][1]


def test_every_feature_package_has_an_init_app_and_the_factory_lists_them(app):
    from importlib import import_module

    for name in FEATURES:
        assert callable(import_module(name).init_app), name
    mounted = set(app.blueprints)
    assert {
        "main",
        "accounts",
        "admin",
        "content",
        "tracking",
        "gamification",
        "rewards",
        "surveys",
        "privacy",
    } <= mounted
    from app import events

    assert events.share.receivers and events.click.receivers  # gamification subscribed through init_app
    assert app.extensions["herald_redirects"] is not None  # tracking put the redirect in front of Flask
    seeders = [seeder.__module__ for seeder in app.extensions["herald_demo_seeders"]]
    assert seeders == ["app.content.demo", "rewards.demo", "surveys.demo", "app.analytics.demo"]
    assert {"create-user", "import-users", "ingest-clicks", "serve", "seed-demo", "backup", "restore"} <= set(
        app.cli.commands
    )


def test_every_cache_is_in_the_registry_and_one_clear_empties_them(app, client, factory, auth):
    """A page view fills the shell, URL, card and rules caches; one ``caches.clear`` empties them all."""
    from app import caches
    from app.gamification import rules

    registry = app.extensions["herald_caches"]
    assert {"url_for", "page shell", "card parts", "captions", "link codes", "sharer tokens", "point rules",
            "badges", "leaderboard members", "service worker"} <= set(registry.names)  # fmt: skip
    auth.login(factory.user("ola@example.com", "Ola Nowak"))
    assert client.get("/feed").status_code == 200
    with app.app_context():
        rules.get_rules()
    assert rules._cache  # filled by the page view
    assert app.jinja_env.globals["shell_nav"] is not None
    caches.clear(app)
    assert not rules._cache
    assert "herald.card_parts" not in app.extensions


def _balanced(fragment: str) -> bool:
    """Every element the fragment opens, it closes, in order (void elements need no end tag)."""
    from html.parser import HTMLParser

    void = {"img", "input", "br", "hr", "meta", "link", "source", "area", "base", "col", "embed", "wbr"}
    stack: list[str] = []
    ok = [True]

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag not in void:
                stack.append(tag)

        def handle_endtag(self, tag):
            if not stack or stack.pop() != tag:
                ok[0] = False

    Parser().feed(fragment)
    return ok[0] and not stack


def test_cached_card_parts_are_balanced_html(app, factory, auth, client):
    """The <article> and the share <form> open and close in the card template, not across cached parts."""
    from app.content import cards, services

    with app.test_request_context(method="POST"):
        data = services.PostData(title="Balanced", body="Body text", url="https://example.com/b", action="publish")
        post_id = services.create_post(data, None).id
        db.session.commit()
    auth.login(factory.user("ola@example.com", "Ola Nowak"))
    page = client.get("/feed").get_data(as_text=True)
    assert page.count("<article") == page.count("</article>") == 1
    with app.test_request_context():
        from app.content.models import Post

        parts = cards.card_parts(db.session.get(Post, post_id))
    for name in ("head", "share_label", "share_buttons"):
        assert _balanced(str(getattr(parts, name))), name
