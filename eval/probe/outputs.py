"""The files of one encoder's probe run: ``results.json``, ``results.md``, ``probes.png`` and ``episodes.json``
(the per-episode sums :mod:`dynaflip-report <.sums>` pairs encoders on)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dynaflip.io import atomic_write_text

from ..results import write_results
from .plot import plot_probes
from .report import results_markdown
from .runner import ProbeRun
from .sums import EPISODES_NAME


def write_probe_outputs(folder: str | Path, *, encoder: dict[str, Any], run: ProbeRun, title: str) -> Path:
    """Write the four files (each atomically) into ``folder``; ``encoder`` is ``encoder_summary(...)``."""
    folder = Path(folder)
    if run.sums is not None:
        run.sums.write(folder / EPISODES_NAME)
    write_results(
        folder / "results.json", kind="probe", encoder=encoder, config=run.config, rows=run.rows, timing=run.timing
    )
    markdown = results_markdown(encoder=encoder, rows=run.rows, config=run.config, timing=run.timing)
    atomic_write_text(folder / "results.md", markdown)
    intervals = run.config["intervals"]
    n = f"n = {intervals['test_episodes']} test episodes x {intervals['seeds']} probe seed(s)"
    tasks = run.config.get("dataset", {}).get("tasks") or []
    plot_probes(
        run.rows,
        folder / "probes.png",
        title=title,
        subtitle=n if not intervals["none"] else n + ", no intervals",
        chance=1.0 / len(tasks) if tasks else None,
    )
    return folder
