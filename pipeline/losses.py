"""loss_curves.png: every logged loss term of every training run in a folder, one panel per term.

python -m dynaflip.pipeline.losses outputs/demo/runs --out outputs/demo/report
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

TERMS = ("loss", "align", "tcn", "act")


def read_curves(runs: Path) -> dict[str, list[dict]]:
    """Run name -> its metrics.jsonl rows by step (a resumed run's repeated steps keep the last row)."""
    curves = {}
    for metrics in sorted(runs.glob("*/metrics.jsonl")):
        rows = {}
        for line in metrics.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                rows[row["step"]] = row
        curves[metrics.parent.name] = [rows[step] for step in sorted(rows)]
    return curves


def plot_losses(runs: Path, out: Path) -> Path:
    """Write ``out/loss_curves.png``; a term no run logged is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = read_curves(runs)
    terms = [term for term in TERMS if any(term in row for rows in curves.values() for row in rows)] or ["loss"]
    figure, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.4), squeeze=False)
    for axis, term in zip(axes[0], terms, strict=True):
        for name, rows in curves.items():
            points = [(row["step"], row[term]) for row in rows if term in row]
            if points:
                axis.plot(*zip(*points, strict=True), label=name, linewidth=1.2)
        axis.set_title(term)
        axis.set_xlabel("optimizer step")
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    figure.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "loss_curves.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dynaflip.pipeline.losses", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("runs", help="folder of training runs (each with metrics.jsonl)")
    parser.add_argument("--out", required=True, help="folder for loss_curves.png")
    args = parser.parse_args(argv)
    print(plot_losses(Path(args.runs), Path(args.out)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
