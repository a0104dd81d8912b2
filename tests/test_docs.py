"""The README stays a five-minute read whose commands and links work."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

QUICK_START = (
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e . && .venv/bin/flask --app wsgi serve",
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]' && .venv/bin/python -m pytest",
)
# Markdown links and images, and the src/href of inline HTML.
LINK_RE = re.compile(r"\]\(([^)\s]+)\)|\b(?:src|href)=\"([^\"]+)\"")


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown, re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_readme_is_short():
    lines = _text().count("\n")
    assert lines < 300, f"README.md has {lines} lines; move detail to docs/ (limit: under 300)"


def test_quick_start_commands_appear_exactly_once():
    text = _text()
    for command in QUICK_START:
        assert text.count(command) == 1, command


def test_relative_links_point_at_files_that_exist():
    targets = [a or b for a, b in LINK_RE.findall(_text())]
    relative = [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#|^//", t)]
    assert relative, "expected the README to link to files in the repository"
    for target in relative:
        path, _, anchor = target.partition("#")
        file = (README.parent / path).resolve()
        assert file.exists(), f"README.md links to {target}, which does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file.read_text(encoding="utf-8")), f"no heading for #{anchor} in {path}"
