"""README: its Layout lists every module, and every module it lists exists (a newcomer finds rooms in one guess)."""

import re

from tests.helpers import ROOT


def _layout_tree() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Layout\n") : text.index("### Where to change what")]
    return section[section.index("```\n") : section.rindex("```")]


def _listed_paths() -> set[str]:
    """Paths of the tree, rebuilt from its indentation (two spaces per level)."""
    stack: list[str] = []
    paths = set()
    for line in _layout_tree().splitlines()[1:]:
        match = re.match(r"^( *)(\S+)", line)
        if not match:
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        stack[depth:] = [name]
        paths.add("".join(stack))
    return paths


def test_the_layout_lists_every_module_and_nothing_else():
    modules = {
        str(path.relative_to(ROOT))
        for folder in ("agent", "tools", "ui", "app_pages")
        for path in (ROOT / folder).rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }
    listed = {path for path in _listed_paths() if path.endswith(".py")}
    assert modules - listed == set(), "modules missing from README's Layout"
    assert listed - modules - {"app.py"} == set(), "README's Layout lists modules that do not exist"
