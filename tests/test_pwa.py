"""Manifest, service worker and the shell's navigation."""

from __future__ import annotations


def test_manifest_has_what_chromium_needs_to_install(client):
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    data = response.get_json()
    for key in ("name", "short_name", "description", "start_url", "scope", "theme_color", "background_color"):
        assert data[key]
    assert data["display"] == "standalone"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in data["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in data["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_service_worker_is_served_from_the_root_with_a_versioned_precache(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    assert "__VERSION__" not in body and "__PRECACHE__" not in body
    assert '"/offline"' in body and "/static/css/app.css" in body
    assert "caches.delete" in body  # old versions are cleaned on activate
    for url in ("/offline", "/static/css/app.css", "/static/vendor/htmx-2.0.11/htmx.min.js"):
        assert client.get(url).status_code == 200


def test_offline_page_is_public_and_friendly(client):
    response = client.get("/offline")
    assert response.status_code == 200
    assert "You are offline" in response.get_data(as_text=True)


def test_htmx_is_vendored_with_its_licence(client):
    from pathlib import Path

    vendor = Path(__file__).resolve().parent.parent / "static" / "vendor" / "htmx-2.0.11"
    assert (vendor / "LICENSE").read_text().strip()
    assert "htmx" in (vendor / "htmx.min.js").read_text()[:2000]


def test_tab_bar_for_each_role(client, auth, users):
    auth.login(users["employee"])
    page = client.get("/feed").get_data(as_text=True)
    for label in ("Feed", "Leaderboard", "Rewards", "Surveys", "Me"):
        assert f"<span>{label}</span>" in page
    assert "<span>Admin</span>" not in page and "<span>HR</span>" not in page
    assert 'aria-current="page"' in page
    auth.login(users["admin"])
    assert "<span>Admin</span>" in client.get("/feed").get_data(as_text=True)
    auth.login(users["hr"])
    assert "<span>HR</span>" in client.get("/feed").get_data(as_text=True)


def test_empty_states_explain_what_comes(client, auth, users):
    auth.login(users["employee"])
    assert "Nothing to share yet" in client.get("/feed").get_data(as_text=True)
    assert "No rewards yet" in client.get("/rewards").get_data(as_text=True)
    assert "No surveys for you right now" in client.get("/surveys").get_data(as_text=True)


def test_not_found_page_is_friendly(client):
    response = client.get("/definitely/not/here")
    assert response.status_code == 404
    assert "We could not find that page." in response.get_data(as_text=True)


def test_polish_is_chosen_from_the_browser_for_visitors_and_from_the_profile_for_people(client):
    # The catalogue may not translate every string yet; the locale selection itself must work.
    response = client.get("/login", headers={"Accept-Language": "pl-PL,pl;q=0.9"})
    assert '<html lang="pl">' in response.get_data(as_text=True)


def test_unexpected_errors_get_the_friendly_500_page(database_url):
    from app import create_app
    from tests.conftest import TEST_CONFIG

    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": database_url})

    @app.route("/boom")
    def boom():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "Something went wrong on our side" in body and "kaboom" not in body
