"""What was tested is what installs: constraints.txt pins every dependency at the version installed here."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

CONSTRAINTS = Path(__file__).resolve().parent.parent / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt pins exact versions only: {line!r}"
            pins[canonicalize_name(name)] = version
    return pins


def _dependency_closure() -> dict[str, str]:
    """Every distribution herald[test] pulls in (recursively), with the installed version."""
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [("herald", frozenset({"test", "postgres", "redis"}))]
    while todo:
        name, extras = todo.pop()
        dist = distribution(name)
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (extras or {""})):
                continue
            key = canonicalize_name(req.name)
            if key == "herald":  # herald[test] names herald[postgres,redis]: same project, its extras are above
                continue
            try:
                version = distribution(req.name).version
            except PackageNotFoundError:
                continue  # a dependency for another platform or Python
            if key not in found:
                found[key] = version
                todo.append((req.name, frozenset(req.extras)))
    return found


def test_every_installed_dependency_is_pinned_at_its_installed_version():
    pins = _pins()
    installed = _dependency_closure()
    assert "flask" in installed and "pywebpush" in installed and "pytest" in installed
    missing = sorted(set(installed) - set(pins))
    assert missing == [], "add them: bash .ci/refresh-constraints"
    different = {name: (version, pins[name]) for name, version in installed.items() if pins[name] != version}
    assert different == {}, "installed vs constraints.txt; install with -c constraints.txt or refresh the file"
