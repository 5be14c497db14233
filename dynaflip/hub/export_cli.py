"""``dynaflip-export``: a training checkpoint (or run folder) -> a standalone encoder folder, optionally pushed.

    dynaflip-export RUN_DIR_OR_CHECKPOINT OUT_DIR [--name NAME] [--license apache-2.0]
                    [--evaluation results.json|results.md] [--push org/repo [--private]]

The folder holds ``model.safetensors``, ``config.json`` and the model card ``README.md``; load it with
``dynaflip.load(OUT_DIR)`` (or ``dynaflip.load("hf-hub:org/repo")`` once pushed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from dynaflip.errors import USER_ERRORS

from .card import DEFAULT_LICENSE
from .export import export_checkpoint
from .hf import HF_PREFIX
from .push import push_folder
from .verify import verify_export_folder

PROG = "dynaflip-export"


EXAMPLES = """\
The folder holds model.safetensors, config.json and the model card README.md; load it with
dynaflip.load(OUT_DIR), or dynaflip.load("hf-hub:org/repo") once pushed.

Examples:
  dynaflip-export runs/tiny-cpu exports/tiny-cpu                              # latest checkpoint of a run
  dynaflip-export runs/tiny-cpu/checkpoints/step-300 exports/tiny --evaluation results/probe/tiny/results.json
  dynaflip-export runs/vitb14-dinov2 exports/vitb14 --name dynaflip-vitb14 --push my-org/dynaflip-vitb14
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0].replace("``", ""),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", metavar="RUN_DIR_OR_CHECKPOINT", help="a run folder (latest checkpoint) or one")
    parser.add_argument("out_dir", metavar="OUT_DIR", help="the export folder to write")
    parser.add_argument("--name", help="the model's name in the card (default: the pushed repo's name)")
    parser.add_argument(
        "--license", default=DEFAULT_LICENSE, help=f"licence of the weights (default {DEFAULT_LICENSE})"
    )
    parser.add_argument("--evaluation", type=Path, help="results (.json, or .md/.txt as is) for the card")
    parser.add_argument("--push", metavar="ORG/REPO", help="upload the folder to this Hugging Face model repository")
    parser.add_argument("--private", action="store_true", help="create the repository as private (with --push)")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.private and not args.push:
        parser.error("--private needs --push")
    try:
        folder = export_checkpoint(args.source, args.out_dir, extra=_card_fields(args))
        verify_export_folder(folder, require_card=True)
        print(f"exported {folder}")
        if args.push:
            commit_url = push_folder(folder, args.push, private=args.private)
            print(f"pushed {folder} to {HF_PREFIX}{args.push}: {commit_url}")
    except (*USER_ERRORS, ValueError, yaml.YAMLError) as error:  # others (a bug, an OOM) keep their traceback
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    except KeyError as error:
        print(f"{PROG}: error: {args.source}: the checkpoint's config.yaml lacks the key {error}", file=sys.stderr)
        return 1
    return 0


def _card_fields(args: argparse.Namespace) -> dict[str, Any]:
    """What the exporter adds to config.json (and so to the card): name, licence, evaluation, load name."""
    fields: dict[str, Any] = {"license": args.license}
    name = args.name or (args.push.rsplit("/", 1)[-1] if args.push else None)
    if name:
        fields["name"] = name
    if args.push:
        fields["load_name"] = f"{HF_PREFIX}{args.push}"
    if args.evaluation is not None:
        fields["evaluation"] = _read_evaluation(args.evaluation)
    return fields


def _read_evaluation(path: Path) -> Any:
    text = path.read_text()
    if path.suffix.lower() != ".json":
        return text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"--evaluation {path}: not valid JSON ({error})") from None


if __name__ == "__main__":
    sys.exit(main())
