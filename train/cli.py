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

Outputs in runtime.output_dir: config.yaml, train.log, metrics.jsonl, tensorboard/, checkpoints/step-N/,
export/ (model.safetensors + config.json + README.md, the format dynaflip.load reads).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from dynaflip.cli_utils import parse_with_overrides
from dynaflip.config import ConfigError, dump_yaml, load_config

from .config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynaflip-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", action="append", default=[], help="recipe YAML (repeatable, later wins)")
    parser.add_argument("--resume", default=None, help="'auto' (latest checkpoint of the run) or a checkpoint folder")
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
    if args.print_config:
        import yaml

        from dynaflip.config import to_dict

        print(yaml.safe_dump(to_dict(config), sort_keys=False))
        return 0
    from pathlib import Path

    from .trainer import train

    try:
        out = Path(config.runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        dump_yaml(config, out / "config.yaml")
        run_dir = train(config, resume=args.resume)
    except (FileNotFoundError, ValueError) as error:
        print(f"dynaflip-train: error: {error}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
