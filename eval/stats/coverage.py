"""How often the paired bootstrap interval of a difference in success covers the true difference.

Runs ``studies`` simulated studies (:mod:`.simulate`: two encoders, correlated per-episode outcomes, a known
true difference), computes the 95 % interval of each study's difference paired on the shared episodes and
unpaired, and prints the coverage and the mean widths. Example:

  python -m dynaflip.eval.stats.coverage --studies 200 --design nested crossed
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import numpy as np

from .engine import EpisodeBootstrap
from .episodes import CROSSED, NESTED
from .simulate import SPLIT, simulate_study


@dataclass(frozen=True)
class Coverage:
    design: str
    studies: int
    paired_coverage: float
    unpaired_coverage: float
    paired_width: float  # mean width of the 95 % intervals, in success-rate units
    unpaired_width: float
    narrower_when_paired: float  # fraction of studies whose paired interval is narrower than the unpaired one


def coverage_study(
    *,
    studies: int = 200,
    replicates: int = 1000,
    seed: int = 0,
    design: str = NESTED,
    seeds: int = 3,
    episodes: int = 25,
    difference: float = 0.1,
    second_rates: tuple[float, ...] = (0.4, 0.55, 0.7),
) -> Coverage:
    rng = np.random.default_rng(seed)
    covered = {True: 0, False: 0}
    widths: dict[bool, list[float]] = {True: [], False: []}
    for study_index in range(studies):
        study = simulate_study(
            rng, second_rates=second_rates, difference=difference, seeds=seeds, episodes=episodes, design=design
        )
        engine = EpisodeBootstrap(replicates=replicates, seed=seed + study_index)
        for paired in (True, False):
            interval = engine.compare(study.first, study.second, [SPLIT], paired=paired).difference
            covered[paired] += int(interval.low <= study.true_difference <= interval.high)
            widths[paired].append(interval.width)
    return Coverage(
        design=design,
        studies=studies,
        paired_coverage=covered[True] / studies,
        unpaired_coverage=covered[False] / studies,
        paired_width=float(np.mean(widths[True])),
        unpaired_width=float(np.mean(widths[False])),
        narrower_when_paired=float(np.mean(np.array(widths[True]) < np.array(widths[False]))),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynaflip.eval.stats.coverage",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--replicates", type=int, default=1000, help="bootstrap resamples per study")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--design", nargs="+", choices=[NESTED, CROSSED], default=[NESTED, CROSSED])
    parser.add_argument("--seeds", type=int, default=3, help="BC seeds per task")
    parser.add_argument("--episodes", type=int, default=25, help="episodes per task and BC seed")
    parser.add_argument("--difference", type=float, default=0.1, help="true difference in success rate")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of text")
    args = parser.parse_args(argv)
    for design in args.design:
        result = coverage_study(
            studies=args.studies,
            replicates=args.replicates,
            seed=args.seed,
            design=design,
            seeds=args.seeds,
            episodes=args.episodes,
            difference=args.difference,
        )
        if args.json:
            print(json.dumps(asdict(result)))
            continue
        print(
            f"{design}: {result.studies} studies (3 tasks x {args.seeds} seeds x {args.episodes} episodes, true "
            f"difference {args.difference:+.3f}): coverage of 95 % intervals paired {result.paired_coverage:.3f}, "
            f"unpaired {result.unpaired_coverage:.3f}; mean width paired {result.paired_width:.3f}, unpaired "
            f"{result.unpaired_width:.3f} (x{result.unpaired_width / result.paired_width:.2f}); paired narrower in "
            f"{result.narrower_when_paired:.0%} of studies"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
