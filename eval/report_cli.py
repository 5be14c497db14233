"""``dynaflip-report``: compare encoders from their results.json files (probe and policy evaluations).

Examples:
  dynaflip-report outputs/probe outputs/policy --out outputs/report
  dynaflip-report outputs/*/results.json --out outputs/report --baseline dinov2 --latency
  dynaflip-report outputs --out outputs/report --latency --device cuda     # times on the CPU and the GPU

RESULTS are results.json files or folders searched recursively for them. Encoders are grouped by their
weights identity (one probe and one policy result each). Writes report.md, report.json, id_vs_ood.png and
ood_gain.png to --out. --latency loads every encoder from the spec its results record and times its
forward at batch 1 and 32 on this machine.

Policy intervals come from the rollouts.jsonl beside each policy results.json: a hierarchical bootstrap
over BC seeds and episodes (tasks fixed unless --resample-tasks), paired across encoders on the shared
episodes, with mean, IQM, probability of improvement and the smallest detectable difference (80 % power).
Encoders with spec oracle:state and blind are the instrument's calibration rows (ceiling and floor), never
the baseline. Without a rollouts.jsonl, the intervals recorded in results.json are shown and the report says so.
"""

from __future__ import annotations

import argparse
import sys

from dynaflip.errors import USER_ERRORS

PROG = "dynaflip-report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="results.json files or folders containing them")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--baseline", default=None, help="encoder to compare against (label, name, spec or identity)")
    parser.add_argument("--latency", action="store_true", help="time each encoder's forward at batch 1 and 32")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N] to time on the GPU too (default: cpu)")
    parser.add_argument("--latency-runs", type=int, default=5, help="timed runs per batch size (median reported)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples of the policy episodes")
    parser.add_argument(
        "--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (results are deterministic)"
    )
    parser.add_argument(
        "--resample-tasks",
        action="store_true",
        help="also resample tasks (the tasks as a sample of a population of tasks; needs >= 5 tasks)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from dynaflip.sim.backend import import_torch_first

    import_torch_first()
    from .report import build_report
    from .stats import EpisodeBootstrap

    try:
        bootstrap = EpisodeBootstrap(
            replicates=args.resamples, seed=args.bootstrap_seed, over_tasks=args.resample_tasks
        )
        report = build_report(
            args.results,
            out_dir=args.out,
            baseline=args.baseline,
            latency=args.latency,
            device=args.device,
            latency_runs=args.latency_runs,
            bootstrap=bootstrap,
        )
    except (*USER_ERRORS, ValueError) as error:  # the project's errors and bad result files; others keep a traceback
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    if report.get("latency_note"):
        print(f"{PROG}: note: {report['latency_note']}", file=sys.stderr)
    for label, entry in report.get("latency", {}).items():
        if "error" in entry:
            print(f"{PROG}: warning: no latency for {label}: {entry['error']}", file=sys.stderr)
    labels = ", ".join(entry["label"] for entry in report["encoders"])
    for label, note in report["policy"]["notes"].items():
        print(f"{PROG}: note: {label}: {note}", file=sys.stderr)
    print(f"{PROG}: {len(report['encoders'])} encoders ({labels}), baseline {report['baseline']}: {args.out}/report.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
