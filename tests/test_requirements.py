"""The project's declared Python agrees with its pinned packages (mypy checks the code for that Python)."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib

from packaging.specifiers import SpecifierSet

from tests.helpers import ROOT


def _lowest_python(requires: str) -> str:
    """The lowest version a `>=X.Y` requirement allows."""
    match = re.search(r">=\s*(\d+\.\d+)", requires)
    assert match, f"requires-python {requires!r} names no lowest version"
    return match.group(1)


def test_every_pinned_package_installs_on_the_lowest_python_the_project_declares():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    lowest = _lowest_python(project["project"]["requires-python"])
    assert project["tool"]["mypy"]["python_version"] == lowest  # mypy checks the code for that Python
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    assert len(pinned) >= 10
    refusing = {}
    for name in pinned:
        needs = importlib.metadata.metadata(name).get("Requires-Python") or ""
        if needs and lowest not in SpecifierSet(needs):
            refusing[name] = needs
    assert not refusing, f"requires-python allows {lowest}, but these packages need: {refusing}"
