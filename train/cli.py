"""``dynaflip-train``: DynaFLIP pre-training from extraction shards to an exported image encoder.

Settings: layered YAML recipes (--config, repeatable) and trailing key=value overrides, validated (an
unknown key or a wrong type is an error naming the key).

Examples:
  dynaflip-train --config configs/train/tiny-cpu.yaml data.shards='[{path: data/metaworld}]'
  dynaflip-train --config configs/train/tiny-cpu.yaml --resume auto            # continue the run
  torchrun --nproc_per_node 2 -m dynaflip.train.cli --config configs/train/tiny-cpu.yaml runtime.cpu=true
  dynaflip-train --config configs/train/vitb14-dinov2.yaml runtime.deepspeed_config=configs/deepspeed/zero2.json
  sbatch slurm/train.sbatch configs/train/vitb14-dinov2.yaml                    # multi-node, see slurm/

At start it prints what really runs, read from the live objects: world size and process group, the backend
(single process, DDP or DeepSpeed ZeRO-n), precision, batch per process x processes x accumulation = global
batch, and negatives per anchor. DeepSpeed also runs on the CPU (gloo), e.g. under torchrun.

Resuming (--resume auto) checks that the checkpoint was written by the same run: a changed config key that
alters the model, objective, data or schedule, or a changed shard manifest, is refused naming the keys
(e.g. optim.lr: 0.001 -> 0.5); --resume-allow optim.lr accepts it. Logging keys never count.

Outputs in runtime.output_dir: config.yaml (the first start's; each later start adds config-history/config.N.yaml),
train.log, metrics.jsonl, tensorboard/, checkpoints/step-N/, export/ (model.safetensors + config.json + README.md,
the format dynaflip.load reads).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import ConfigError, load_config
from dynaflip.errors import USER_ERRORS

from .config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynaflip-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], help="recipe YAML (repeatable, later wins)")
    parser.add_argument("--resume", default=None, help="'auto' (latest checkpoint of the run) or a checkpoint folder")
    parser.add_argument(
        "--resume-allow",
        default="",
        metavar="KEY,...",
        help="config keys (or prefixes, e.g. optim) a resume may change; any other change from the checkpoint's "
        "config or shards is refused",
    )
    parser.add_argument(
        "--per-job-dir",
        action="store_true",
        help="in a Slurm job, train into runtime.output_dir/job-<SLURM_JOB_ID> unless runtime.output_dir is "
        "given on the command line (slurm/train.sbatch passes it)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. optim.lr=3e-4")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_with_overrides(build_parser(), argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("accelerate", "deepspeed", "torch.distributed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = load_config(TrainConfig, files=args.config, overrides=args.overrides)
    except ConfigError as error:
        print(f"dynaflip-train: config error: {error}", file=sys.stderr)
        return 2
    explicit_dir = any(item.split("=", 1)[0].strip() == "runtime.output_dir" for item in args.overrides)
    if args.per_job_dir and "SLURM_JOB_ID" in os.environ and not explicit_dir:
        # One folder per job: a requeued job (same id) resumes it, a new submission never continues another's.
        config.runtime.output_dir = f"{config.runtime.output_dir.rstrip('/')}/job-{os.environ['SLURM_JOB_ID']}"
    if args.print_config:
        import yaml

        from dynaflip.config import to_dict

        print(yaml.safe_dump(to_dict(config), sort_keys=False))
        return 0
    from .launch import LaunchError, check_slurm_launch

    try:
        check_slurm_launch()  # before anything slow is built: an srun-less start would otherwise wait forever
    except LaunchError as error:
        print(f"dynaflip-train: error: {error}", file=sys.stderr)
        return 2
    from .trainer import train

    try:
        allow = tuple(key.strip() for key in args.resume_allow.split(",") if key.strip())
        run_dir = train(config, resume=args.resume, resume_allow=allow)
    except (*USER_ERRORS, ValueError) as error:  # ValueError: the recipe's checks; others keep their traceback
        print(f"dynaflip-train: error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
