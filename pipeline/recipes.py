"""The shipped recipes (the ``configs/`` folder, installed as the package data of ``dynaflip.configs``) and how a
config path the user gives is found.

A path is taken as written when that file exists (relative to the working directory); otherwise a path under
``configs/`` (``configs/demo-ci.yaml``) or a recipe name (``demo-ci.yaml``, ``study/ci.yaml``, ``demo-ci``) is
looked up among the shipped recipes, so ``dynaflip-demo`` and ``dynaflip-study`` run from an installed wheel in
any folder. The same lookup applies to the training recipe and the policy config a pipeline names.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path, PurePosixPath

from dynaflip.config import ConfigError

PACKAGE = "dynaflip.configs"
PREFIX = "configs"  # how the recipes name each other: paths relative to a checkout's root


def shipped_recipes() -> Path:
    """The folder of the shipped recipes (a checkout's configs/ in an editable install)."""
    return Path(str(importlib.resources.files(PACKAGE)))


def find_recipe(path: str | Path) -> str:
    """``path`` itself when that file exists, else the shipped recipe it names (an absolute path); a
    ConfigError naming both places otherwise."""
    if Path(path).expanduser().is_file():
        return str(path)
    parts = PurePosixPath(str(path)).parts
    relative = PurePosixPath(*parts[1:]) if len(parts) > 1 and parts[0] == PREFIX else PurePosixPath(str(path))
    root = shipped_recipes()
    candidates = [relative]
    if relative.name and not relative.suffix:
        candidates.append(relative.with_name(relative.name + ".yaml"))  # a recipe's name: demo-ci, study/ci
    for candidate in candidates:
        if not candidate.is_absolute() and ".." not in candidate.parts and (root / candidate).is_file():
            return str(root / candidate)
    known = ", ".join(sorted(str(p.relative_to(root)) for p in root.glob("**/*.yaml")))
    raise ConfigError(f"{path}: config file not found here nor among the shipped recipes ({known})")
