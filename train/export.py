"""Export at the end of training (and on demand through ``dynaflip-export``)."""

from __future__ import annotations

from pathlib import Path

from dynaflip.hub.export import export_checkpoint

EXPORT_DIR = "export"


def export_run(run_dir: Path) -> Path:
    """Export the latest checkpoint of ``run_dir`` into ``run_dir/export``."""
    return export_checkpoint(run_dir, run_dir / EXPORT_DIR)
