"""The smallest difference in policy success an evaluation design detects at 80 % power, from its results
(the rows: :mod:`.detectable`).

MDE = (z_0.975 + z_0.8) x SE = 2.80 x SE (two-sided test at 5 %), SE the standard deviation of the bootstrap
replicates of the difference in mean success (:mod:`dynaflip.eval.stats.power`). For each encoder against the
baseline, SE is that of their paired difference (on the shared (task, BC seed, episode) keys); for the
calibration runs, that of ceiling minus floor; when there is nothing to compare, sqrt(2) x the SE of each
evaluation's mean (another encoder of the same variance, unpaired: an upper bound for a paired design).

Example (the quick suite's results, one folder per encoder with results.json and rollouts.jsonl):

  python -m dynaflip.eval.report.power outputs/policy --baseline image-only
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from ..stats import EpisodeBootstrap
from ..stats.power import mde_factor
from ..stats.resample import DEFAULT_REPLICATES, DEFAULT_SEED
from .collect import collect, default_baseline, find_baseline
from .detectable import power_rows, power_table
from .policy import policy_statistics

PROG = "python -m dynaflip.eval.report.power"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="policy results.json files or folders")
    parser.add_argument(
        "--baseline", default=None, help="encoder to compare against (default: the first non-calibration)"
    )
    parser.add_argument("--resamples", type=int, default=DEFAULT_REPLICATES, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="bootstrap seed")
    parser.add_argument("--resample-tasks", action="store_true", help="treat the tasks as a sample (>= 5 tasks)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per row")
    args = parser.parse_args(argv)
    try:
        encoders = collect(args.results)
        base = find_baseline(encoders, args.baseline) if args.baseline else default_baseline(encoders)
        bootstrap = EpisodeBootstrap(replicates=args.resamples, seed=args.seed, over_tasks=args.resample_tasks)
        policy = policy_statistics(encoders, baseline=base, bootstrap=bootstrap)
    except ValueError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    for label, note in policy.notes.items():
        print(f"{PROG}: note: {label}: {note}", file=sys.stderr)
    rows = power_rows(policy)
    if not rows:
        print(f"{PROG}: error: no policy results with a usable rollouts.jsonl", file=sys.stderr)
        return 2
    if args.json:
        for row in rows:
            print(json.dumps(asdict(row)))
        return 0
    print(
        f"Minimum detectable difference in mean success at 80 % power (two-sided 5 %): MDE = "
        f"(z_0.975 + z_0.8) x SE = {mde_factor():.2f} x SE; SE from {bootstrap.describe()}."
    )
    print("\n".join(power_table(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
