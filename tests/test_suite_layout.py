"""How the test suite is laid out: shared builders live in tests/helpers.py, no test module imports another.

A builder imported from a test module drags that module's tests into the importer's
namespace and ties two specs together; ``tests/helpers.py`` (and ``tests/browser/helpers.py``)
or a fixture in ``conftest.py`` is where shared test code goes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


def _module_name(path: Path) -> str:
    """``tests/browser/test_pwa.py`` -> ``tests.browser.test_pwa``."""
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def suite_modules() -> set[str]:
    """Every test module of the suite, by dotted name."""
    return {_module_name(path) for path in TESTS.rglob("test_*.py")}


def imported_test_modules(source: str, module: str, known: set[str]) -> list[str]:
    """The test modules in ``known`` that ``source`` (the code of ``module``) imports, or imports from."""
    package = module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: a module beside this one, or an alias of ``from . import``
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # ``from tests import <module>`` names the module in its alias, ``from <module> import y`` in its base.
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.extend(name for name in names if name in known and name != module)
    return found


# Written as templates so that grepping the suite for such imports finds none in this file.
CAUGHT = [
    "from tests.{content} import make_post",
    "from .{sharing} import share",
    "from . import {sharing}",
    "from tests import {rewards}",
    "import tests.{rewards}",
    "def build():\n    from tests.{content} import make_post\n    return make_post",
]


@pytest.mark.parametrize("template", CAUGHT)
def test_the_check_catches_every_way_of_importing_a_test_module(template):
    source = template.format(content="test_content", sharing="test_sharing", rewards="test_rewards")
    known = {"tests.test_content", "tests.test_sharing", "tests.test_rewards"}
    assert imported_test_modules(source, "tests.test_gamification", known) != []


def test_the_check_lets_helpers_and_fixtures_through():
    known = {"tests.test_content", "tests.test_sharing"}
    source = "from tests.helpers import make_post\nfrom .helpers import sign_in\nfrom tests.conftest import Auth\n"
    assert imported_test_modules(source, "tests.browser.test_share_flow", known) == []


def test_no_test_module_imports_from_another_test_module():
    """Shared builders belong in tests/helpers.py or a fixture (CONVENTIONS.md rule 16)."""
    known = suite_modules()
    offenders = {}
    for path in sorted(TESTS.rglob("*.py")):
        module = _module_name(path)
        imported = imported_test_modules(path.read_text(encoding="utf-8"), module, known)
        if imported:
            offenders[str(path.relative_to(ROOT))] = sorted(set(imported))
    assert offenders == {}, "move these builders to tests/helpers.py: " + repr(offenders)
