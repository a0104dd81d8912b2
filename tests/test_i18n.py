"""The Polish translation: locale selection, completeness of the catalog, and a current .mo file."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, ngettext

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "app" / "translations"
PO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.mo"

TABS_PL = ("Aktualności", "Ranking", "Nagrody", "Ankiety", "Profil")
TABS_EN = ("Feed", "Leaderboard", "Rewards", "Surveys", "Me")


def _read_po():
    with PO.open("rb") as f:
        return read_po(f, locale="pl")


def _tabbar(html: str) -> str:
    match = re.search(r'<nav class="tabbar".*?</nav>', html, re.DOTALL)
    assert match, "no tab bar on the page"
    return match.group(0)


@pytest.mark.parametrize("accept_language", ["pl", "pl-PL,pl;q=0.9,en;q=0.5"])
def test_anonymous_visitor_asking_for_polish_gets_a_polish_sign_in_page(client, accept_language):
    response = client.get("/login", headers={"Accept-Language": accept_language})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="pl">' in html
    assert "<h1>Zaloguj się do Heralda</h1>" in html
    assert "Nie pamiętasz hasła?" in html
    assert "Sign in to Herald" not in html


def test_anonymous_visitor_without_polish_gets_english(client):
    html = client.get("/login", headers={"Accept-Language": "de, en;q=0.5"}).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Sign in to Herald</h1>" in html


def test_user_with_polish_profile_sees_a_polish_tab_bar(client, factory, auth):
    auth.login(factory.user("ola@example.com", "Ola Nowak", locale="pl"))
    html = client.get("/feed", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="pl">' in html
    assert "Cześć, Ola" in html
    nav = _tabbar(html)
    for label in TABS_PL:
        assert f"<span>{label}</span>" in nav
    for label in TABS_EN:
        assert f"<span>{label}</span>" not in nav


def test_polish_plurals_use_three_forms(app):
    expected = {1: "1 osoba", 2: "2 osoby", 4: "4 osoby", 5: "5 osób", 12: "12 osób", 22: "22 osoby", 25: "25 osób"}
    with app.test_request_context(), force_locale("pl"):
        got = {n: ngettext("%(num)d person", "%(num)d people", n) for n in expected}
    assert got == expected


def test_po_catalog_is_complete_and_nothing_is_fuzzy():
    catalog = _read_po()
    assert catalog.num_plurals == 3
    assert not catalog.fuzzy
    messages = [m for m in catalog if m.id]
    assert messages
    untranslated = [m.id for m in messages if not all(m.string if m.pluralizable else (m.string,))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    wrong_plurals = [m.id for m in messages if m.pluralizable and len(m.string) != catalog.num_plurals]
    assert untranslated == []
    assert fuzzy == []
    assert wrong_plurals == []


def test_translations_keep_their_placeholders():
    catalog = _read_po()
    problems = [(m.id, str(err)) for m in catalog if m.id for err in m.check(catalog)]
    assert problems == []


def test_po_catalog_has_every_string_in_the_source():
    """The .po is up to date with the code: run the three commands at the top of babel.cfg if this fails."""
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    in_source = {msg for _, _, msg, _, _ in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords)}
    in_po = {m.id for m in _read_po() if m.id}
    assert sorted(map(str, in_source - in_po)) == []


def test_compiled_mo_matches_the_po():
    """Git keeps no mtimes, so compile the .po in memory and compare what each catalog says."""
    fresh = BytesIO()
    write_mo(fresh, _read_po())
    fresh.seek(0)
    compiled = read_mo(fresh)
    with MO.open("rb") as f:
        committed = read_mo(f)

    def messages(catalog):
        def frozen(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return {frozen(m.id): frozen(m.string) for m in catalog if m.id}

    assert messages(committed) == messages(compiled), "run: pybabel compile -d app/translations"
    assert committed.plural_forms == compiled.plural_forms
