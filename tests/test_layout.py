"""The three stages import only the ``dynaflip`` library, never each other (the layout users were promised)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = ("extract", "train", "eval")


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved against ``package``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_imports_no_other_stage(stage):
    others = [other for other in STAGES if other != stage]
    forbidden = tuple(f"dynaflip.{other}" for other in others) + tuple(others)
    offenders = []
    for path in sorted((REPO / stage).rglob("*.py")):
        relative = path.relative_to(REPO).with_suffix("")
        package = ".".join(("dynaflip", *relative.parts[:-1]))
        for name in _imported_modules(path, package):
            if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden):
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_the_checker_sees_relative_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("from ..train import cli\nfrom . import data\nimport dynaflip.eval.stats\n")
    names = _imported_modules(module, "dynaflip.extract.sources")
    assert names == {"dynaflip.extract.train", "dynaflip.extract.sources", "dynaflip.eval.stats"}
