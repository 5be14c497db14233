"""``dynaflip-policy``: policy transfer of a frozen encoder in Meta-World (behaviour cloning + rollouts).

The paper's protocol (= Lift3D's): frozen encoder + proprioception (ee xyz + gripper) -> MLP [256, 256, 256],
behaviour cloning on 25 scripted-expert demos per task for 100 epochs, 'corner' camera at 224 px, 25
rollouts of at most 200 steps per task, success if the environment reports success at any step; here
also over several BC seeds and under render-time OOD shifts (camera, lighting, table, distractors,
occlusion). Settings: layered YAML (--config, repeatable) and trailing key=value overrides.

Calibration rows: --encoder oracle:state feeds the BC Meta-World's goal-observable state instead of image
features (the ceiling), --encoder blind proprioception only (the floor); neither renders a frame.
`calibrate` keeps the candidate tasks where the oracle reaches calibration.oracle_min success and a random
encoder stays at or below calibration.random_max (configs/eval/calibrate-*.yaml; calibration.md says how).

Examples:
  dynaflip-policy run --encoder runs/tiny-cpu/export --out outputs/policy/tiny --config configs/eval/policy-quick.yaml
  dynaflip-policy run --encoder timm:vit_small_patch14_dinov2.lvd142m --out outputs/policy/dinov2 \\
      --config configs/eval/policy-full.yaml runtime.workers=16 runtime.device=cuda
  dynaflip-policy run --encoder 'random:vit_tiny_patch16_224?img_size=64&patch_size=8&depth=2' --out /tmp/p \\
      --config configs/eval/policy-quick.yaml render.image_size=64 demos.per_task=5 rollout.episodes=5
  dynaflip-policy run --encoder oracle:state --out outputs/policy/oracle --config configs/eval/policy-quick.yaml
  dynaflip-policy calibrate --config configs/eval/calibrate-quick.yaml --out outputs/calibration/quick

Outputs in --out: results.json (read by dynaflip-report), results.md, policy.png, rollouts.jsonl, run.json,
policies/. Demos and demo features are cached in runtime.cache_dir (default $DYNAFLIP_CACHE/policy or
~/.cache/dynaflip/policy) and reused by every later run and encoder. calibrate writes calibration.json,
calibration.md and runs/<role>/<task>/ (reused by a rerun with the same settings).
"""

from __future__ import annotations

import argparse
import sys

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import ConfigError
from dynaflip.errors import USER_ERRORS

from .stats.intervals import interval_text

PROG = "dynaflip-policy"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="train BC policies on a frozen encoder and roll them out")
    run.add_argument(
        "--encoder",
        required=True,
        help="encoder spec: a path, dynaflip:, timm:, random:, hf:, open_clip:, or the calibration rows "
        "oracle:state and blind",
    )
    calibrate = commands.add_parser(
        "calibrate", help="keep the tasks where the oracle succeeds and a random encoder does not"
    )
    for command in (run, calibrate):
        command.add_argument("--out", required=True, help="output folder")
        command.add_argument("--config", action="append", default=[], help="YAML config (repeatable, later wins)")
        command.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        command.add_argument(
            "--no-progress", action="store_true", help="no progress bars (same as runtime.progress=false)"
        )
        command.add_argument(
            "overrides", nargs="*", metavar="key=value", help="config overrides, e.g. rollout.episodes=5"
        )
    return parser


def _error(message: str, code: int = 2) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__


def _summary(run, encoder, config) -> str:
    means = {row.split: row for row in run.rows if row.group == "mean"}
    success = ", ".join(
        f"{split} {interval_text(row.mean, row.low, row.high, row.interval, scale=100, digits=1)}"
        for split, row in means.items()
    )
    timing = run.timing
    return "\n".join(
        [
            f"{PROG}: {encoder.name}: {len(config.tasks)} tasks x {len(config.splits)} splits x "
            f"{len(config.bc.seeds)} seeds x {config.rollout.episodes} episodes",
            f"mean success % (95 % interval): {success}",
            f"wall time {timing['seconds']:.1f} s (demos {timing['demo_seconds']:.1f} s, features "
            f"{timing['feature_seconds']:.1f} s, training {timing['train_seconds']:.1f} s, rollouts "
            f"{timing['rollout_seconds']:.1f} s); {int(timing['rollouts'])} rollouts at "
            f"{timing['rollouts_per_second']:.2f} rollouts/s ({timing['steps_per_second']:.1f} steps/s, "
            f"{config.runtime.workers} workers); demos recorded {int(timing['demos_recorded'])}, cached "
            f"{int(timing['demos_cached'])}; features computed {int(timing['features_computed'])}, cached "
            f"{int(timing['features_cached'])}",
            f"results: {run.out_dir / 'results.json'}, {run.out_dir / 'results.md'}, {run.out_dir / 'policy.png'}",
        ]
    )


def _calibrate(config, out: str) -> int:
    from .policy.calibrate import calibrate

    try:
        result = calibrate(config, out_dir=out, log=lambda line: print(f"{PROG}: {line}", flush=True))
    except (*USER_ERRORS, ValueError) as error:  # anything else (a CUDA out-of-memory) keeps its traceback
        return _error(_first_line(error))
    pending = [verdict.task for verdict in result.verdicts if verdict.status == "pending"]
    print(
        f"{PROG}: calibrated {len(result.verdicts)} candidate tasks in {result.seconds:.0f} s; kept "
        f"{len(result.kept)}: {', '.join(result.kept) or 'none'}"
        + (f"; pending {', '.join(pending)}" if pending else "")
    )
    print(f"evidence: {result.out_dir / 'calibration.md'}, {result.out_dir / 'calibration.json'}")
    if result.errors:
        return _error(f"{len(result.errors)} runs failed: {'; '.join(result.errors)}", code=1)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_with_overrides(build_parser(), argv)
    from dynaflip.sim.backend import import_torch_first

    import_torch_first()  # before anything can create a MuJoCo GL context (workers=1 renders here)
    from dynaflip.config import load_config, to_dict

    from .encoders import EncoderSpecError
    from .policy import PolicyConfig, run_policy_eval, validate
    from .policy.features import open_encoder

    overrides = [*args.overrides, *(["runtime.progress=false"] if args.no_progress else [])]
    try:
        config = validate(load_config(PolicyConfig, files=args.config, overrides=overrides))
    except ConfigError as error:
        return _error(f"config: {error}")
    except ValueError as error:
        return _error(f"config: {error}")
    if args.print_config:
        import yaml

        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    if args.command == "calibrate":
        return _calibrate(config, args.out)
    try:
        encoder = open_encoder(args.encoder, last_n=config.features.last_n)
    except EncoderSpecError as error:
        return _error(str(error))
    try:
        run = run_policy_eval(config, encoder=encoder, out_dir=args.out)
    except (*USER_ERRORS, ValueError) as error:  # anything else (a CUDA out-of-memory) keeps its traceback
        return _error(_first_line(error))
    print(_summary(run, encoder, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
