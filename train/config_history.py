"""The run folder's record of its configs: ``config.yaml`` is the config the run started with and is never
overwritten; every later start (a resume, or a fresh start into the same folder) adds
``config-history/config.<n>.yaml`` (n = 2, 3, ...) headed by when it started and from which checkpoint."""

from __future__ import annotations

import re
import time
from pathlib import Path

from dynaflip.io import atomic_write_text

CONFIG_FILE = "config.yaml"
HISTORY_DIR = "config-history"
_ENTRY = re.compile(r"^config\.(\d+)\.yaml$")


def history(run_dir: Path) -> list[Path]:
    """The run's configs in start order: config.yaml, then config-history/config.2.yaml, ..."""
    first = run_dir / CONFIG_FILE
    folder = run_dir / HISTORY_DIR
    later = [p for p in folder.iterdir() if _ENTRY.match(p.name)] if folder.is_dir() else []
    later.sort(key=lambda p: int(_ENTRY.match(p.name).group(1)))
    return ([first] if first.is_file() else []) + later


def record_config(run_dir: Path, config_yaml: str, *, resumed_from: Path | None) -> Path:
    """Write this start's config (see the module doc); returns the file written."""
    first = run_dir / CONFIG_FILE
    if not first.is_file():
        atomic_write_text(first, config_yaml)
        return first
    numbers = [int(_ENTRY.match(p.name).group(1)) for p in history(run_dir)[1:]]
    number = max(numbers, default=1) + 1
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    origin = f"resumed from {resumed_from}" if resumed_from is not None else "started without resuming"
    path = run_dir / HISTORY_DIR / f"config.{number}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, f"# start {number} of this run folder, {when}, {origin}\n{config_yaml}")
    return path
