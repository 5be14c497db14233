"""Docs that run: every ```python block of README.md is a complete program, run verbatim in a fresh process
(offline, in an empty folder, with its own dynaflip cache)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of each ```python block of README.md."""
    text = (REPO / "README.md").read_text()
    return [(text.count("\n", 0, match.start()) + 1, match.group(1)) for match in BLOCK.finditer(text)]


def test_the_readme_has_python_blocks():
    assert python_blocks(), "README.md: no ```python block found (the pattern or the README changed)"


@pytest.mark.parametrize(
    ("line", "code"), python_blocks(), ids=lambda value: f"line-{value}" if isinstance(value, int) else ""
)
def test_each_readme_python_block_runs_verbatim(line, code, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DYNAFLIP_CACHE": str(tmp_path / "cache")}
    script = tmp_path / f"readme_line_{line}.py"
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"README.md line {line}:\n{done.stderr[-3000:]}"
