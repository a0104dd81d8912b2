"""How the code is arranged, where a convention is easy to break without any other test noticing."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("app", "rewards", "surveys")


def form_reads_outside_forms(source: str) -> list[int]:
    """Line numbers where ``request.form`` is read outside a form class (a class whose name ends in "Form").

    Any use counts, not only ``request.form[...]``, ``.get(...)`` and ``.getlist(...)``:
    ``form = request.form`` followed by ``form.get(...)`` is the same hand-parsing.
    """
    found = []

    def visit(node: ast.AST, in_form: bool) -> None:
        if isinstance(node, ast.ClassDef):
            in_form = in_form or node.name.endswith("Form")
        if (
            not in_form
            and isinstance(node, ast.Attribute)
            and node.attr == "form"
            and isinstance(node.value, ast.Name)
            and node.value.id == "request"
        ):
            found.append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child, in_form)

    visit(ast.parse(source), False)
    return found


def test_the_scan_finds_hand_parsing():
    view = (
        "def view():\n"
        "    a = request.form['x']\n"
        "    b = request.form.get('y')\n"
        "    c = request.form.getlist('z')\n"
        "    form = request.form\n"
    )
    assert form_reads_outside_forms(view) == [2, 3, 4, 5]
    inside = "class RewardForm(Form):\n    class Meta:\n        def wrap(self):\n            return request.form\n"
    assert form_reads_outside_forms(inside) == []


def test_views_read_input_only_through_form_classes():
    """Every form is a Flask-WTF form class: bounds, errors beside the field and the body rules come with it."""
    offenders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for line in form_reads_outside_forms(path.read_text(encoding="utf-8")):
                offenders.append(f"{path.relative_to(ROOT)}:{line}")
    assert offenders == [], "read request.form through a form class (app.forms.Form) instead"


def test_one_stylesheet_under_40_kb():
    """Every page loads one stylesheet, small enough to block first paint briefly (Lighthouse 100 on a phone)."""
    sheets = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "static").rglob("*.css"))
    assert sheets == ["static/css/app.css"]
    size = (ROOT / "static" / "css" / "app.css").stat().st_size
    assert size < 40 * 1024, f"app.css is {size:,} bytes; the budget is 40 KB"
    linked = {
        link
        for page in (ROOT / "templates").rglob("*.html")
        for link in re.findall(r'rel="stylesheet"[^>]*href="([^"]+)"', page.read_text())
    }
    assert linked == {"{{ url_for('static', filename='css/app.css') }}"}
