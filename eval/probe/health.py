"""``dynaflip-probe health``: the representation health of any encoder (dynaflip/health.py) on a fixed set of
frames, so a user can check a checkpoint of their own for collapse.

--data takes an extraction folder (sizes.json + shards: the first --samples samples, every stored frame of
each, a sample = one episode) or a probe dataset folder (dataset.json: the frames of --split, episodes by
task and episode seed, ordered by control step). Prints one line per encoder and, with --out, writes a JSON
file. Frames of pre-training tasks held out of training are the intended use; the evaluation tasks are not
for choosing a recipe.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dynaflip.health import HealthMetrics, health_metrics
from dynaflip.health_frames import HealthDataError, HealthFrames, is_shard_folder, read_shard_frames

COMMAND = "health"


def add_parser(commands: argparse._SubParsersAction, *, formatter_class: type[argparse.HelpFormatter]) -> None:
    """Register ``health`` on the dynaflip-probe command parser."""
    parser = commands.add_parser(
        COMMAND,
        help="effective rank, first-PC share and consecutive-frame ratio of encoders' features",
        description=__doc__,
        formatter_class=formatter_class,
    )
    parser.add_argument("--data", required=True, help="extraction folder (sizes.json) or probe dataset (dataset.json)")
    parser.add_argument("--encoder", action="append", required=True, help="encoder spec (repeatable)")
    parser.add_argument("--samples", type=int, default=24, help="extraction folder: the first N samples")
    parser.add_argument("--split", default="test-id", help="probe dataset: the split whose frames are scored")
    parser.add_argument("--last-n", type=int, default=1, help="[CLS ; mean patch] of the last n blocks")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")


def read_frames(data: str | Path, *, samples: int, split: str) -> HealthFrames:
    """The frames of an extraction folder or of one split of a probe dataset."""
    if is_shard_folder(str(data)):  # a local folder or a URL prefix (s3://, https://...)
        return read_shard_frames(str(data), samples=samples, what="--data")
    data = Path(data)
    if not (data / "dataset.json").is_file():
        raise HealthDataError(f"--data: '{data}' has neither sizes.json (extraction) nor dataset.json (probe data)")
    from .dataset import ProbeDataset

    dataset = ProbeDataset(data)
    labels = dataset.labels(split)
    episodes = np.unique(np.stack([labels["task"], labels["episode_seed"]], axis=1), axis=0, return_inverse=True)[1]
    return HealthFrames(images=dataset.images(split), episode_ids=episodes.reshape(-1), order=labels["step"])


def encoder_health(encoder, frames: HealthFrames, *, batch_size: int, device: str) -> HealthMetrics:
    """Health of one loaded encoder (:class:`~dynaflip.eval.encoders.EvalEncoder`) on ``frames``."""
    features = encoder.features(frames.images, batch_size=batch_size, device=device)
    return health_metrics(features, episode_ids=frames.episode_ids, order=frames.order)


def run(args: argparse.Namespace, *, load_encoder) -> int:
    """``load_encoder(spec, last_n=)``: the CLI's loader (one-line errors for bad specs)."""
    frames = read_frames(args.data, samples=args.samples, split=args.split)
    rows = []
    for spec in args.encoder:
        metrics = encoder_health(
            load_encoder(spec, last_n=args.last_n), frames, batch_size=args.batch_size, device=args.device
        )
        print(f"{spec}: {metrics.line()}", flush=True)
        rows.append({"encoder": spec, **metrics.to_json()})
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"data": str(args.data), "encoders": rows}, indent=2) + "\n")
    return 0
